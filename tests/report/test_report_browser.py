"""report.html in a real browser (headless Chromium through selenium and Debian's
chromium-driver, which .ci/run installs): no console errors, every section present, the SVG
charts drawn with non-empty paths, the confusion matrix summing to the held-out rows."""

import json

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("selenium")

from seqc.report import browser  # noqa: E402

if browser.find(browser.CHROMIUM) is None or browser.find(browser.DRIVER) is None:
    pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)


@pytest.fixture(scope="module")
def driver():
    d = browser.open_driver()
    yield d
    d.quit()


def test_every_built_page_passes_in_chromium(report_builds, driver, tmp_path):
    for name, folder in report_builds.items():
        report = json.loads((folder / "report.json").read_text())
        shot = tmp_path / f"{name}.png"
        found = browser.check_page(driver, folder / "report.html", shot)
        classifier = report["holdout"]["kind"] == "classifier"
        assert browser.problems(found, report["holdout"]["values"] if classifier else None) \
            == [], name
        assert found["ids"] == list(browser.SECTIONS)
        sections = {c["section"] for c in found["charts"]}
        assert {"model", "training"} <= sections, name
        # A ROC curve for a binary classifier, predicted/true and residuals for a regressor.
        assert ("evaluation" in sections) == ("roc_auc" in report["holdout"] or not classifier)
        assert all(c["drawn"] >= 3 for c in found["charts"]), found["charts"]
        if classifier:
            n = len(report["holdout"]["class_names"])
            assert len(found["cells"]) == n * n
        else:
            assert found["cells"] == []
        assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000


def test_the_checks_catch_a_broken_page(driver, tmp_path, report_builds):
    """The checks can fail: a page with a script error, a missing section, an empty chart and a
    matrix cell changed is refused on each count."""
    page = (report_builds["breast_cancer_mlp"] / "report.html").read_text()
    report = json.loads((report_builds["breast_cancer_mlp"] / "report.json").read_text())
    broken = page.replace('<section id="vectors">', '<section id="gone">', 1)
    broken = broken.replace('data-count="', 'data-count="1', 1)
    broken = broken.replace("</main>", "<script>undefined_function()</script>"
                            '<section><div class="figure"><svg width="10" height="10">'
                            '<path d=""/></svg></div></section></main>')
    (tmp_path / "broken.html").write_text(broken)
    found = browser.check_page(driver, tmp_path / "broken.html")
    bad = " | ".join(browser.problems(found, report["holdout"]["values"]))
    assert "console error" in bad and "undefined_function" in bad
    assert "sections missing: ['vectors']" in bad
    assert "empty chart" in bad and "confusion matrix sums to" in bad

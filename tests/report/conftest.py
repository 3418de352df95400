"""Builds shared by the report tests: a binary classifier, a multi-class one and a regressor,
trained one or two epochs (the page's content, not the model's quality, is under test)."""

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BUILDS = {"breast_cancer_mlp": {"epochs": 2, "float16": True},
          "digits_mlp": {"epochs": 1}, "sunspots_lstm": {"epochs": 1}}


@pytest.fixture(scope="session")
def report_builds(tmp_path_factory):
    """name -> build folder, each built once per session with report.html."""
    pytest.importorskip("matplotlib")
    from seqc.pipeline import BuildOptions, build

    root = tmp_path_factory.mktemp("report_builds")
    out = {}
    for name, kw in BUILDS.items():
        folder = root / name
        build(str(EXAMPLES / f"{name}.json"),
              BuildOptions(out_dir=str(folder), verbose=0, log=None, **kw))
        out[name] = folder
    return out

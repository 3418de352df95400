"""Open a report.html in headless Chromium (selenium + Debian's chromium-driver) and check it
the way a reader would see it: the console, the sections, the charts, the confusion matrix.
Used by the browser test and by benchmarks/report_screenshots.py; not by builds.

selenium is the driver because it reads Chromium's console through the standard
`goog:loggingPrefs` capability and takes screenshots, with the system chromedriver
(no browser download, which playwright would need).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .html import SECTIONS

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)

# Run in the page: what the checks read.
_PROBE = """
const ids = Array.from(document.querySelectorAll('section')).map(s => s.id);
const charts = Array.from(document.querySelectorAll('section .figure svg')).map(svg => {
  const paths = Array.from(svg.querySelectorAll('path'));
  const drawn = paths.filter(p => (p.getAttribute('d') || '').trim().length > 0);
  const r = svg.getBoundingClientRect();
  return {section: svg.closest('section').id, paths: paths.length, drawn: drawn.length,
          width: r.width, height: r.height};
});
const cells = Array.from(document.querySelectorAll('table.confusion td.cm-cell'))
  .map(td => parseInt(td.dataset.count, 10));
const text = Array.from(document.querySelectorAll('table.confusion td.cm-cell'))
  .map(td => parseInt(td.textContent, 10));
return {ids: ids, charts: charts, cells: cells, cellText: text,
        height: document.documentElement.scrollHeight,
        width: document.documentElement.scrollWidth};
"""


def find(names: tuple[str, ...]) -> str | None:
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    return None


def open_driver(width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium session with the browser console recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    binary = find(CHROMIUM)
    if binary:
        opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(executable_path=find(DRIVER)))


def check_page(driver: Any, page: str | Path, screenshot: str | Path | None = None,
               max_height: int = 6000) -> dict:
    """Load `page`, optionally save a full-page screenshot (cut at max_height pixels), and
    return {"console": [errors], "ids", "charts", "cells", "cellText", "height"}."""
    driver.get(Path(page).resolve().as_uri())
    found = driver.execute_script(_PROBE)
    found["console"] = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if screenshot is not None:
        w = driver.execute_script("return window.innerWidth")
        driver.set_window_size(max(w, 1280), min(found["height"] + 40, max_height))
        driver.save_screenshot(str(screenshot))
    return found


def problems(found: dict, holdout_rows: int | None) -> list[str]:
    """What is wrong with a checked page (empty when it passes)."""
    bad = [f"console error: {e.get('message')}" for e in found["console"]]
    missing = [s for s in SECTIONS if s not in found["ids"]]
    if missing:
        bad.append(f"sections missing: {missing}")
    for c in found["charts"]:
        if c["drawn"] == 0 or c["width"] <= 0 or c["height"] <= 0:
            bad.append(f"empty chart in section {c['section']}: {c}")
    if not any(c["section"] == "model" for c in found["charts"]):
        bad.append("no model drawing")
    if holdout_rows is not None:
        if sum(found["cells"]) != holdout_rows:
            bad.append(f"confusion matrix sums to {sum(found['cells'])}, not {holdout_rows}")
        if found["cells"] != found["cellText"]:
            bad.append("confusion matrix cells show other numbers than they hold")
    return bad

"""Build every shipped example, check its report.html in headless Chromium (the browser
test's checks) and keep a small screenshot of each page in docs/img/report_<name>.png.

    python benchmarks/report_screenshots.py [--epochs N] [--only NAME ...] [--out docs/img]

Needs the report and browser extras and Debian's chromium + chromium-driver. Prints, per
example: build seconds, report.html size, browser check seconds, and any problem found
(exit 1 if one page fails the checks).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH = 820  # pixels of the kept screenshot: small files, still readable
MAX_HEIGHT = 2200  # the page is cut below this (the top sections tell the story)


def shrink(src: Path, dst: Path) -> None:
    """A 1280-px-wide screenshot, scaled to WIDTH and cut to MAX_HEIGHT, in 64 colours."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        scale = WIDTH / im.width
        im = im.resize((WIDTH, int(im.height * scale)), Image.Resampling.LANCZOS)
        im = im.crop((0, 0, WIDTH, min(im.height, MAX_HEIGHT)))
        im.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=None, help="override each example's epochs")
    ap.add_argument("--only", nargs="*", default=None, help="example names (no .json)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()

    from seqc.pipeline import BuildOptions, build
    from seqc.report import browser

    names = args.only or sorted(p.stem for p in (ROOT / "examples").glob("*.json"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    driver = browser.open_driver()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                folder = Path(tmp) / name
                t = time.perf_counter()
                build(str(ROOT / "examples" / f"{name}.json"),
                      BuildOptions(out_dir=str(folder), epochs=args.epochs, verbose=0,
                                   log=None))
                t_build = time.perf_counter() - t
                report = json.loads((folder / "report.json").read_text())
                page = folder / "report.html"
                t = time.perf_counter()
                shot = Path(tmp) / f"{name}.png"
                found = browser.check_page(driver, page, shot)
                t_check = time.perf_counter() - t
                hold = report.get("holdout") or {}
                bad = browser.problems(found, hold.get("values")
                                       if hold.get("kind") == "classifier" else None)
                shrink(shot, out / f"report_{name}.png")
                print(f"{name}: build {t_build:.1f}s, report.html "
                      f"{page.stat().st_size / 1024:.0f} KB drawn in "
                      f"{report['timings']['report_s']:.1f}s, browser check "
                      f"{t_check:.1f}s, screenshot "
                      f"{(out / f'report_{name}.png').stat().st_size / 1024:.0f} KB"
                      + (f"; PROBLEMS: {bad}" if bad else "; ok"), flush=True)
                failed += bool(bad)
    finally:
        driver.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

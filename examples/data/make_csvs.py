"""One-off: write breast_cancer.csv and digits.csv from the copies scikit-learn ships.

Not run by tests, and scikit-learn is not a dependency of seqc. To regenerate:

    python -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-learn
    /tmp/sk/bin/python examples/data/make_csvs.py

Values are copied as the text scikit-learn stores them (the UCI precision), never re-printed
from floats, so the CSVs hold no 17-digit noise. Breast cancer rows keep the source order;
digits rows are shuffled once with a fixed seed (see digits()).
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from importlib import resources
from pathlib import Path

from sklearn.datasets import load_breast_cancer

HERE = Path(__file__).resolve().parent


def _raw_rows(name: str) -> list[list[str]]:
    data = resources.files("sklearn.datasets.data").joinpath(name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows x {len(header)} columns)")


def breast_cancer() -> None:
    # First line of sklearn's file: "569,30,malignant,benign" (counts, then target names).
    head, *rows = _raw_rows("breast_cancer.csv")
    n, n_features, *names = head
    assert names == ["malignant", "benign"], names  # sklearn target 0 = malignant, 1 = benign
    features = [str(f) for f in load_breast_cancer().feature_names]
    assert len(rows) == int(n) == 569 and len(features) == int(n_features) == 30
    out = [r[:-1] + [names[int(r[-1])]] for r in rows]
    _write(HERE / "breast_cancer.csv", features + ["label"], out)


def digits() -> None:
    rows = _raw_rows("digits.csv.gz")
    assert len(rows) == 1797 and all(len(r) == 65 for r in rows)
    # The source rows come grouped by writer, so validation_split's last 20% would be writers
    # never seen in training (Keras and seqc both reach only ~92% on that tail). One seeded
    # shuffle makes the held-out part a random sample, as train_test_split would.
    random.Random(0).shuffle(rows)
    _write(HERE / "digits.csv", [f"pixel_{i}" for i in range(64)] + ["label"], rows)


if __name__ == "__main__":
    breast_cancer()
    digits()

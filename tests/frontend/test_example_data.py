"""The shipped datasets: shape, header, labels, compact numbers, and the examples' data paths."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from seqc.frontend import load_definition

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def read(name: str) -> tuple[list[str], list[list[str]]]:
    with open(EXAMPLES / "data" / name, newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def test_breast_cancer_csv():
    header, rows = read("breast_cancer.csv")
    assert len(rows) == 569 and all(len(r) == 31 for r in rows)
    assert header[0] == "mean radius" and header[-2] == "worst fractal dimension"
    assert header[-1] == "label" and len(set(header)) == 31
    labels = [r[-1] for r in rows]
    assert labels.count("malignant") == 212 and labels.count("benign") == 357
    # First UCI record (ID 842302) is malignant with radius 17.99.
    assert rows[0][0] == "17.99" and rows[0][-1] == "malignant"
    for r in rows:
        for v in r[:-1]:
            float(v)
            assert not re.search(r"\d{8,}", v), v  # source precision, no float noise


def test_digits_csv():
    header, rows = read("digits.csv")
    assert header == [f"pixel_{i}" for i in range(64)] + ["label"]
    assert len(rows) == 1797 and all(len(r) == 65 for r in rows)
    assert {int(v) for r in rows for v in r[:-1]} <= set(range(17))
    counts = [sum(r[-1] == str(d) for r in rows) for d in range(10)]
    assert sum(counts) == 1797 and min(counts) >= 170


@pytest.mark.parametrize("spec,data", [("breast_cancer_mlp.json", "breast_cancer.csv"),
                                       ("digits_mlp.json", "digits.csv")])
def test_example_specs_point_at_shipped_data(spec, data):
    d = load_definition(EXAMPLES / spec)
    assert d.data["path"] == str(EXAMPLES / "data" / data)
    assert d.data["target"] == "label"
    header, rows = read(data)
    assert d.model.input_shape == (None, len(header) - 1)
    assert d.compile["metrics"] == ["accuracy"]
    assert d.fit["validation_split"] == 0.2 and d.fit["seed"] == 0


def test_tagging_npz_is_what_its_generator_writes():
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("make_tagging",
                                                  EXAMPLES / "data" / "make_tagging.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x, y = mod.make()
    shipped = np.load(EXAMPLES / "data" / "tagging.npz")
    np.testing.assert_array_equal(shipped["x"], x)
    np.testing.assert_array_equal(shipped["y"], y)
    # the rule: a peak is larger, a valley smaller, than both neighbours
    i, t = 5, 7
    left, mid, right = x[i, t - 1:t + 2]
    assert y[i, t] == (1 if mid > max(left, right) else 2 if mid < min(left, right) else 0)
    assert (y[:, 0] == 0).all() and (y[:, -1] == 0).all()

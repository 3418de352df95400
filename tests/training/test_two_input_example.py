"""examples/two_input_pairs.py: a shared-encoder (Siamese) model on digit pairs beats the
side-by-side linear baseline by far, and its two-input ONNX export agrees with NumPy."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

from seqc.errors import SeqcWarning

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_input_pairs.py"


def test_two_input_pairs_example_learns_what_the_baseline_cannot(tmp_path):
    spec = importlib.util.spec_from_file_location("two_input_pairs", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeqcWarning)  # no warning before training
        r = mod.run(train_pairs=1200, test_pairs=600, epochs=6, out_dir=str(tmp_path))
    assert r["siamese"] >= 0.8, r
    assert r["baseline"] <= 0.6, r
    assert r["onnx_max_abs_diff"] < 1e-5
    # The encoder is counted once: 64*32+32 + 32*16+16, then the head 32*16+16 + 16+1.
    assert r["shared_parameters"] == 2080 + 528 + 528 + 17

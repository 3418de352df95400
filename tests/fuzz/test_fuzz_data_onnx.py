"""Property-based fuzzing of data files (CSV, .npy, .npz) and ONNX models for `predict`,
`validate`, `bench` and `build --data` (issue 16): the same contract as test_fuzz_frontends.

These readers are guarded at their boundaries (regular-file checks, declared sizes checked
before allocating, onnx.checker and the control-flow bound before onnxruntime, a time limit on
every run); this module runs in CI with the others.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given

from ._data_onnx import data_onnx_cases
from ._frontends import build_folder_seed
from ._harness import ci_settings, describe, run_case


def test_contract_holds_for_data_and_onnx_files():
    build_folder_seed()

    @ci_settings(150)
    @given(data_onnx_cases())
    def prop(case):
        with tempfile.TemporaryDirectory(prefix="seqc-fuzz-") as tmp:
            outcome = run_case(case, Path(tmp))
        assert not outcome.violations, describe(case, outcome)

    prop()

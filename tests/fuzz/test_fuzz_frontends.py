"""Property-based fuzzing of every definition frontend (issue 16): for each generated input,
the command exits 0, 1 or 2 (never 70), prints no traceback, names the input file when it exits
2, leaves no output behind when it fails, and stays within a time bound.

CI runs a fixed seed (derandomized) and EXAMPLES inputs per frontend (150 to 300);
`SEQC_FUZZ_EXAMPLES=2000 python -m pytest tests/fuzz` runs more, and benchmarks/fuzz.py runs
10,000 per frontend in parallel processes with hang and memory bounds (docs/testing.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ._frontends import FRONTENDS, build_folder_seed
from ._harness import Case, ci_settings, describe, run_case

# Inputs per frontend in CI: the JSON and script readers take milliseconds an input, the HDF5,
# zip and build-folder ones about ten times more. SEQC_FUZZ_EXAMPLES sets one count for all.
EXAMPLES = {"spec": 300, "keras3-json": 300, "keras2-json": 300, "script": 200,
            "keras-zip": 100, "h5": 100, "build-folder": 100}


def _holds(case: Case, *, subprocess_run: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="seqc-fuzz-") as tmp:
        outcome = run_case(case, Path(tmp), subprocess_run=subprocess_run)
    assert not outcome.violations, describe(case, outcome)


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_contract_holds_for_generated_inputs(frontend):
    if frontend == "build-folder":
        build_folder_seed()  # built once, outside the examples' time

    @ci_settings(EXAMPLES[frontend])
    @given(FRONTENDS[frontend]())
    def prop(case):
        _holds(case)

    prop()


# A few inputs per frontend in a fresh process under a wall-clock and an address-space limit:
# a hang inside C code or an allocation past the bound shows only there.
@settings(max_examples=len(FRONTENDS), derandomize=True, database=None, deadline=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(FRONTENDS)).flatmap(lambda f: FRONTENDS[f]()))
def test_contract_holds_in_a_bounded_process(case):
    _holds(case, subprocess_run=True)

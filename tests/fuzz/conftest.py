"""The fuzz suite's marker: `fuzz_pending` tests (damaged data and ONNX files, whose guards
come with issue 16's bounds work) run only when asked for with `-m fuzz_pending`."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz_pending: fuzzing whose fixes are not merged yet; "
                                       "run with -m fuzz_pending")


def pytest_collection_modifyitems(config, items):
    if "fuzz_pending" in (config.getoption("markexpr") or ""):
        return
    kept = [i for i in items if i.get_closest_marker("fuzz_pending") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept

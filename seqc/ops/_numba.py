"""The optional numba switch shared by seqc's compiled kernels (training/_fused.py: optimizer
updates; ops/_recurrent_fused.py: the LSTM and GRU time loops; ops/_pooling_fused.py: 2-D max
pooling; ops/_dense_fused.py: Dense + relu; ops/_conv_fused.py: im2col; embedding.py: the
scatter-add). numba is the `fast` extra, never a core dependency; `SEQC_NUMBA=0` turns every
kernel off, and any failure to import or compile leaves the NumPy path in place."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def enabled(state: dict[str, bool]) -> bool:
    """True when numba is importable and SEQC_NUMBA is not 0, checked once per `state` (each
    kernel family keeps its own, so a test can reset one)."""
    if "on" not in state:
        on = os.environ.get("SEQC_NUMBA", "1") != "0"
        if on:
            try:
                import numba  # noqa: F401, PLC0415 - optional
            except ImportError:
                on = False
        state["on"] = on
    return state["on"]


def compile_kernel(fn: Callable, signature: Any, state: dict[str, bool]) -> Any:
    """fn compiled for exactly `signature` (eagerly, cached on disk), or None when the compile
    fails; a failure turns `state` off so the NumPy path is used from then on."""
    from numba import njit  # noqa: PLC0415 - optional

    try:
        # no fastmath: the NumPy path's float32 operations in its order; error_model="numpy"
        # only drops the division-by-zero check
        return njit(signature, cache=True, nogil=True, error_model="numpy")(fn)
    except Exception:  # noqa: BLE001 - any failure of the optional compiler: use NumPy
        state["on"] = False
        return None

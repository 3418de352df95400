"""seqc.training.heap: glibc's malloc thresholds raised once per process (or opted out)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _run(code: str, **env: str) -> str:
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's mallopt parameters")
def test_training_keeps_freed_buffers_in_the_heap():
    """After the first forward, an allocation over glibc's default 128 KiB mmap threshold
    comes from the heap: a freed and re-made buffer reuses the same address."""
    code = (
        "import numpy as np, seqc\n"
        "from seqc.training import heap\n"
        "m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])\n"
        "m.predict(np.zeros((1, 3), np.float32))\n"
        "a = np.ones(200_000); p = a.ctypes.data; del a\n"
        "b = np.ones(200_000)\n"
        "print(heap._state, b.ctypes.data == p)")
    assert _run(code) == "{'done': True} True"


def test_opt_out():
    code = "from seqc.training.heap import keep_heap; print(keep_heap(), keep_heap())"
    assert _run(code, SEQC_MALLOPT="0") == "False False"
    assert _run(code) == ("True True" if GLIBC else "False False")

"""Keep freed NumPy buffers in the process heap while seqc computes (glibc only).

A training step allocates the same few-MB set of temporaries every batch. Under glibc's default
policy, buffers over 128 KiB are mmap-ed and large free blocks at the top of the heap are
returned to the OS, so every batch pays for fresh pages again: first-touch page faults and
zeroing, about a third of an LSTM step at batch 32 (1.1 ms -> 0.75 ms per forward and
backward of the sunspots example's LSTM). glibc raises these thresholds by itself once it sees
large blocks freed, up to 32 MiB (mmap) and 64 MiB (trim); `keep_heap` sets them to those
ceilings up front, once per process.

Why mallopt and not a library: the usual fix is an allocator swap (jemalloc or tcmalloc through
LD_PRELOAD), which has to happen before Python starts and cannot be done by a package. Other C
libraries (macOS, musl) are left alone. Set SEQC_MALLOPT=0 to opt out.
"""

from __future__ import annotations

import os

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's own dynamic ceiling on 64-bit systems
TRIM_THRESHOLD = 64 << 20  # twice that, as glibc's dynamic rule sets it

_state: dict[str, bool] = {}


def keep_heap() -> bool:
    """Set the thresholds once; True when they are in effect (glibc, not opted out)."""
    if "done" in _state:
        return _state["done"]
    _state["done"] = False
    if os.environ.get("SEQC_MALLOPT", "1") == "0":
        return False
    import platform  # noqa: PLC0415 - only on first use

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes  # noqa: PLC0415

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    _state["done"] = ok
    return ok

"""Progress lines: Keras' Progbar (keras/src/utils/progbar.py) for fit, and a rows/s line for
predict. Hand-written rather than tqdm so the training bar is Keras' own, character for
character: `12/25 ━━━━━━━━━━━━━━━━━━━━ 1s 3ms/step - accuracy: 0.8125 - loss: 0.4051`.

verbose=1 redraws one line in place (carriage return, ANSI bold/green as Keras) and is meant
for a terminal; verbose=2 prints only the final line of each epoch, uncoloured.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any


def is_terminal(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def format_eta(eta: float) -> str:
    """Keras' ETA: `42s`, `3:07`, `1:02:03`."""
    if eta > 3600:
        return f"{eta // 3600:.0f}:{(eta % 3600) // 60:02.0f}:{eta % 60 // 1:02.0f}"
    if eta > 60:
        return f"{eta // 60:.0f}:{eta % 60 // 1:02.0f}"
    return f"{int(eta)}s"


def format_time_per_unit(t: float, unit: str) -> str:
    if t >= 1 or t == 0:
        return f" {t:.0f}s/{unit}"
    if t >= 1e-3:
        return f" {t * 1000.0:.0f}ms/{unit}"
    return f" {t * 1000000.0:.0f}us/{unit}"


def format_value(v: Any, verbose: int = 1) -> str:
    """Keras prints |v| > 1e-3 with 4 decimals, smaller values in e-notation (verbose=2
    compares v itself, so a negative value prints in e-notation there)."""
    if not isinstance(v, (int, float)):
        return str(v)
    big = abs(v) > 1e-3 if verbose == 1 else v > 1e-3
    return f"{v:.4f}" if big else f"{v:.4e}"


class Progbar:
    """Keras' Progbar for a known number of steps; `values` are shown as given (Keras'
    ProgbarLogger passes its logs as stateful metrics: fit's running means)."""

    def __init__(self, target: int, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 unit_name: str = "step", stream: Any = None) -> None:
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stream = stream or sys.stdout
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def update(self, current: int, values: dict | None = None, finalize: bool | None = None
               ) -> None:
        finalize = current >= self.target if finalize is None else finalize
        now = time.time()
        per_unit = self._estimate_step_duration(current, now)
        values = values or {}
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            nd = int(math.log10(max(self.target, 1))) + 1
            done = int(self.width * current / max(self.target, 1))
            count = f"{current:{nd}d}/{self.target}"
            bar = f"\x1b[1m{count}\x1b[0m "
            special = 8
            if done > 0:
                bar += f"\33[32m{'━' * done}\x1b[0m"
                special += 9
            bar += f"\33[37m{'━' * (self.width - done)}\x1b[0m"
            special += 9
            when = f"{now - self._start:.0f}s" if finalize else \
                format_eta(per_unit * (self.target - current))
            info = f" \x1b[1m{when}\x1b[0m" + format_time_per_unit(per_unit, self.unit_name)
            special += 8
            info += "".join(f" - {k}: {format_value(v)}" for k, v in values.items())
            total = len(bar) + len(info) - special
            msg = "\b" * self._prev_total_width + "\r" + bar + info
            if self._prev_total_width > total:
                msg += " " * (self._prev_total_width - total)
            self._write(msg + ("\n" if finalize else ""))
            self._prev_total_width = total
        elif self.verbose == 2 and finalize:
            nd = int(math.log10(max(self.target, 1))) + 1
            info = f"{current:{nd}d}/{self.target} - {now - self._start:.0f}s -"
            info += format_time_per_unit(per_unit, self.unit_name)
            info += "".join(f" - {k}: {format_value(v, 2)}" for k, v in values.items())
            self._write(info + "\n")
        self._last_update = now

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Keras: the first step (often slow: caches, allocation) is left out once there are
        more."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per = (now - self._time_after_first_step) / (current - 1)
        else:
            per = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per


class RowProgress:
    """`rows 40,960/100,000 ━━━━━━━━            82,301 rows/s ETA 1s` redrawn in place on a
    terminal (for predict); a no-op elsewhere. `total` None (a CSV) shows rows and rate."""

    def __init__(self, total: int | None, stream: Any = None, interval: float = 0.1) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = is_terminal(self.stream)
        self.interval = interval
        self._start = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def __call__(self, done: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self._last < self.interval and not final):
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        if self.total:
            filled = int(20 * min(done / self.total, 1.0))
            line = (f"rows {done:,}/{self.total:,} {'━' * filled}{' ' * (20 - filled)} "
                    f"{rate:,.0f} rows/s " + (f"{elapsed:.0f}s" if final else
                                               f"ETA {format_eta((self.total - done) / rate)}"
                                               if rate else "ETA ?"))
        else:
            line = f"rows {done:,} {rate:,.0f} rows/s {elapsed:.0f}s"
        pad = " " * max(self._width - len(line), 0)
        self._width = len(line)
        self.stream.write("\r" + line + pad + ("\n" if final else ""))
        self.stream.flush()

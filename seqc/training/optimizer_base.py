"""The Optimizer base class: the step every optimizer shares.

`apply(params, grads)`: accumulate -> clip (clipnorm | global_clipnorm | clipvalue) ->
p *= 1 - weight_decay * lr -> subclass `_update` with lr at `iterations` -> EMA -> iterations += 1.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import numpy as np

from ..errors import DefinitionError, UsageError, did_you_mean
from . import _fused, schedules
from .args import bool_arg
from .schedules import LearningRateSchedule

F32 = np.float32
Slots = dict[str, np.ndarray]


def _number(value: Any, name: str, lo: float | None = None, hi: float | None = None,
            *, hi_open: bool = False, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DefinitionError(f"'{name}' must be a number", field=name,
                              received=f"{name}={value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}" \
              f"{')' if hi_open or hi is None else ']'}"
        raise DefinitionError(f"'{name}' must be in {rng}", field=name,
                              received=f"{name}={value!r}")
    return value


def _optional(value: Any, name: str, **kw: Any) -> float | None:
    return None if value is None else _number(value, name, **kw)


class Optimizer:
    """Base class: clipping, weight decay, schedules, accumulation, EMA and `iterations`.
    Subclasses implement `_update(key, p, g, lr, step, slots, tmp)`."""

    # Slot name -> initial value; created lazily per parameter.
    slot_init: ClassVar[dict[str, float]] = {}
    # The compiled kernel (seqc/training/_fused.py) this configuration's update can use, if any.
    fused_kernel: ClassVar[str | None] = None
    # True when the update treats every value on its own, so all parameters can be updated as
    # one flat vector; False for rules that read a whole parameter (norms, factored moments).
    elementwise: ClassVar[bool] = True

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False,
                 ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None):
        self.name = name or type(self).__name__.lower()
        self._learning_rate: float | LearningRateSchedule = 0.0
        self.learning_rate = learning_rate
        self.weight_decay = _optional(weight_decay, "weight_decay", lo=0.0)
        self.clipnorm = _optional(clipnorm, "clipnorm", lo=0.0)
        self.clipvalue = _optional(clipvalue, "clipvalue", lo=0.0)
        self.global_clipnorm = _optional(global_clipnorm, "global_clipnorm", lo=0.0)
        given = [k for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise DefinitionError(
                "only one of clipnorm, clipvalue and global_clipnorm can be set",
                field=given[1], received=", ".join(f"{k}={getattr(self, k)}" for k in given))
        self.use_ema = bool_arg(use_ema, "use_ema")
        self.ema_momentum = _number(ema_momentum, "ema_momentum", 0.0, 1.0)
        self.ema_overwrite_frequency = _optional_int(ema_overwrite_frequency,
                                                     "ema_overwrite_frequency", 1)
        # Recorded for round-tripping Keras configs. seqc trains in float32, where scaling the
        # loss up and the gradients down by the same factor cancels, so it changes nothing.
        self.loss_scale_factor = _optional(loss_scale_factor, "loss_scale_factor", lo=0.0,
                                           lo_open=True)
        self.gradient_accumulation_steps = _optional_int(gradient_accumulation_steps,
                                                         "gradient_accumulation_steps", 2)
        self.iterations = 0
        self.slots: dict[str, Slots] = {}
        # Scratch buffers (one per parameter) so updates allocate nothing after the first step.
        self._tmp: dict[str, np.ndarray] = {}
        self._accumulated: dict[str, np.ndarray] = {}
        self._averages: dict[str, np.ndarray] = {}
        self._flat: _Flat | None = None

    def release_scratch(self) -> None:
        """Drop the step's flat parameter, gradient and scratch vectors (the slots stay, as
        per-parameter arrays): three copies of the weights that would otherwise stay alive
        through export. The next step rebuilds them."""
        self._flat = None
        self._tmp.clear()

    def __getstate__(self) -> dict:
        # A copy (deepcopy, pickle) rebuilds its flat buffers from its own per-parameter slots:
        # copied views would no longer share memory with the copied flat vector.
        return {**self.__dict__, "_flat": None}

    # ---- learning rate ----
    @property
    def learning_rate(self) -> float:
        """The rate the next update uses: the schedule at `iterations`, or the float32 value."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(F32(self._learning_rate(self.iterations)))
        return float(F32(self._learning_rate))

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, dict):
            value = schedules.get(value)
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise UsageError(
                "this optimizer was created with a learning-rate schedule, so its learning "
                "rate cannot be set", field="learning_rate", received=f"learning_rate={value!r}",
                hint="create the optimizer with a float learning_rate to change it during "
                     "training (ReduceLROnPlateau)")
        self._learning_rate = _number(value, "learning_rate", lo=0.0)

    @property
    def schedule(self) -> LearningRateSchedule | None:
        lr = self._learning_rate
        return lr if isinstance(lr, LearningRateSchedule) else None

    # ---- the step ----
    def apply(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update params[k] in place for every k in grads; iterations += 1."""
        grads = {k: g for k, g in grads.items() if g is not None}
        if not grads:
            return
        for k, g in grads.items():
            if k not in params:
                raise UsageError(f"gradient for unknown parameter '{k}'", field="grads",
                                 received=k, hint=did_you_mean(k, params))
            if g.shape != params[k].shape:
                raise UsageError(f"gradient for '{k}' has the wrong shape", field=k,
                                 received=f"{g.shape}, parameter {params[k].shape}")
        steps = self.gradient_accumulation_steps
        if steps:
            update_now = (self.iterations + 1) % steps == 0
            if update_now:
                grads = {k: (g + self._accumulator(k, params[k])) / F32(steps)
                         for k, g in grads.items()}
            else:
                for k, g in grads.items():
                    self._accumulator(k, params[k])[...] += g
        if not steps or update_now:
            self._step(params, grads)
            for k in grads:
                if k in self._accumulated:
                    self._accumulated[k].fill(0.0)
        if self.use_ema:
            self._update_ema(params, grads)
        self.iterations += 1

    def _step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        grads = self._clip(grads)
        lr = self.learning_rate
        if self.weight_decay is not None:
            decay = F32(1.0) - F32(self.weight_decay) * F32(lr)
            for k in grads:
                params[k] *= decay
        step = self.local_step
        self._begin_step(step)
        # Every update rule is elementwise, so one call over many parameters gives the same
        # numbers as one call per parameter: the small ones (biases, a few hundred values, all
        # call overhead) are updated as one flat vector. A large one is updated where it lies,
        # in chunks on threads (_chunked): copying it into and out of the flat vector and its
        # gradient into it were three of the Adam step's fifteen passes over the weights.
        small = grads if not self.elementwise else \
            {k: g for k, g in grads.items() if not _big(params[k], g)}
        flat = self._flat_group(params, small) if small else None
        for k, g in grads.items():
            if flat is not None and k in small:
                continue
            p = params[k]
            if g.dtype != p.dtype:
                g = g.astype(p.dtype)
            if self.elementwise and _big(p, g):
                self._chunked(k, p, g, lr, step, self._slots(k, p), self._scratch(k, p))
            else:
                self._update(k, p, g, lr, step, self._slots(k, p), self._scratch(k, p))
        if flat is None:
            return
        np.concatenate([g.ravel() for g in small.values()], out=flat.g)
        np.concatenate([params[k].ravel() for k in flat.keys], out=flat.p)
        self._chunked("", flat.p, flat.g, lr, step, flat.slots, flat.tmp)
        for k, view in zip(flat.keys, flat.views):
            np.copyto(params[k], view)

    def _chunked(self, key: str, p: np.ndarray, g: np.ndarray, lr: float, step: int,
                 s: Slots, tmp: np.ndarray) -> None:
        """`_update` on a contiguous parameter, split into equal chunks run on a thread pool
        when it is large: NumPy releases the GIL in its elementwise loops, so the update's
        dozen passes over the weights use every core, with the same numbers (each value's
        update reads only its own values and the step's scalars)."""
        n = p.size
        # A compiled kernel makes one pass, 3-5x faster than NumPy's dozen, so handing chunks
        # to threads (and the GIL between them) would cost more than it saves.
        if n < _CHUNKED_MIN or (
                self.fused_kernel and _fused.kernel(self.fused_kernel) is not None) or (
                workers := _update_threads()) < 2:
            self._update(key, p, g, lr, step, s, tmp)
            return
        flat = [a.reshape(-1) for a in (p, g, tmp)]
        slots = {name: v.reshape(-1) for name, v in s.items()}
        bounds = np.linspace(0, n, workers + 1).astype(int).tolist()

        def part(i: int) -> None:
            sl = slice(bounds[i], bounds[i + 1])
            self._update(key, flat[0][sl], flat[1][sl], lr, step,
                         {name: v[sl] for name, v in slots.items()}, flat[2][sl])

        list(_pool().map(part, range(workers)))

    def _flat_group(self, params: dict[str, np.ndarray],
                    grads: dict[str, np.ndarray]) -> _Flat | None:
        """The step's parameters as one vector, with their slots as one vector per slot name
        (`self.slots[k]` become views into it, so they stay the per-parameter truth). Reused
        while the same parameters arrive; None when their dtypes differ."""
        keys = tuple(grads)
        dtype = params[keys[0]].dtype
        if not self.elementwise or any(params[k].dtype != dtype for k in keys):
            return None
        f = self._flat
        if (f is not None and f.keys == keys and f.p.dtype == dtype
                and all(params[k].shape == v.shape and self.slots.get(k) is f.slot_of[k]
                        for k, v in zip(keys, f.views))):
            return f
        for k in keys:
            self._slots(k, params[k])  # creates the slots, or checks their shape
        f = self._flat = _Flat(keys, [params[k].shape for k in keys], dtype, self.slots)
        return f

    @property
    def local_step(self) -> int:
        """1-based count of real updates: Keras' `iterations + 1`, where with gradient
        accumulation `iterations` counts updates, not calls."""
        steps = self.gradient_accumulation_steps
        return (self.iterations // steps if steps else self.iterations) + 1

    def _begin_step(self, step: int) -> None:
        """Per-update state shared by all parameters (Nadam's momentum product)."""

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float, step: int,
                s: Slots, tmp: np.ndarray) -> None:
        raise NotImplementedError

    # ---- clipping (keras.src.optimizers.base_optimizer._clip_gradients) ----
    def _clip(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.clipnorm:
            c = F32(self.clipnorm)
            out = {}
            for k, g in grads.items():
                norm = F32(math.sqrt(float(np.dot(g.ravel(), g.ravel()))))
                out[k] = (g * c) / max(norm, c)
            return out
        if self.global_clipnorm:
            c = self.global_clipnorm
            norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads.values()))
            # Keras: c * min(1/norm, 1/c); a zero norm gives 1/0 = inf, hence scale 1; a
            # non-finite norm makes the scale NaN, as Keras' `+ (norm - norm)` does.
            scale = c * min(1.0 / norm if norm else math.inf, 1.0 / c)
            if not math.isfinite(norm):
                scale = math.nan
            return {k: g * F32(scale) for k, g in grads.items()}
        if self.clipvalue:
            v = F32(self.clipvalue)
            return {k: np.clip(g, -v, v) for k, g in grads.items()}
        return grads

    # ---- state ----
    def _slots(self, key: str, p: np.ndarray) -> Slots:
        s = self.slots.get(key)
        if s is None:
            s = self.slots[key] = self._new_slots(p)
        elif s and next(iter(s.values())).shape != p.shape:
            raise UsageError(f"parameter '{key}' changed shape since the optimizer first saw it",
                             field=key, received=f"{p.shape}",
                             hint="create a new optimizer after changing the model")
        return s

    def _new_slots(self, p: np.ndarray) -> Slots:
        """A parameter's slots, shaped like it (a subclass with other shapes keeps one of
        p's shape first: the shape check reads the first slot)."""
        return {name: np.full(p.shape, init, p.dtype) for name, init in self.slot_names().items()}

    def slot_names(self) -> dict[str, float]:
        """The slots this configuration needs, with their initial values."""
        return dict(self.slot_init)

    def _scratch(self, key: str, p: np.ndarray) -> np.ndarray:
        t = self._tmp.get(key)
        if t is None or t.shape != p.shape or t.dtype != p.dtype:
            t = self._tmp[key] = np.empty_like(p)
        return t

    def _accumulator(self, key: str, p: np.ndarray) -> np.ndarray:
        a = self._accumulated.get(key)
        if a is None:
            a = self._accumulated[key] = np.zeros_like(p)
        return a

    # ---- exponential moving average of the weights (use_ema) ----
    def _update_ema(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        it = self.iterations // self.gradient_accumulation_steps \
            if self.gradient_accumulation_steps else self.iterations
        m = F32(self.ema_momentum if it != 0 else 0.0)
        for k in grads:
            avg = self._averages.get(k)
            if avg is None:
                avg = self._averages[k] = np.zeros_like(params[k])
            avg *= m
            avg += (F32(1.0) - m) * params[k]
        freq = self.ema_overwrite_frequency
        if freq and (it + 1) % freq == 0:
            self.finalize_variable_values(params)

    def finalize_variable_values(self, params: dict[str, np.ndarray]) -> None:
        """With use_ema, overwrite the weights with their moving averages (Keras calls this
        at the end of fit)."""
        if self.use_ema:
            for k, avg in self._averages.items():
                params[k][...] = avg

    # ---- config ----
    def _kwargs(self) -> dict:
        return {}

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"type": type(self).__name__, "name": self.name,
                "learning_rate": lr.get_config() if isinstance(lr, LearningRateSchedule) else lr,
                **self._kwargs(),
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    def __repr__(self) -> str:
        lr = self._learning_rate
        args = ", ".join(f"{k}={v!r}" for k, v in {"learning_rate": lr, **self._kwargs()}.items())
        return f"{type(self).__name__}({args})"


# A parameter is updated in place (not copied into the flat vector) from this many values;
# an update is split over threads from _CHUNKED_MIN values (about 60 us per pass and chunk).
_BIG_MIN = 1 << 16
_CHUNKED_MIN = 1 << 18
_POOL: list = []
_CPUS: dict = {}


def _big(p: np.ndarray, g: np.ndarray) -> bool:
    return p.size >= _BIG_MIN and p.flags.c_contiguous and g.flags.c_contiguous


def _update_threads() -> int:
    """Threads for a large update: SEQC_UPDATE_THREADS, else the CPUs this process may use
    (at most 4: the passes are memory-bound beyond that)."""
    env = os.environ.get("SEQC_UPDATE_THREADS", "")
    if env.strip().isdigit():
        return max(1, int(env))
    pid = os.getpid()
    if _CPUS.get("pid") != pid:  # once per process (a syscall), again in a forked child
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            n = os.cpu_count() or 1
        _CPUS.update(pid=pid, n=min(4, n))
    return _CPUS["n"]


def _pool():
    """One thread pool per process, made on first use (import seqc stays light), and made
    again in a forked child, which inherits the pool object but not its threads."""
    if not _POOL or _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        _POOL[:] = [os.getpid(), ThreadPoolExecutor(max_workers=4,
                                                    thread_name_prefix="seqc-update")]
    return _POOL[1]


class _Flat:
    """One step's parameters flattened into one vector (see Optimizer._flat_group)."""

    def __init__(self, keys: tuple[str, ...], shapes: list[tuple], dtype, slots: dict):
        self.keys = keys
        sizes = [math.prod(shape) for shape in shapes]
        ends = np.cumsum(sizes).tolist()
        n = ends[-1] if ends else 0
        self.p, self.g, self.tmp = (np.empty(n, dtype) for _ in range(3))
        self.views = [self.p[e - z:e].reshape(shape) for e, z, shape in zip(ends, sizes, shapes)]
        names = list(slots[keys[0]]) if keys else []
        self.slots = {name: np.concatenate([slots[k][name].ravel() for k in keys]).astype(
            dtype, copy=False) for name in names}
        for k, e, z, shape in zip(keys, ends, sizes, shapes):
            slots[k] = {name: v[e - z:e].reshape(shape) for name, v in self.slots.items()}
        self.slot_of = {k: slots[k] for k in keys}


def _ema(m: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """m = beta m + (1 - beta) g, in place. 1 - beta is taken in double and then rounded, as
    torch does with a Python scalar: float32(1) - float32(0.999) is off by 1.3e-5 relative."""
    m *= F32(beta)
    np.multiply(g, F32(1.0 - beta), out=tmp)
    m += tmp


def _ema_sq(v: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """v = beta v + (1 - beta) g^2, in place."""
    v *= F32(beta)
    np.multiply(g, g, out=tmp)
    tmp *= F32(1.0 - beta)
    v += tmp


def _optional_int(value: Any, name: str, lo: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise DefinitionError(f"'{name}' must be an integer >= {lo} or null", field=name,
                              received=f"{name}={value!r}")
    return int(value)

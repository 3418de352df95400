"""Weight initializers with Keras 3's names, defaults and formulas (VarianceScaling family).

glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); the *_normal variants draw a
normal truncated at 2 sigma with stddev sqrt(scale / n) / .87962566 so the kept draws have the
intended variance. Fans follow keras.src.initializers.compute_fans. Seeded per parameter:
each parameter's generator is derived from (seed, crc32(parameter name)), so adding a layer
never changes the initial weights of the others.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from ..ir.graph import Graph

Init = Callable[[tuple[int, ...], np.random.Generator, Any], np.ndarray]

# Keras: 0.87962566103423978 is the stddev of a unit normal truncated to [-2, 2].
TRUNC_STD = 0.87962566103423978


def compute_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _truncated(rng: np.random.Generator, shape, mean: float, std: float) -> np.ndarray:
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():  # resample the tails: each round keeps ~95%, so this ends fast
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return mean + std * out


MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def variance_scaling(scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal", seed: Any = None) -> Init:
    if distribution == "normal":  # Keras 2 spelling of the truncated normal
        distribution = "truncated_normal"
    for arg, value, valid in (("mode", mode, MODES), ("distribution", distribution,
                                                      DISTRIBUTIONS)):
        if value not in valid:
            raise DefinitionError(
                f"VarianceScaling {arg} must be one of {', '.join(valid)}", field=arg,
                received=f"{arg}={value!r}", hint=did_you_mean(str(value), valid))
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
        raise DefinitionError("VarianceScaling scale must be a positive number", field="scale",
                              received=f"scale={scale!r}")
    def init(shape, rng, dtype):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        s = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * s)
            return rng.uniform(-limit, limit, shape)
        if distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(s), shape)
        return _truncated(rng, shape, 0.0, math.sqrt(s) / TRUNC_STD)

    return init


def random_uniform(minval: float = -0.05, maxval: float = 0.05, seed: Any = None) -> Init:
    return lambda shape, rng, dtype: rng.uniform(minval, maxval, shape)


def random_normal(mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> Init:
    return lambda shape, rng, dtype: rng.normal(mean, stddev, shape)


def truncated_normal(mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> Init:
    return lambda shape, rng, dtype: _truncated(rng, shape, mean, stddev)


def orthogonal(gain: float = 1.0, seed: Any = None) -> Init:
    def init(shape, rng, dtype):
        # Keras: flatten to (prod(shape[:-1]), shape[-1]), QR of a normal matrix, fix signs.
        rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
        cols = shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return gain * q[:rows, :cols].reshape(shape)

    return init


def identity(gain: float = 1.0) -> Init:
    """Keras' Identity: gain * eye(rows, cols) of a 2-D weight."""
    def init(shape, rng, dtype):
        if len(shape) != 2:
            raise DefinitionError("the identity initializer needs a 2-D weight",
                                  field="initializer", received=f"shape {list(shape)}")
        return gain * np.eye(*shape)

    return init


def constant(value: Any = 0.0) -> Init:
    """Keras 3's Constant: a number, or an array broadcast to the weight's shape (a
    PyTorch `bias.data.copy_(torch.tensor([...]))` reads as one)."""
    def init(shape, rng, dtype):
        v = np.asarray(value, dtype=np.float64)
        try:
            return np.broadcast_to(v, shape).copy()
        except ValueError:
            raise DefinitionError(
                f"the constant initializer's value of shape {list(v.shape)} does not "
                f"broadcast to the weight's shape {list(shape)}", field="value",
                received=f"value={value!r}"[:200]) from None

    return init


INITIALIZERS: dict[str, Callable[..., Init]] = {
    "glorot_uniform": lambda seed=None: variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": lambda seed=None: variance_scaling(1.0, "fan_avg", "truncated_normal"),
    "he_uniform": lambda seed=None: variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": lambda seed=None: variance_scaling(2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": lambda seed=None: variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": lambda seed=None: variance_scaling(1.0, "fan_in", "truncated_normal"),
    "variance_scaling": variance_scaling,
    "random_uniform": random_uniform,
    "uniform": random_uniform,  # Keras' alias (Embedding's default)
    "normal": random_normal,  # Keras' alias
    "random_normal": random_normal,
    "truncated_normal": truncated_normal,
    "orthogonal": orthogonal,
    "identity": identity,
    "zeros": lambda: constant(0.0),
    "ones": lambda: constant(1.0),
    "constant": constant,
}


# The initializers' number arguments: checked here, where every initializer spec enters, so a
# wrong-typed value (a string, an object, NaN) is refused before any weight is drawn.
NUMBER_ARGS = ("scale", "minval", "maxval", "mean", "stddev", "gain", "value")
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _canonical_name(name: str) -> str:
    # Keras accepts class names too: "GlorotUniform", "RandomNormal", "Zeros".
    import re

    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return snake if snake in INITIALIZERS else name


def get(spec: Any) -> Init:
    """Name or `{"type"|"class_name": name, <args> | "config": {...}}` -> init function."""
    name, kwargs = split_spec(spec)
    kwargs.pop("seed", None)  # seeding is per parameter (init_params), not per initializer
    key = _canonical_name(str(name))
    if key not in INITIALIZERS:
        raise DefinitionError(
            f"unknown initializer '{name}'", field="initializer", received=repr(spec),
            hint=did_you_mean(key, INITIALIZERS)
            or f"valid initializers: {', '.join(INITIALIZERS)}")
    for arg, v in kwargs.items():
        if arg == "value" and key == "constant" and isinstance(v, (list, tuple)):
            v = 0.0 if constant_array(v) is not None else v  # an array: checked here
        if arg in NUMBER_ARGS and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                       and math.isfinite(v) and abs(v) <= FLOAT32_MAX):
            raise DefinitionError(
                f"initializer '{name}': {arg} must be a finite number within float32's range",
                field=arg, received=f"{arg}={v!r}"[:200])
    try:
        return INITIALIZERS[key](**kwargs)
    except TypeError as e:
        raise DefinitionError(f"bad arguments for initializer '{name}': {e}",
                              field="initializer", received=repr(spec)) from None


def constant_array(v: Any) -> np.ndarray | None:
    """v as a float64 array when it is a number or a rectangular (nested) list of finite
    float32-range numbers (a Constant's value), else None."""
    def numbers(x: Any) -> bool:
        if isinstance(x, (list, tuple)):
            return all(numbers(e) for e in x)
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if not numbers(v):
        return None
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (ValueError, OverflowError):  # ragged
        return None
    ok = arr.size and np.isfinite(arr).all() and (np.abs(arr) <= FLOAT32_MAX).all()
    return arr if ok else None


def init_params(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Fresh parameters for every spec in the graph, in Keras order."""
    out = {}
    for key, spec in graph.param_specs.items():
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        try:
            fn = get(spec.initializer)
            out[key] = np.asarray(fn(spec.shape, rng, spec.dtype), dtype=spec.dtype)
        except DefinitionError as e:
            raise e.located(layer=key.split("/")[0]) from None
    return out


# ---- LSTM unit_forget_bias (added with the recurrent layers) ----
# Keras' LSTMCell builds its bias as concat(bias_initializer((units,)), ones((units,)),
# bias_initializer((2 * units,))) when unit_forget_bias is on: the forget gate starts open.
# LSTM's ParamSpec names this initializer with the layer's own bias_initializer inside.
def lstm_unit_forget_bias(units: int, bias_initializer: Any = "zeros", seed: Any = None) -> Init:
    base = get(bias_initializer)

    def init(shape, rng, dtype):
        return np.concatenate([np.asarray(base((units,), rng, dtype), float),
                               np.ones(units),
                               np.asarray(base((2 * units,), rng, dtype), float)])

    return init


INITIALIZERS["lstm_unit_forget_bias"] = lstm_unit_forget_bias


# ---- state a layer learns only from data (Discretization's adapted bin boundaries) ----
# NaN until `adapt` fills it, so running an unadapted layer is refused (as Keras refuses to
# call it) instead of computing with made-up values.
INITIALIZERS["not_adapted"] = lambda: constant(float("nan"))

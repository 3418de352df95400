"""Activation functions, Keras 3 definitions: forward, derivative and ONNX lowering each.

Shared by the Activation layer and every layer with an `activation=` argument (the IR splits
those into an Activation node). Not a layer kind itself, hence the leading underscore.

Each function takes keyword arguments from Keras' function signature, e.g.
`{"type": "gelu", "approximate": true}` or `{"type": "relu", "max_value": 6}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray

# Keras' SELU constants (keras/src/activations/activations.py); ONNX's Selu defaults differ in
# the last float32 digits, so the lowering passes them explicitly.
SELU_ALPHA = 1.67326324
SELU_SCALE = 1.05070098
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf(x: Array) -> Array:
    """erf to double precision. NumPy has no erf and SciPy is not a core dependency, so use
    scipy.special.erf when it is installed and math.erf element-wise otherwise (exact, slower)."""
    try:
        from scipy.special import erf  # noqa: PLC0415 - optional fast path
    except ImportError:
        return _ERF_UFUNC(x).astype(x.dtype)
    return erf(x).astype(x.dtype, copy=False)


_ERF_UFUNC = np.frompyfunc(math.erf, 1, 1)


def sigmoid(x: Array) -> Array:
    # exp of a non-positive number only: no overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def softplus(x: Array) -> Array:
    return np.logaddexp(np.zeros((), x.dtype), x)


def softmax(x: Array, axis: int = -1) -> Array:
    # Subtracting the max keeps exp() in range; the result is unchanged mathematically.
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class ActivationFn:
    """forward(x, **kw) -> y; backward(x, y, dy, **kw) -> dx; lower(x, em, **kw) -> name."""

    name: str
    forward: Callable[..., Array]
    backward: Callable[..., Array]
    lower: Callable[..., str]
    defaults: tuple[tuple[str, Any], ...] = ()


ACTIVATIONS: dict[str, ActivationFn] = {}
# Keras accepts these spellings too; the canonical name is the value.
ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def _reg(name: str, fwd, bwd, lower, **defaults) -> None:
    ACTIVATIONS[name] = ActivationFn(name, fwd, bwd, lower, tuple(defaults.items()))


def _unary(op: str):
    return lambda x, em, **kw: em.op(op, [x])


# ---- relu, with Keras' negative_slope / max_value / threshold ----
# Keras 3 (ReLU.static_call): x if x > threshold else negative_slope * (x - threshold), then
# clipped at max_value. The comparison is strict, so at x == threshold the output is 0.
def _relu_fwd(x, negative_slope=0.0, max_value=None, threshold=0.0):
    if negative_slope or threshold:
        y = np.where(x > threshold, x, negative_slope * (x - threshold))
    else:
        y = np.maximum(x, 0)
    if max_value is not None:
        y = np.minimum(y, max_value)
    return y.astype(x.dtype, copy=False)


def _relu_bwd(x, y, dy, negative_slope=0.0, max_value=None, threshold=0.0):
    # At the kink the lower piece's slope is used (0 for plain relu), as torch.relu and TF's
    # ReluGrad do; any subgradient would be valid, this one matches Keras on either backend.
    if not negative_slope:
        # Fast path (the common case): one mask, multiplied in dy's dtype. (np.where with a
        # Python 0 is ~15x slower here: it builds a float64 result and casts it back.)
        g = np.multiply(dy, x > threshold, dtype=dy.dtype)
    else:
        g = np.where(x > threshold, dy, dy * negative_slope)
    if max_value is not None:
        g = np.where(y >= max_value, 0, g)
    return g.astype(dy.dtype, copy=False)


def _relu_lower(x, em, negative_slope=0.0, max_value=None, threshold=0.0):
    if threshold == 0.0:
        y = em.op("Relu", [x]) if negative_slope == 0.0 else em.op(
            "LeakyRelu", [x], alpha=float(negative_slope))
    else:
        # y = x if x >= t else slope * (x - t)
        t = em.const(np.array(threshold, np.float32), "threshold")
        mask = em.op("Greater", [x, t])
        shifted = em.op("Sub", [x, t])
        low = em.op("Mul", [shifted, em.const(np.array(negative_slope, np.float32), "slope")])
        y = em.op("Where", [mask, x, low])
    if max_value is not None:
        y = em.op("Min", [y, em.const(np.array(max_value, np.float32), "max_value")])
    return y


_reg("relu", _relu_fwd, _relu_bwd, _relu_lower, negative_slope=0.0, max_value=None,
     threshold=0.0)


# Keras 3's leaky_relu function defaults to negative_slope=0.2; the LeakyReLU *layer* to 0.3.
def _leaky_relu_fwd(x, negative_slope=0.2):
    return _relu_fwd(x, negative_slope=negative_slope)


def _leaky_relu_bwd(x, y, dy, negative_slope=0.2):
    return _relu_bwd(x, y, dy, negative_slope=negative_slope)


_reg("leaky_relu", _leaky_relu_fwd, _leaky_relu_bwd,
     lambda x, em, negative_slope=0.2: em.op("LeakyRelu", [x], alpha=float(negative_slope)),
     negative_slope=0.2)

_reg("linear", lambda x: x, lambda x, y, dy: dy, lambda x, em: x)

_reg("sigmoid", sigmoid, lambda x, y, dy: dy * y * (1 - y), _unary("Sigmoid"))

_reg("tanh", np.tanh, lambda x, y, dy: dy * (1 - y * y), _unary("Tanh"))


def _softmax_bwd(x, y, dy, axis=-1):
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


_reg("softmax", softmax, _softmax_bwd, lambda x, em, axis=-1: em.op("Softmax", [x], axis=axis),
     axis=-1)


def _log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


_reg("log_softmax", _log_softmax,
     lambda x, y, dy, axis=-1: dy - np.exp(y) * dy.sum(axis=axis, keepdims=True),
     lambda x, em, axis=-1: em.op("LogSoftmax", [x], axis=axis), axis=-1)


def _elu_fwd(x, alpha=1.0):
    # expm1 of min(x, 0) only: the unused branch of where() must not overflow.
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _elu_bwd(x, y, dy, alpha=1.0):
    return dy * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


_reg("elu", _elu_fwd, _elu_bwd, lambda x, em, alpha=1.0: em.op("Elu", [x], alpha=float(alpha)),
     alpha=1.0)

_reg("selu", lambda x: SELU_SCALE * _elu_fwd(x, SELU_ALPHA),
     lambda x, y, dy: SELU_SCALE * _elu_bwd(x, y, dy, SELU_ALPHA),
     lambda x, em: em.op("Selu", [x], alpha=SELU_ALPHA, gamma=SELU_SCALE))


def _gelu_fwd(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2.0)))


def _gelu_bwd(x, y, dy, approximate=False):
    if approximate:
        inner = SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        d_inner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x**2)
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return dy * (cdf + x * pdf)


def _gelu_lower(x, em, approximate=False):
    if em.opset >= 20:
        return em.op("Gelu", [x], approximate="tanh" if approximate else "none")
    half = em.const(np.array(0.5, np.float32), "half")
    one = em.const(np.array(1.0, np.float32), "one")
    if approximate:
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = em.op("Mul", [em.op("Mul", [x, x]), x])
        inner = em.op("Add", [x, em.op("Mul", [x3, em.const(np.array(0.044715, np.float32),
                                                               "c")])])
        t = em.op("Tanh", [em.op("Mul", [inner, em.const(np.array(SQRT_2_OVER_PI, np.float32),
                                                         "c")])])
    else:
        # 0.5 x (1 + erf(x / sqrt 2)); onnxruntime fuses this pattern into Gelu.
        t = em.op("Erf", [em.op("Div", [x, em.const(np.array(math.sqrt(2.0), np.float32),
                                                    "sqrt2")])])
    return em.op("Mul", [em.op("Mul", [x, half]), em.op("Add", [t, one])])


_reg("gelu", _gelu_fwd, _gelu_bwd, _gelu_lower, approximate=False)


def _silu_bwd(x, y, dy):
    s = sigmoid(x)
    return dy * (s * (1 + x * (1 - s)))


_reg("silu", lambda x: x * sigmoid(x), _silu_bwd,
     lambda x, em: em.op("Mul", [x, em.op("Sigmoid", [x])]))

_reg("softplus", softplus, lambda x, y, dy: dy * sigmoid(x), _unary("Softplus"))

_reg("softsign", lambda x: x / (1 + np.abs(x)), lambda x, y, dy: dy / (1 + np.abs(x)) ** 2,
     _unary("Softsign"))

_reg("exponential", np.exp, lambda x, y, dy: dy * y, _unary("Exp"))


def _clip_lower(x, em, lo, hi):
    return em.op("Clip", [x, em.const(np.array(lo, np.float32), "lo"),
                          em.const(np.array(hi, np.float32), "hi")])


_reg("relu6", lambda x: np.clip(x, 0, 6).astype(x.dtype, copy=False),
     lambda x, y, dy: dy * ((x > 0) & (x < 6)), lambda x, em: _clip_lower(x, em, 0.0, 6.0))


def _mish_bwd(x, y, dy):
    sp = softplus(x)
    t = np.tanh(sp)
    return dy * (t + x * (1 - t * t) * sigmoid(x))


def _mish_lower(x, em):
    if em.opset >= 18:
        return em.op("Mish", [x])
    return em.op("Mul", [x, em.op("Tanh", [em.op("Softplus", [x])])])


_reg("mish", lambda x: x * np.tanh(softplus(x)), _mish_bwd, _mish_lower)

# Keras 3's hard_sigmoid is relu6(x + 3) / 6 = clip(x/6 + 0.5, 0, 1); Keras 2's was
# clip(0.2x + 0.5, 0, 1). Both are clip(slope * x + offset, 0, 1), ONNX's HardSigmoid(alpha=
# slope, beta=offset); the defaults are Keras 3's, and the Keras JSON reader writes a Keras 2
# model's hard_sigmoid as {"type": "hard_sigmoid", "slope": 0.2, "offset": 0.5}. (Arguments,
# not a second name: every name is an Activation example, and Keras 3 knows no other name.)
HARD_SIGMOID_KERAS2 = {"type": "hard_sigmoid", "slope": 0.2, "offset": 0.5}


def _hard_sigmoid_fwd(x, slope=1.0 / 6.0, offset=0.5):
    if slope == 1.0 / 6.0 and offset == 0.5:
        return (np.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)  # Keras 3's own rounding
    return np.clip(slope * x + offset, 0, 1).astype(x.dtype, copy=False)


def _hard_sigmoid_bwd(x, y, dy, slope=1.0 / 6.0, offset=0.5):
    z = slope * x + offset
    return dy * ((z > 0) & (z < 1)) * slope


_reg("hard_sigmoid", _hard_sigmoid_fwd, _hard_sigmoid_bwd,
     lambda x, em, slope=1.0 / 6.0, offset=0.5: em.op("HardSigmoid", [x], alpha=float(slope),
                                                      beta=float(offset)),
     slope=1.0 / 6.0, offset=0.5)


def _hard_silu_bwd(x, y, dy):
    return dy * np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2 * x + 3) / 6))


_reg("hard_silu", lambda x: x * np.clip(x + 3, 0, 6) / 6, _hard_silu_bwd,
     lambda x, em: em.op("HardSwish", [x]) if em.opset >= 14
     # HardSwish arrived in opset 14; below it, x * HardSigmoid(x) is the same function.
     else em.op("Mul", [x, em.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)]))


def canonical(name: str) -> str:
    return ALIASES.get(name, name)

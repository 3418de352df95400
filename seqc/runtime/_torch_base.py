"""What the torch runtime's builders share: torch imported on first use, Keras' layouts and
padding in torch's terms (channels-last IR <-> torch's (N, C, *spatial); 'same'/'causal' as an
explicit F.pad, the odd pixel after) and Keras 3's activations as torch functions."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np


class _LazyModule:
    """A module imported on first attribute access: the builders read `torch.x`, `nn.X` and
    `F.x` naturally while importing seqc (which lists the torch runtime) never imports torch."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            # Introspection (copy, inspect.unwrap, doctest finders) must not import torch.
            raise AttributeError(attr)
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)  # later reads skip __getattr__
        return value


torch: Any = _LazyModule("torch")
nn: Any = _LazyModule("torch.nn")
F: Any = _LazyModule("torch.nn.functional")


def tensor(v: Any) -> Any:
    """A float32 torch tensor of a weight or attribute value."""
    return torch.from_numpy(np.array(v, dtype=np.float32))


def channels_last(a: Any) -> bool:
    return getattr(a, "data_format", "channels_last") != "channels_first"


def to_cf(x: Any, a: Any) -> Any:
    """The IR tensor as torch's (N, C, *spatial)."""
    return x.movedim(-1, 1) if channels_last(a) else x


def from_cf(y: Any, a: Any) -> Any:
    return y.movedim(1, -1) if channels_last(a) else y


def keras_pads(sizes: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
               dilation: tuple[int, ...], padding: str) -> list[tuple[int, int]]:
    """Keras/TF padding per spatial axis: 'same' pads max((ceil(n/s) - 1) s + k_eff - n, 0)
    with the odd pixel after; 'causal' pads k_eff - 1 before; 'valid' nothing."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        ke = (k - 1) * d + 1
        if padding == "same":
            total = max((-(-n // s) - 1) * s + ke - n, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "causal":
            pads.append((ke - 1, 0))
        else:
            pads.append((0, 0))
    return pads


def fpad(pads: list[tuple[int, int]]) -> list[int]:
    """Per-axis (before, after) -> F.pad's list, which starts at the last axis."""
    out: list[int] = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


def pad_spatial(xcf: Any, pads: list[tuple[int, int]], value: float = 0.0) -> Any:
    if not any(b or e for b, e in pads):
        return xcf
    return F.pad(xcf, fpad(pads), value=value)


# ---- activations (Keras 3 definitions, torch's own functions) ----

def relu(negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Callable:
    def f(x: Any) -> Any:
        if threshold:
            # Keras: x if x > threshold else negative_slope * (x - threshold)
            y = torch.where(x > threshold, x, negative_slope * (x - threshold))
        elif negative_slope:
            y = F.leaky_relu(x, negative_slope)
        else:
            y = F.relu(x)
        return y if max_value is None else torch.clamp(y, max=max_value)
    return f


def activation(spec: Any) -> Callable | None:
    """Keras activation (canonical seqc spec: a name or {"type": name, **kwargs}) as a torch
    function; None when torch has no exact equivalent."""
    name = spec if isinstance(spec, str) else spec["type"]
    kw = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "type"}
    axis = int(kw.get("axis", -1))
    table: dict[str, Callable[[], Callable]] = {
        "linear": lambda: (lambda x: x),
        "relu": lambda: relu(**kw),
        "leaky_relu": lambda: (lambda x: F.leaky_relu(x, kw.get("negative_slope", 0.2))),
        "sigmoid": lambda: torch.sigmoid,
        "tanh": lambda: torch.tanh,
        "softmax": lambda: (lambda x: F.softmax(x, dim=axis)),
        "log_softmax": lambda: (lambda x: F.log_softmax(x, dim=axis)),
        "elu": lambda: (lambda x: F.elu(x, alpha=kw.get("alpha", 1.0))),
        "selu": lambda: F.selu,
        "gelu": lambda: (lambda x: F.gelu(
            x, approximate="tanh" if kw.get("approximate") else "none")),
        "silu": lambda: F.silu,
        "swish": lambda: F.silu,
        "softplus": lambda: F.softplus,
        "softsign": lambda: F.softsign,
        "exponential": lambda: torch.exp,
        "relu6": lambda: F.relu6,
        "mish": lambda: F.mish,
        "hard_sigmoid": lambda: F.hardsigmoid,  # Keras 3: relu6(x + 3) / 6
        "hard_silu": lambda: F.hardswish,
        "hard_swish": lambda: F.hardswish,
    }
    make = table.get(name)
    return None if make is None else make()

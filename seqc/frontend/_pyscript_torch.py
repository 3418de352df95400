"""PyTorch `nn.Sequential` modules -> seqc spec layers, with PyTorch's semantics.

Tensors keep PyTorch's layout: the input is (N, C, *spatial) and the spatial kinds get
data_format="channels_first" (Flatten stays channels_last: on a (N, C, H, W) tensor that is
PyTorch's plain C-major reshape; Keras' channels_first Flatten would reorder to H, W, C).
Initializers are PyTorch's: weights kaiming_uniform(a=sqrt(5)) = VarianceScaling(1/3, fan_in,
uniform), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); recurrent weights and biases
U(-1/sqrt(hidden), 1/sqrt(hidden)) (PyTorch's two biases b_ih + b_hh are one Keras bias, so
its initial spread is that of one of them).
"""

from __future__ import annotations

import ast
import functools
import math
from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError, SeqcError
from ..ir.types import TensorType, batched
from ._pyscript_subclass import read_instance
from ._pyscript_torch_compile import torch_compile
from ._pyscript_torch_forward import view_input, view_layers
from ._pyscript_torch_init import apply_inits
from ._pyscript_values import Instance, ModelVal, Scope, TorchMod, find_opaque, is_input_shape

if TYPE_CHECKING:
    from .pyscript import Reader

REQ = object()  # a required argument
_DEV = (("device", None), ("dtype", None))
_CONV = [("in_channels", REQ), ("out_channels", REQ), ("kernel_size", REQ), ("stride", 1),
         ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True),
         ("padding_mode", "zeros"), *_DEV]
_MAXPOOL = [("kernel_size", REQ), ("stride", None), ("padding", 0), ("dilation", 1),
            ("return_indices", False), ("ceil_mode", False)]
_AVGPOOL = [("kernel_size", REQ), ("stride", None), ("padding", 0), ("ceil_mode", False),
            ("count_include_pad", True)]
_BN = [("num_features", REQ), ("eps", 1e-5), ("momentum", 0.1), ("affine", True),
       ("track_running_stats", True), *_DEV]
_RNN = [("input_size", REQ), ("hidden_size", REQ), ("num_layers", 1), ("bias", True),
        ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)]
SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "Linear": [("in_features", REQ), ("out_features", REQ), ("bias", True), *_DEV],
    "Conv1d": _CONV, "Conv2d": _CONV,
    "MaxPool1d": _MAXPOOL, "MaxPool2d": _MAXPOOL,
    "AvgPool1d": _AVGPOOL, "AvgPool2d": [*_AVGPOOL, ("divisor_override", None)],
    "AdaptiveAvgPool1d": [("output_size", REQ)], "AdaptiveAvgPool2d": [("output_size", REQ)],
    "AdaptiveMaxPool1d": [("output_size", REQ), ("return_indices", False)],
    "AdaptiveMaxPool2d": [("output_size", REQ), ("return_indices", False)],
    "Flatten": [("start_dim", 1), ("end_dim", -1)],
    "Dropout": [("p", 0.5), ("inplace", False)],
    "Dropout2d": [("p", 0.5), ("inplace", False)],
    "BatchNorm1d": _BN, "BatchNorm2d": _BN,
    "Embedding": [("num_embeddings", REQ), ("embedding_dim", REQ), ("padding_idx", None),
                  ("max_norm", None), ("norm_type", 2.0), ("scale_grad_by_freq", False),
                  ("sparse", False), ("_weight", None), ("_freeze", False), *_DEV],
    "LSTM": [*_RNN, ("proj_size", 0), *_DEV], "GRU": [*_RNN, *_DEV],
    "RNN": [*_RNN[:3], ("nonlinearity", "tanh"), *_RNN[3:], *_DEV],
    "ReLU": [("inplace", False)], "Sigmoid": [], "Tanh": [], "Identity": [],
    "GELU": [("approximate", "none")], "LeakyReLU": [("negative_slope", 0.01),
                                                      ("inplace", False)],
    "ELU": [("alpha", 1.0), ("inplace", False)], "Softmax": [("dim", None)],
    "LogSoftmax": [("dim", None)], "SiLU": [("inplace", False)], "ReLU6": [("inplace", False)],
    "SELU": [("inplace", False)], "Softplus": [("beta", 1.0), ("threshold", 20.0)],
    "Softsign": [], "Mish": [("inplace", False)], "Hardsigmoid": [("inplace", False)],
    "Hardswish": [("inplace", False)],
    "Upsample": [("size", None), ("scale_factor", None), ("mode", "nearest"),
                 ("align_corners", None), ("recompute_scale_factor", None)],
    "UpsamplingNearest2d": [("size", None), ("scale_factor", None)],
    "UpsamplingBilinear2d": [("size", None), ("scale_factor", None)],
    "PixelShuffle": [("upscale_factor", REQ)],
    "ReflectionPad2d": [("padding", REQ)],
    "InstanceNorm1d": [("num_features", REQ), ("eps", 1e-5), ("momentum", 0.1),
                       ("affine", False), ("track_running_stats", False), *_DEV],
    "InstanceNorm2d": [("num_features", REQ), ("eps", 1e-5), ("momentum", 0.1),
                       ("affine", False), ("track_running_stats", False), *_DEV],
}
# Modules without parameters whose output shape is their input's: skipped when the input
# shape is derived from the first Linear.
_SHAPELESS = {"ReLU", "Sigmoid", "Tanh", "Identity", "GELU", "LeakyReLU", "ELU", "Softmax",
              "LogSoftmax", "SiLU", "ReLU6", "SELU", "Softplus", "Softsign", "Mish",
              "Hardsigmoid", "Hardswish", "Dropout", "Dropout2d", "Flatten"}
_SIMPLE_ACT = {"Sigmoid": "sigmoid", "Tanh": "tanh", "SiLU": "silu", "ReLU6": "relu6",
               "SELU": "selu", "Softsign": "softsign", "Mish": "mish",
               "Hardsigmoid": "hard_sigmoid", "Hardswish": "hard_silu"}
_INPUT_NAMES = ("input_shape", "INPUT_SHAPE")


class Bound:
    """One module's arguments bound to PyTorch's signature, values checked constant."""

    def __init__(self, r: Reader, cls: str, name: str, mod: Any) -> None:
        self.r, self.cls, self.name, self.node, self.mod = r, cls, name, mod.node, mod
        sig = SIGNATURES[cls]
        names = [n for n, _ in sig]
        if len(mod.args) > len(names):
            raise r.error(mod.node, f"nn.{cls} takes at most {len(names)} positional "
                                    "arguments", field=cls,
                          received=f"{len(mod.args)} positional arguments")
        vals = dict(zip(names, mod.args))
        for k, v in mod.kwargs.items():
            if k not in names:
                from ..errors import did_you_mean

                raise r.error(mod.node, f"nn.{cls} has no argument '{k}'. Valid arguments: "
                                        f"{', '.join(names)}", field=k,
                              received=f"{k}={r.seg(mod.node)}", hint=did_you_mean(k, names))
            if k in vals:
                raise r.error(mod.node, f"nn.{cls} got '{k}' both by position and by name",
                              field=k)
            vals[k] = v
        self.v: dict[str, Any] = {}
        for n, default in sig:
            if n not in vals:
                if default is REQ:
                    raise r.error(mod.node, f"nn.{cls} needs the argument '{n}'", field=n,
                                  received=r.seg(mod.node))
                self.v[n] = default
            elif n == "device":
                continue
            elif n == "dtype":
                path = getattr(vals[n], "path", None)
                if vals[n] is not None and path not in ("torch.float32", "torch.float"):
                    raise r.error(mod.node, f"nn.{cls}: seqc models are float32",
                                  field="dtype", received=r.seg(mod.node))
            else:
                self.v[n] = r.const(vals[n], mod.node, f"nn.{cls}({n}=...)")

    def __getitem__(self, k: str) -> Any:
        return self.v[k]

    def error(self, message: str, field: str, hint: str | None = None) -> DefinitionError:
        return self.r.error(self.node, f"nn.{self.cls}: {message}", field=field,
                            received=f"{field}={self.v.get(field)!r}", hint=hint)

    def number(self, k: str) -> float:
        """A real-number argument (an int or a float, not a bool), as float."""
        v = self.v[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(f"'{k}' must be a number", k)
        return float(v)

    def int(self, k: str, *, minimum: int = 0) -> int:
        v = self.v[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.error(f"'{k}' must be an integer >= {minimum}", k)
        return v

    def ints(self, k: str, nd: int, *, minimum: int = 0) -> tuple[int, ...]:
        v = self.v[k]
        v = [v] * nd if isinstance(v, int) else v
        if not isinstance(v, list) or len(v) != nd or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= minimum for x in v):
            raise self.error(f"'{k}' must be an integer or {nd} integers >= {minimum}", k)
        return tuple(v)

    def require(self, k: str, value: Any, why: str) -> None:
        if self.v[k] != value:
            raise self.error(f"{k}={self.v[k]!r} is not supported ({why})", k,
                             hint=f"use {k}={value!r}")


def _kaiming() -> dict:
    # kaiming_uniform_(a=sqrt(5)): gain^2 = 2 / (1 + 5) = 1/3, bound = sqrt(3 * (1/3) / fan_in)
    return {"type": "VarianceScaling", "scale": 1 / 3, "mode": "fan_in",
            "distribution": "uniform"}


def _uniform(fan_in: int) -> dict:
    b = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return {"type": "RandomUniform", "minval": -b, "maxval": b}


def _channels(b: Bound, t: TensorType, key: str, axis: int, rank: tuple[int, ...]) -> None:
    if len(t.shape) not in rank:
        raise b.r.error(b.node, f"nn.{b.cls} expects a rank-{'/'.join(map(str, rank))} input "
                                "(batch first)", field="input",
                        received=f"input of shape {_shape(t)}",
                        hint="check the input shape (PyTorch layout: N, C, ...)")
    have = t.shape[axis]
    if have is not None and have != b[key]:
        what = "width" if axis == -1 else "channel count"
        raise b.r.error(b.node, f"nn.{b.cls} declares {key}={b[key]}, but its input "
                                f"{what} is {have}", field=key,
                        received=f"{key}={b[key]}, input of shape {_shape(t)}",
                        hint=f"set {key}={have}, or fix the input shape / earlier layers")


def _shape(t: TensorType) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in t.shape) + ")"


# ---- one mapping per module kind: (Bound, input type, next module) -> spec layers ----


def _linear(b: Bound, t: TensorType) -> list[dict]:
    b.int("in_features", minimum=1)
    b.int("out_features", minimum=1)
    _channels(b, t, "in_features", -1, tuple(range(2, 9)))
    return [{"type": "Dense", "units": b["out_features"], "use_bias": bool(b["bias"]),
             "kernel_initializer": _kaiming(), "bias_initializer": _uniform(b["in_features"])}]


def _conv(b: Bound, t: TensorType, nd: int) -> list[dict]:
    cin, cout = b.int("in_channels", minimum=1), b.int("out_channels", minimum=1)
    groups = b.int("groups", minimum=1)
    _channels(b, t, "in_channels", 1, (nd + 2,))
    k = b.ints("kernel_size", nd, minimum=1)
    s = b.ints("stride", nd, minimum=1)
    d = b.ints("dilation", nd, minimum=1)
    b.require("padding_mode", "zeros", "seqc pads with zeros")
    pad = b["padding"]
    out: list[dict] = []
    if pad == "same":
        if any(x != 1 for x in s):
            raise b.error("padding='same' needs stride 1 in PyTorch", "padding")
        padding = "same"
    elif pad == "valid":
        padding = "valid"
    else:
        p = b.ints("padding", nd)
        if all(x == 1 for x in s) and all(2 * pi == di * (ki - 1) for pi, di, ki in
                                          zip(p, d, k)):
            padding = "same"  # identical to TF's 'same' at stride 1: equal pads both sides
        else:
            padding = "valid"
            if any(p):
                out.append(_zero_pad(b, p, nd))
    fan_in = cin // groups * math.prod(k)
    out.append({"type": f"Conv{nd}D", "name": b.name, "filters": cout, "kernel_size": list(k),
                "strides": list(s), "padding": padding, "data_format": "channels_first",
                "dilation_rate": list(d), "groups": groups, "use_bias": bool(b["bias"]),
                "kernel_initializer": _kaiming(), "bias_initializer": _uniform(fan_in)})
    return out


def _zero_pad(b: Bound, p: tuple[int, ...], nd: int) -> dict:
    padding: Any = [p[0], p[0]] if nd == 1 else [[x, x] for x in p]
    return {"type": f"ZeroPadding{nd}D", "name": f"{b.name}_pad", "padding": padding,
            "data_format": "channels_first"}


def _pool(b: Bound, t: TensorType, nd: int, kind: str) -> list[dict]:
    k = b.ints("kernel_size", nd, minimum=1)
    s = k if b["stride"] is None else b.ints("stride", nd, minimum=1)
    p = b.ints("padding", nd)
    b.require("ceil_mode", False, "seqc pools floor-sized outputs")
    out: list[dict] = []
    if kind == "Max":
        b.require("return_indices", False, "a Sequential passes one tensor on")
        if b.ints("dilation", nd, minimum=1) != (1,) * nd:
            b.require("dilation", 1, "seqc's pooling has no dilation")
        if any(p):
            raise b.error("padding > 0 pads with -inf in PyTorch, which seqc's pooling "
                          "cannot express", "padding", hint="use padding=0")
    else:
        if b.v.get("divisor_override") is not None:
            b.require("divisor_override", None, "seqc divides by the window size")
        if any(p):
            if not b["count_include_pad"]:
                raise b.error("padding > 0 with count_include_pad=False is not supported",
                              "count_include_pad", hint="use count_include_pad=True")
            out.append(_zero_pad(b, p, nd))  # zeros counted in the average, as PyTorch does
    if len(t.shape) != nd + 2:
        raise b.r.error(b.node, f"nn.{b.cls} expects a rank-{nd + 2} input", field="input",
                        received=f"input of shape {_shape(t)}")
    kind_name = "MaxPooling" if kind == "Max" else "AveragePooling"
    out.append({"type": f"{kind_name}{nd}D", "name": b.name, "pool_size": list(k),
                "strides": list(s), "padding": "valid", "data_format": "channels_first"})
    return out


def _adaptive(b: Bound, t: TensorType, nd: int, kind: str) -> list[dict]:
    size = b["output_size"]
    if not (size == 1 or size == [1] * nd):
        raise b.error("only output_size=1 (global pooling) is supported", "output_size",
                      hint="use output_size=1, or a fixed-size pooling layer")
    if kind == "Max":
        b.require("return_indices", False, "a Sequential passes one tensor on")
    name = "GlobalMaxPooling" if kind == "Max" else "GlobalAveragePooling"
    return [{"type": f"{name}{nd}D", "name": b.name, "data_format": "channels_first",
             "keepdims": True}]


def _batchnorm(b: Bound, t: TensorType, nd: int) -> list[dict]:
    b.int("num_features", minimum=1)
    _channels(b, t, "num_features", 1, (2, 3) if nd == 1 else (4,))
    if b["momentum"] is None:
        raise b.error("momentum=None (a cumulative average) is not supported", "momentum",
                      hint="use a number, e.g. the default 0.1")
    b.require("track_running_stats", True, "seqc keeps moving statistics")
    affine = bool(b["affine"])
    # PyTorch: running = (1 - m) * running + m * batch; Keras: moving * m' + batch * (1 - m').
    return [{"type": "BatchNormalization", "name": b.name, "axis": 1,
             "momentum": 1.0 - b.number("momentum"), "epsilon": b.number("eps"),
             "center": affine, "scale": affine}]


def _upsample(b: Bound, t: TensorType) -> list[dict]:
    """nn.Upsample / F.interpolate by an integer scale on (N, C, H, W) -> UpSampling2D.
    'nearest' (PyTorch's floor rule) repeats each pixel; 'bilinear' with align_corners=False
    uses half-pixel centres clamped at the border, as Keras' bilinear UpSampling2D does."""
    mode = {"UpsamplingNearest2d": "nearest", "UpsamplingBilinear2d": "bilinear"}.get(
        b.cls, b.v.get("mode"))
    # nn.UpsamplingBilinear2d is F.interpolate(..., align_corners=True)
    corners = True if b.cls == "UpsamplingBilinear2d" else b.v.get("align_corners")
    if len(t.shape) != 4:
        raise b.r.error(b.node, f"nn.{b.cls}: seqc reads 2-D upsampling of (N, C, H, W) maps "
                                "only", field="input", received=f"input of shape {_shape(t)}")
    if b["size"] is not None:
        raise b.error("size= (a fixed output size) is not read; seqc upsamples by an integer "
                      "scale_factor", "size", hint="use scale_factor=<integer>")
    if mode not in ("nearest", "bilinear"):
        raise b.error(f"mode={mode!r} is not supported (seqc has 'nearest' and 'bilinear'; "
                      "'nearest-exact', 'bicubic', 'area' and the others differ)", "mode")
    if mode == "bilinear" and corners:
        raise b.error("bilinear with align_corners=True maps the corner pixels onto each "
                      "other, which Keras' UpSampling2D (half-pixel centres) does not",
                      "align_corners", hint="use align_corners=False")
    if mode == "nearest" and corners is not None:
        raise b.error("align_corners is only for the linear modes (PyTorch refuses it with "
                      "'nearest')", "align_corners")
    if b.v.get("recompute_scale_factor"):
        b.require("recompute_scale_factor", None, "an integer scale needs no recomputing")
    sf = b["scale_factor"]
    sf = [sf, sf] if not isinstance(sf, (list, tuple)) else list(sf)
    if len(sf) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                               and x >= 1 and float(x).is_integer() for x in sf):
        raise b.error("scale_factor must be an integer >= 1 (or two); seqc's UpSampling2D "
                      "repeats or interpolates by whole factors", "scale_factor")
    return [{"type": "UpSampling2D", "name": b.name, "size": [int(x) for x in sf],
             "data_format": "channels_first", "interpolation": mode}]


def _reflection_pad(b: Bound, t: TensorType) -> dict:
    """nn.ReflectionPad2d(p): p, or (left, right, top, bottom) as F.pad orders them."""
    p = b["padding"]
    p = [p] * 4 if isinstance(p, int) and not isinstance(p, bool) else p
    if not isinstance(p, (list, tuple)) or len(p) != 4 or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in p):
        raise b.error("padding must be an integer or 4 integers (left, right, top, bottom) "
                      ">= 0", "padding")
    if len(t.shape) != 4:
        raise b.r.error(b.node, "nn.ReflectionPad2d pads (N, C, H, W) maps", field="input",
                        received=f"input of shape {_shape(t)}")
    left, right, top, bottom = p
    return {"type": "ReflectionPadding2D", "name": b.name,
            "padding": [[top, bottom], [left, right]], "data_format": "channels_first"}


def _instance_norm(b: Bound, t: TensorType, nd: int) -> dict:
    """nn.InstanceNorm1d/2d: each sample's channels normalized on their own over the spatial
    axes, with the instance's statistics in training and prediction alike (PyTorch's
    default track_running_stats=False): Keras' GroupNormalization with one group per channel,
    on axis 1. affine=True gives a per-channel weight (gamma, ones) and bias (beta, zeros);
    affine=False none, as PyTorch counts them."""
    b.int("num_features", minimum=1)
    _channels(b, t, "num_features", 1, (nd + 2,))
    b.require("track_running_stats", False, "seqc normalizes with each instance's own "
              "statistics; running averages used at prediction are not modelled")
    affine = bool(b["affine"])
    return {"type": "GroupNormalization", "name": b.name, "groups": -1, "axis": 1,
            "epsilon": b.number("eps"), "center": affine, "scale": affine}


def _embedding(b: Bound, t: TensorType) -> list[dict]:
    for k, why in (("padding_idx", "PyTorch zeroes that row and freezes it"),
                   ("max_norm", "seqc does not renormalise embeddings")):
        if b[k] is not None:
            b.require(k, None, why)
    return [{"type": "Embedding", "name": b.name, "input_dim": b.int("num_embeddings", minimum=1),
             "output_dim": b.int("embedding_dim", minimum=1),
             "embeddings_initializer": {"type": "RandomNormal", "mean": 0.0, "stddev": 1.0}}]


def _recurrent(b: Bound, t: TensorType, nxt: tuple | None) -> tuple[list[dict], bool]:
    """nn.LSTM/GRU/RNN return (output, state): what follows must select from that tuple.
    nn.RNN is a SimpleRNN with its nonlinearity and PyTorch's two biases (recurrent_bias)."""
    if b["batch_first"] is not True:
        raise b.error("seqc reads recurrent layers with batch_first=True only (inputs "
                      "(N, T, features), as in Keras)", "batch_first",
                      hint="pass batch_first=True (and feed (N, T, F) batches)")
    if b.v.get("proj_size", 0):
        b.require("proj_size", 0, "Keras LSTMs have no projection")
    hidden = b.int("hidden_size", minimum=1)
    layers = b.int("num_layers", minimum=1)
    if b.cls == "RNN" and b["nonlinearity"] not in ("tanh", "relu"):
        raise b.error("nonlinearity must be 'tanh' or 'relu'", "nonlinearity")
    _channels(b, t, "input_size", -1, (3,))
    select = None
    if nxt is not None and nxt[1].cls.startswith("<select:"):
        select = nxt[1].cls[8:-1]
    elif nxt is not None:
        raise b.r.error(nxt[1].node, f"nn.{b.cls} returns a tuple (output, state); the next "
                                     "module in nn.Sequential receives that tuple",
                        field="layer", received=b.r.seg(nxt[1].node),
                        hint="put a module between them whose forward is `return x[0][:, -1]` "
                             "(last step) or `return x[0]` (all steps)")
    bidir = bool(b["bidirectional"])
    # the last step of a bidirectional output (x[0][:, -1]) is the forward direction after
    # every step beside the backward one after the last step only: Keras' Bidirectional
    # with return_sequences=True aligns its backward output in time as PyTorch does, so
    # that is its last step (Cropping1D + Reshape), not return_sequences=False
    last_of_seq = bidir and select == "last"
    if last_of_seq and t.shape[1] is None:
        raise b.error("the last step of a bidirectional output (x[0][:, -1]) is read with a "
                      "known number of steps", "bidirectional",
                      hint="give the input shape with its number of steps")
    k = _uniform(hidden)
    rate = b.number("dropout")
    out = []
    for i in range(layers):
        seq = i < layers - 1 or select != "last" or last_of_seq
        cell = {"type": "SimpleRNN" if b.cls == "RNN" else b.cls, "units": hidden,
                "use_bias": bool(b["bias"]),
                "return_sequences": seq, "kernel_initializer": k, "recurrent_initializer": k,
                "bias_initializer": k}
        if b.cls == "LSTM":
            # PyTorch's b_ih and b_hh, each U(-k, k): the same parameters and training
            cell["unit_forget_bias"] = False
            cell["recurrent_bias"] = bool(b["bias"])
        elif b.cls == "RNN":  # h' = nonlinearity(W x + b_ih + U h + b_hh)
            cell["activation"] = b["nonlinearity"]
            cell["recurrent_bias"] = bool(b["bias"])
        else:
            cell["reset_after"] = True  # PyTorch's n = tanh(W x + b + r * (U h + b_h))
        name = b.name if i == 0 else f"{b.name}_l{i}"
        out.append({"type": "Bidirectional", "name": name, "layer": cell,
                    "merge_mode": "concat"} if bidir else {**cell, "name": name})
        if i < layers - 1 and rate:
            out.append({"type": "Dropout", "name": f"{b.name}_dropout{i}", "rate": rate})
    if last_of_seq:
        out += [{"type": "Cropping1D", "name": f"{b.name}_last", "cropping": [t.shape[1] - 1, 0]},
                {"type": "Reshape", "name": f"{b.name}_last_step", "target_shape": [2 * hidden]}]
    return out, select is not None


def _activation(b: Bound, t: TensorType) -> list[dict]:
    c, n = b.cls, b.name
    if c == "ReLU":
        return [{"type": "ReLU", "name": n}]
    if c == "LeakyReLU":
        return [{"type": "LeakyReLU", "name": n, "negative_slope": b.number("negative_slope")}]
    if c == "ELU":
        return [{"type": "ELU", "name": n, "alpha": b.number("alpha")}]
    if c == "GELU":
        if b["approximate"] not in ("none", "tanh"):
            raise b.error("approximate must be 'none' or 'tanh'", "approximate")
        return [{"type": "Activation", "name": n, "activation": {
            "type": "gelu", "approximate": b["approximate"] == "tanh"}}]
    if c in ("Softmax", "LogSoftmax"):
        dim = b["dim"]
        if dim is None:
            raise b.error("give dim explicitly (PyTorch's implicit dim is deprecated)", "dim",
                          hint="e.g. dim=1")
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise b.error("dim must be an integer", "dim")
        if c == "Softmax":
            return [{"type": "Softmax", "name": n, "axis": dim}]
        return [{"type": "Activation", "name": n,
                 "activation": {"type": "log_softmax", "axis": dim}}]
    if c == "Softplus":
        if b["beta"] != 1:
            b.require("beta", 1, "Keras' softplus has no beta")
        return [{"type": "Activation", "name": n, "activation": "softplus"}]
    if c == "Identity":
        return []
    return [{"type": "Activation", "name": n, "activation": _SIMPLE_ACT[c]}]


def _map(b: Bound, t: TensorType, nxt: tuple | None) -> tuple[list[dict], bool]:
    c = b.cls
    if c == "Linear":
        return [{**_linear(b, t)[0], "name": b.name}], False
    if c in ("Conv1d", "Conv2d"):
        return _conv(b, t, int(c[4])), False
    if c in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
        return _pool(b, t, int(c[-2]), c[:3]), False
    if c.startswith("Adaptive"):
        return _adaptive(b, t, int(c[-2]), c[8:11]), False
    if c == "Flatten" and b["start_dim"] == 0 and isinstance(b["end_dim"], int):
        # nn.Flatten(0, 1) folds the batch with dims of size 1 only (polynomial_nn's (N, 1)
        # -> (N,)): each sample keeps its values, a Reshape without those dims
        end = b["end_dim"] % len(t.shape)
        if end >= 1 and all(d == 1 for d in t.shape[1:end + 1]):
            b.r.note(b.node, f"nn.Flatten(0, {b['end_dim']}) on an input of shape "
                             f"{_shape(t)} folds only dimensions of size 1 into the batch: "
                             "read as a Reshape of each sample")
            return [{"type": "Reshape", "name": b.name,
                     "target_shape": list(t.shape[end + 1:])}], False
    if c == "Flatten":
        if b["start_dim"] != 1 or b["end_dim"] != -1:
            raise b.error("only Flatten(start_dim=1, end_dim=-1) is supported", "start_dim")
        return [{"type": "Flatten", "name": b.name}], False
    if c == "Dropout2d":
        p = b["p"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise b.error("p must be a number in [0, 1)", "p")
        if len(t.shape) == 2:
            # PyTorch (2.x) warns and runs feature dropout on the (N, C) input: each value
            # of each sample dropped on its own, which is nn.Dropout (checked in the tests)
            b.r.warn(b.node, f"nn.Dropout2d on a 2-D input of shape {_shape(t)} is read as "
                             "PyTorch runs it (with a deprecation warning): as nn.Dropout, "
                             "each value dropped on its own")
            return [{"type": "Dropout", "name": b.name, "rate": float(p)}], False
        if len(t.shape) != 4:
            raise b.r.error(b.node, "nn.Dropout2d drops whole channels of (N, C, H, W) maps",
                            field="input", received=f"input of shape {_shape(t)}")
        # Keras' SpatialDropout2D drops whole feature maps too, while training only.
        return [{"type": "SpatialDropout2D", "name": b.name, "rate": float(p),
                 "data_format": "channels_first"}], False
    if c == "Dropout":
        p = b["p"]
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise b.error("p must be a number in [0, 1)", "p")
        return [{"type": "Dropout", "name": b.name, "rate": float(p)}], False
    if c in ("BatchNorm1d", "BatchNorm2d"):
        return _batchnorm(b, t, int(c[-2])), False
    if c == "Embedding":
        return _embedding(b, t), False
    if c.startswith("Upsampl"):
        return _upsample(b, t), False
    if c == "PixelShuffle":
        if len(t.shape) != 4:
            raise b.r.error(b.node, "nn.PixelShuffle rearranges (N, C, H, W) maps",
                            field="input", received=f"input of shape {_shape(t)}")
        return [{"type": "PixelShuffle", "name": b.name,
                 "upscale_factor": b.int("upscale_factor", minimum=1)}], False
    if c in ("LSTM", "GRU", "RNN"):
        return _recurrent(b, t, nxt)
    if c == "ReflectionPad2d":
        return [_reflection_pad(b, t)], False
    if c.startswith("InstanceNorm"):
        return [_instance_norm(b, t, int(c[-2]))], False
    return _activation(b, t), False


# ---- the model ----


def _freeze(r: Reader, b: Bound, docs: list[dict]) -> None:
    """requires_grad=False on a module's parameters: its layers do not train."""
    for d in docs:
        if d["type"] == "BatchNormalization":
            raise r.error(b.node, f"nn.{b.cls} is frozen (requires_grad=False), but PyTorch "
                                  "still updates its running statistics in train mode, while "
                                  "a frozen Keras/seqc BatchNormalization runs in inference "
                                  "mode", field="requires_grad", received=r.seg(b.node),
                          hint="freeze the other modules only, or call .eval() semantics "
                               "explicitly by building without BatchNorm")
        d["trainable"] = False


def _flatten(r: Reader, model: ModelVal, prefix: str, out: list | None = None,
             inp: int = -1, ends: list | None = None) -> list[tuple[str, Any, ast.AST,
                                                                  list[int]]]:
    """The modules of a model, nested ones inlined, each with the flat indices of the items
    it reads (-1: the model's input): a chain reads the item before, a forward that
    branches (ModelVal.srcs) what it names."""
    out = [] if out is None else out
    start = len(out)
    ends = [] if ends is None else ends  # the flat index of each of model's items' output
    for k, (name, v, node) in enumerate(model.items):
        name = prefix + (name if name is not None else str(len(out) - start))
        srcs = [(ends[k - 1] if k else inp)] if model.srcs is None else [
            ends[j] if j >= 0 else inp for j in model.srcs[k]]
        sub = None
        if isinstance(v, ModelVal) and v.framework == "torch":
            v.consumed = True
            sub = v
        elif isinstance(v, Instance):  # a script-defined module: _pyscript_subclass
            v.consumed = True
            sub = read_instance(r, v)
        if sub is not None:
            if sub.outs is not None:
                raise r.error(node, f"{r.seg(node)}: a module whose forward() returns several "
                                    "tensors, used inside another model, is not read",
                              field="forward", received=r.seg(node))
            _flatten(r, sub, name + ".", out, srcs[0])
            ends.append(len(out) - 1 if len(out) > start and sub.items else srcs[0])
            continue
        if isinstance(v, TorchMod) and (v.cls in SIGNATURES or v.cls.startswith("<")):
            out.append((name, v, node, srcs))  # "<select:...>", "<view>": see torch_doc
            ends.append(len(out) - 1)
        elif isinstance(v, TorchMod):
            raise r.error(v.node, f"nn.{v.cls} is not supported in an nn.Sequential read by "
                                  "seqc", field="layer", received=r.seg(v.node),
                          hint="supported: " + ", ".join(sorted(SIGNATURES)))
        else:
            raise r.not_a_layer(v, node, "torch")
    return out


def _input(r: Reader, mods: list, module: Scope) -> tuple[list, str]:
    first = next((m for _, m in mods if m.cls not in _SHAPELESS
                  and not m.cls.startswith("<select:")), None)
    dtype = r.comment.get("input_dtype") or (
        "int64" if first is not None and first.cls == "Embedding" else "float32")
    if "input_shape" in r.comment:
        return r.comment["input_shape"], dtype
    x = r.bindings.x
    if x is not None and x.ndim >= 2:
        # The data the model is fed: its per-sample shape is the input, as PyTorch takes it.
        if first is not None and first.cls == "Embedding" and x.dtype.kind in "iu":
            dtype = "int64"
        return [int(d) for d in x.shape[1:]], dtype
    for name in _INPUT_NAMES:
        if name in module.vars:
            v = module.vars[name]
            if find_opaque(v) is not None:
                raise r.shape_error(find_opaque(v))
            if isinstance(v, int) and not isinstance(v, bool):
                v = (v,)
            if not is_input_shape(v):
                raise r.error(None, f"the module-level {name} must be a list of positive "
                                    "integers (per sample, batch excluded)",
                              field="input_shape", received=repr(v))
            return list(v), dtype
    if first is not None and first.cls == "Linear":
        return [first.int("in_features", minimum=1)], dtype
    if first is not None and view_input(first) is not None:  # forward(): x.view(-1, 1, 28, 28)
        return view_input(first), dtype
    if first is not None and first.cls == "Embedding":
        return [None], dtype  # token ids of any length
    node = first.node if first is not None else None
    what = f"nn.{first.cls}" if first is not None else "none"
    raise r.error(node, "PyTorch scripts do not declare the input shape, and seqc cannot "
                        f"derive it from the first module ({what})",
                  field="input_shape",
                  hint="add a comment `# seqc: input_shape = [1, 28, 28]` (per sample, "
                       "channels first, batch excluded) or a module-level "
                       "`input_shape = (1, 28, 28)`")


def _step(r: Reader, d: dict, t: TensorType | list, node: ast.AST,
          index: int) -> TensorType:
    """The output type of one spec layer: the kind's own parse, check and shape rule (`t`:
    the input type, or a list of them for a merge)."""
    from ..errors import layer_label
    from ..ops import get_op

    cfg = {k: v for k, v in d.items() if k not in ("type", "name", "trainable")}
    try:
        op = get_op(d["type"])
        if op.splits_activation:
            cfg.pop("activation", None)
        attrs = op.parse_attrs(cfg)
        op.check(attrs)
        out = op.infer(attrs, t if isinstance(t, list) else [t])[0]  # (return_state: after)
    except SeqcError as e:
        raise e.located(file=r.where(node),
                        layer=layer_label(index, d.get("name"), d["type"])) from None
    return out


def _state_step(r: Reader, node: ast.AST, index: int, d: dict,
                t: TensorType | list) -> TensorType:
    return _step(r, d, t, node, index)


def torch_doc(r: Reader, model: ModelVal, module: Scope) -> tuple[dict, list[ast.AST]]:
    ends: list[int] = []
    flat = _flatten(r, model, "", ends=ends)
    items = [(name, v, node) for name, v, node, _ in flat]
    srcs = [s for *_, s in flat]
    mods = []
    # requires_grad is per parameter in PyTorch: freezing a Sequential froze each module in it
    # at that moment (set_trainable), and a later requires_grad_(True) on one module wins.
    trainable = {name: v.trainable for name, v, _ in items}
    for name, v, _ in items:
        if v.cls.startswith("<"):
            mods.append((name, v))
        else:
            mods.append((name, Bound(r, v.cls, name, v)))
    if not mods:
        raise r.error(model.node, "the nn.Sequential has no modules", field="layers")
    shape, dtype = _input(r, mods, module)
    t = batched(tuple(shape), dtype)
    outs = [len(flat) - 1] if model.outs is None else [ends[k] for k in model.outs]
    if model.outs is not None or any(s != [i - 1] for i, s in enumerate(srcs)):
        state = None if model.state is None else ends[model.state.item]
        return _graph_doc(r, model, mods, srcs, trainable, t, outs, state)
    layers: list[dict] = []
    nodes: list[ast.AST] = []
    i = 0
    while i < len(mods):
        name, b = mods[i]
        if not isinstance(b, Bound) and b.cls == "<view>":  # a forward()'s view/reshape
            for d in view_layers(r, b, t, name):
                t = _step(r, d, t, b.node, len(layers))
                layers.append(d)
                nodes.append(b.node)
            i += 1
            continue
        if not isinstance(b, Bound):
            raise r.error(b.node, f"{b.kwargs.get('class', 'this module')} selects from a "
                                  "recurrent layer's (output, state) tuple, but follows no "
                                  "nn.LSTM/nn.GRU", field="layer", received=r.seg(b.node))
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        docs, consumed = _map(b, t, nxt)
        apply_inits(r, b.mod, name, docs)
        if not trainable[name]:
            _freeze(r, b, docs)
        for d in docs:
            t = _step(r, d, t, b.node, len(layers))
            layers.append(d)
            nodes.append(b.node)
        i += 2 if consumed else 1
    if not layers:
        raise r.error(model.node, "the nn.Sequential has only Identity modules",
                      field="layers")
    doc: dict = {"input_shape": shape, "layers": layers}
    if dtype != "float32":
        doc["input_dtype"] = dtype
    compile_cfg = torch_compile(r, layers)
    if compile_cfg and model.compile is None:
        model.compile = compile_cfg
    return doc, nodes


def _affine_grid(r: Reader, b: TorchMod, name: str, ins: list[TensorType]) -> dict:
    """F.affine_grid(theta, x.size()): the output size is x's (N, C, H, W) height and width."""
    size = b.kwargs.get("size")
    if size is None:
        t = ins[1]
        if t.rank != 4 or None in t.shape[2:]:
            raise r.error(b.node, "F.affine_grid(theta, x.size()) makes a 2-D grid from the "
                                  "size of an (N, C, H, W) tensor of known height and width",
                          field="size", received=f"{r.seg(b.node)} with x of shape {_shape(t)}")
        size = list(t.shape[2:])
    return {"type": "AffineGrid", "name": name, "size": size,
            "align_corners": b.kwargs["align_corners"]}


def _graph_doc(r: Reader, model: ModelVal, mods: list, srcs: list, trainable: dict,
               t0: TensorType, outs: list[int], state: int | None = None
               ) -> tuple[dict, list[ast.AST]]:
    """A forward() that branches or merges -> the graph form of the spec (entries reading
    what their `from` names): each module mapped as in a chain, on the type of the value it
    reads; merges are `<merge:Kind>` items (x + y, torch.cat)."""
    from ..ir.build import _describe_inputs

    types: dict[int, TensorType] = {-1: t0}
    names: dict[int, str] = {-1: "input"}
    readers: dict[int, int] = {}
    for s in srcs:
        for j in s:
            readers[j] = readers.get(j, 0) + 1
    layers: list[dict] = []
    nodes: list[ast.AST] = []
    i = 0
    while i < len(mods):
        name, b = mods[i]
        ins = [types[j] for j in srcs[i]]
        cur = [names[j] for j in srcs[i]]
        consumed = False
        if not isinstance(b, Bound) and b.cls.startswith("<merge:"):
            docs = [{"type": b.cls[7:-1], "name": name, **b.kwargs}]
        elif not isinstance(b, Bound) and b.cls == "<affine_grid>":
            docs = [_affine_grid(r, b, name, ins)]
            ins, cur = ins[:1], cur[:1]  # the second source gives its size only
        elif not isinstance(b, Bound) and b.cls == "<view>":
            docs = view_layers(r, b, ins[0], name)
        elif not isinstance(b, Bound):
            raise r.error(b.node, f"{b.kwargs.get('class', 'this module')} selects from a "
                                  "recurrent layer's (output, state) tuple, but follows no "
                                  "nn.LSTM/nn.GRU", field="layer", received=r.seg(b.node))
        else:
            # the next item, when it reads only this one and nothing else reads this one
            nxt = mods[i + 1] if i + 1 < len(mods) and srcs[i + 1] == [i] and readers.get(
                i) == 1 else None
            docs, consumed = _map(b, ins[0], nxt)
            apply_inits(r, b.mod, name, docs)
            if not trainable[name]:
                _freeze(r, b, docs)
        t = ins if len(ins) > 1 else ins[0]
        if i == state:  # forward(x, hidden): the layer taking and returning the state
            from ._pyscript_torch_state import wire

            docs, state_in, state_out, t, cur = wire(b, docs, cur, t, functools.partial(
                _state_step, r, b.node, len(layers)))
            layers += docs
            nodes += [b.node] * len(docs)
            docs = []
        for d in docs:
            try:
                t = _step(r, d, t, b.node, len(layers))
            except DefinitionError as e:  # name the values a merge reads, as build_dag does
                if len(cur) > 1:
                    e.received = f"{e.received}; inputs {_describe_inputs(cur, ins)}"
                    e.args = (e.format(),)
                raise
            layers.append({**d, "from": cur})
            nodes.append(b.node)
            cur = [d["name"]]
        for j in (i, i + 1) if consumed else (i,):
            types[j], names[j] = t, cur[0]
        i += 2 if consumed else 1
    compile_cfg = torch_compile(r, layers)
    if compile_cfg and model.compile is None and len(outs) > 1:
        r.note(None, f"{model.name or 'the model'} returns {len(outs)} tensors: the script's "
                     "loss trains what it picks from them, while seqc trains every output "
                     "with a loss of its own; the script's loss and optimizer are not taken "
                     "(give compile settings per output to train it)")
    elif compile_cfg and model.compile is None:
        model.compile = compile_cfg
    doc = {"inputs": {"input": {"shape": list(t0.shape[1:]), "dtype": t0.dtype}},
           "layers": layers, "outputs": [names[j] for j in outs]}
    if state is not None:  # PyTorch's (layers, N, hidden) state at the ONNX boundary
        doc["inputs"].update(state_in)
        doc["outputs"] += state_out
        doc["states"] = dict(zip(state_in, state_out))
    return doc, nodes

"""One torch.nn module -> the seqc spec layers computing the same, with PyTorch's semantics
(one mapping per module kind: its Bound arguments, its input type and the next module).

Tensors keep PyTorch's layout: the input is (N, C, *spatial) and the spatial kinds get
data_format="channels_first" (Flatten stays channels_last: on a (N, C, H, W) tensor that is
PyTorch's plain C-major reshape; Keras' channels_first Flatten would reorder to H, W, C).
Initializers are PyTorch's: weights kaiming_uniform(a=sqrt(5)) = VarianceScaling(1/3, fan_in,
uniform), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); recurrent weights and biases
U(-1/sqrt(hidden), 1/sqrt(hidden)) (PyTorch's two biases b_ih + b_hh are one Keras bias, so
its initial spread is that of one of them).
"""

from __future__ import annotations

import math
from typing import Any

from ..ir.types import TensorType
from ._pyscript_torch_bound import Bound

_SIMPLE_ACT = {"Sigmoid": "sigmoid", "Tanh": "tanh", "SiLU": "silu", "ReLU6": "relu6",
               "SELU": "selu", "Softsign": "softsign", "Mish": "mish",
               "Hardsigmoid": "hard_sigmoid", "Hardswish": "hard_silu"}


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

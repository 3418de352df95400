"""Reverse lowering, one node at a time (see `_onnx_reverse.py` for the walk over the graph and
the layouts): `_map` turns an ONNX node on the chain into the seqc layer(s) it stands for,
adding them to the `_State`, and returns the `_Value`s it makes; an operator or setting with
no layer raises `_Refused` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir.build import LayerConfig

_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Selu": "selu",
                "Softplus": "softplus", "Softsign": "softsign"}
_PASS = ("Dropout", "Identity")


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Value:
    """A tensor on the chain. kind: "flat" (N, F), "cf" (N, C, *S), "seq" (N, T, F),
    "time" (T, N, F), "rnn_y" (T, 1, N, H), "rnn_h" (1, N, H). `perm`: for a "flat" value
    made by flattening a channels-first one, seqc's feature j is ONNX feature perm[j]."""

    kind: str
    shape: tuple  # the ONNX shape, batch None
    perm: np.ndarray | None = None
    layer: int | None = None  # the recurrent layer that made an rnn_* value


@dataclass
class _State:
    layers: list[LayerConfig] = field(default_factory=list)
    weights: list[dict[str, np.ndarray]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, kind: str, config: dict, weights: dict | None = None) -> int:
        name = f"{kind.lower()}_{len(self.layers)}"
        self.layers.append(LayerConfig(kind, config, name))
        self.weights.append(weights or {})
        self.names.append(name)
        return len(self.layers) - 1


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _const(aux: dict[str, Any], name: str, what: str) -> np.ndarray:
    v = aux.get(name)
    if not isinstance(v, np.ndarray):
        raise _Refused(f"its {what} is not a constant")
    return v


def _map(node: Any, x: _Value, aux: dict[str, Any], st: _State, opset: int) -> list:
    op, a = node.op_type, _attrs(node)
    if op in _PASS:
        return [x] + [None] * (len(node.output) - 1)
    if op in _ACTIVATIONS:
        if op == "Selu" and (abs(a.get("alpha", 1.67326) - 1.67326) > 1e-4
                             or abs(a.get("gamma", 1.0507) - 1.0507) > 1e-4):
            raise _Refused("Selu with non-default alpha/gamma")
        st.add("Activation", {"activation": _ACTIVATIONS[op]})
        return [x]
    if op == "LeakyRelu":
        st.add("LeakyReLU", {"negative_slope": float(a.get("alpha", 0.01))})
        return [x]
    if op == "Elu":
        st.add("ELU", {"alpha": float(a.get("alpha", 1.0))})
        return [x]
    if op == "Softmax":
        return [_softmax(x, a, opset, st)]
    if op == "Gemm":
        return [_gemm(node, x, a, aux, st)]
    if op == "MatMul":
        w = _const(aux, node.input[1], "weight")
        if w.ndim != 2 or x.kind not in ("flat", "seq"):
            raise _Refused("MatMul by a 2-D constant of a (N, F) or (N, T, F) tensor only")
        st.add("Dense", {"units": int(w.shape[1]), "use_bias": False},
               {"kernel": _rows(w, x)})
        return [_Value(x.kind, (*x.shape[:-1], int(w.shape[1])))]
    if op == "Add":
        return [_bias(node, x, aux, st)]
    if op == "Conv":
        return [_conv(node, x, a, aux, st)]
    if op in ("MaxPool", "AveragePool"):
        return [_pool(x, a, st, op)]
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        if x.kind != "cf" or len(x.shape) not in (3, 4, 5):
            raise _Refused("global pooling of a channels-first tensor only")
        kind = ("GlobalAveragePooling" if op == "GlobalAveragePool" else "GlobalMaxPooling")
        st.add(f"{kind}{len(x.shape) - 2}D", {"keepdims": True})
        return [_Value("cf", (*x.shape[:2], *[1] * (len(x.shape) - 2)))]
    if op == "Flatten":
        if a.get("axis", 1) != 1:
            raise _Refused("Flatten with axis other than 1")
        return [_flatten(x, st)]
    if op == "Reshape":
        target = [int(v) for v in _const(aux, node.input[1], "target shape").ravel()]
        size = int(np.prod(x.shape[1:]))
        if len(target) == 2 and (target in ([0, -1], [-1, size], [0, size])):
            return [_flatten(x, st)]
        raise _Refused(f"Reshape to {target}: only flattening to (N, -1) is mapped")
    if op == "BatchNormalization":
        return [_batchnorm(node, x, a, aux, st)]
    if op == "Transpose":
        perm = list(a.get("perm", []))
        if perm == [1, 0, 2] and x.kind == "seq":
            return [_Value("time", (x.shape[1], None, x.shape[2]))]
        if perm == [1, 0, 2] and x.kind == "time" and x.layer is not None:
            st.layers[x.layer].config["return_sequences"] = True
            return [_Value("seq", (None, x.shape[0], x.shape[2]), layer=x.layer)]
        raise _Refused(f"Transpose {perm} outside a recurrent layer's input or output")
    if op in ("LSTM", "GRU", "RNN"):
        return _recurrent(node, x, a, aux, st)
    if op == "Squeeze":
        axes = list(a.get("axes", [])) or (
            _const(aux, node.input[1], "axes").tolist() if len(node.input) > 1 else [])
        if x.kind == "rnn_y" and axes == [1]:
            return [_Value("time", (x.shape[0], None, x.shape[3]), layer=x.layer)]
        if x.kind == "rnn_h" and axes == [0]:
            return [_last_state(x, st)]
        raise _Refused("Squeeze outside a recurrent layer's output")
    if op == "Gather":
        idx = _const(aux, node.input[1], "index")
        axis = a.get("axis", 0)
        if idx.ndim == 0 and x.layer is not None and (
                (x.kind == "rnn_h" and axis == 0 and int(idx) in (0, -1))
                or (x.kind == "time" and axis == 0 and int(idx) in (-1, x.shape[0] - 1))
                or (x.kind == "seq" and axis == 1 and int(idx) in (-1, x.shape[1] - 1))):
            return [_last_state(x, st)]
        raise _Refused("Gather other than a recurrent layer's last step")
    raise _Refused(f"no layer for the {op} operator")


def _rows(kernel: np.ndarray, x: _Value) -> np.ndarray:
    """A Dense kernel (in, units) with rows in seqc's feature order."""
    return kernel if x.perm is None else kernel[x.perm]


def _gemm(node: Any, x: _Value, a: dict, aux: dict, st: _State) -> _Value:
    if x.kind != "flat" or a.get("transA", 0):
        raise _Refused("Gemm of a (N, F) tensor only (transA=0)")
    w = _const(aux, node.input[1], "weight").astype(np.float32)
    kernel = (w.T if a.get("transB", 0) else w) * np.float32(a.get("alpha", 1.0))
    units = int(kernel.shape[1])
    weights = {"kernel": _rows(kernel, x)}
    if len(node.input) > 2 and node.input[2]:
        b = _const(aux, node.input[2], "bias") * np.float32(a.get("beta", 1.0))
        weights["bias"] = np.broadcast_to(b.astype(np.float32), (units,)).copy()
    st.add("Dense", {"units": units, "use_bias": "bias" in weights}, weights)
    return _Value("flat", (None, units))


def _bias(node: Any, x: _Value, aux: dict, st: _State) -> _Value:
    other = node.input[1] if isinstance(aux.get(node.input[1]), np.ndarray) else node.input[0]
    b = _const(aux, other, "addend")
    last = st.layers[-1] if st.layers else None
    if (last is None or last.type != "Dense" or last.config.get("use_bias", True)
            or b.size != last.config["units"] or x.kind not in ("flat", "seq")):
        raise _Refused("Add of a constant other than a bias after MatMul")
    last.config["use_bias"] = True
    st.weights[-1]["bias"] = b.reshape(-1).astype(np.float32)
    return x


def _pads(a: dict, rank: int) -> list[tuple[int, int]]:
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise _Refused(f"auto_pad {a['auto_pad']!r}: give explicit pads")
    pads = list(a.get("pads", [0] * 2 * rank))
    return [(int(pads[i]), int(pads[i + rank])) for i in range(rank)]


def _conv(node: Any, x: _Value, a: dict, aux: dict, st: _State) -> _Value:
    rank = len(x.shape) - 2
    if x.kind != "cf" or rank not in (1, 2, 3):
        raise _Refused("Conv of a channels-first (N, C, *S) tensor only")
    if a.get("group", 1) != 1:
        raise _Refused(f"grouped Conv (group={a['group']})")
    w = _const(aux, node.input[1], "kernel").astype(np.float32)
    ks = tuple(int(k) for k in w.shape[2:])
    strides = tuple(int(s) for s in a.get("strides", [1] * rank))
    dil = tuple(int(d) for d in a.get("dilations", [1] * rank))
    pads = _pads(a, rank)
    s = list(x.shape[2:])
    # Keras' "same" at stride 1 pads (k - 1) * d / 2 on each side; other pads (asymmetric,
    # or with strides, where Keras puts the extra one after) become a ZeroPadding layer.
    same = all(st_ == 1 and lo == hi == d * (k - 1) // 2 and d * (k - 1) % 2 == 0
               for (lo, hi), k, st_, d in zip(pads, ks, strides, dil))
    if same and any(lo for lo, _ in pads):
        pads = [(0, 0)] * rank
        padding = "same"
    else:
        padding = "valid"
    if any(p for pr in pads for p in pr):
        st.add(f"ZeroPadding{rank}D", {"padding": [list(p) for p in pads] if rank > 1
                                         else list(pads[0])})
        s = [n + lo + hi for n, (lo, hi) in zip(s, pads)]
    weights = {"kernel": np.transpose(w, (*range(2, 2 + rank), 1, 0))}
    if len(node.input) > 2 and node.input[2]:
        weights["bias"] = _const(aux, node.input[2], "bias").astype(np.float32)
    filters = int(w.shape[0])
    st.add(f"Conv{rank}D", {"filters": filters, "kernel_size": list(ks), "strides": list(strides),
                            "dilation_rate": list(dil), "padding": padding,
                            "use_bias": "bias" in weights}, weights)
    out = s if padding == "same" else [(n - d * (k - 1) - 1) // st_ + 1
                                       for n, k, st_, d in zip(s, ks, strides, dil)]
    return _Value("cf", (None, filters, *out))


def _pool(x: _Value, a: dict, st: _State, op: str) -> _Value:
    rank = len(x.shape) - 2
    if x.kind != "cf" or rank not in (1, 2, 3):
        raise _Refused("pooling of a channels-first (N, C, *S) tensor only")
    if any(p for pr in _pads(a, rank) for p in pr) or a.get("ceil_mode", 0) or any(
            d != 1 for d in a.get("dilations", [1] * rank)):
        raise _Refused("pooling with pads, ceil_mode or dilations")
    ks = [int(k) for k in a["kernel_shape"]]
    strides = [int(s) for s in a.get("strides", [1] * rank)]
    kind = "MaxPooling" if op == "MaxPool" else "AveragePooling"
    st.add(f"{kind}{rank}D", {"pool_size": ks, "strides": strides, "padding": "valid"})
    out = [(n - k) // s + 1 for n, k, s in zip(x.shape[2:], ks, strides)]
    return _Value("cf", (None, x.shape[1], *out))


def _flatten(x: _Value, st: _State) -> _Value:
    if x.kind == "flat":
        return x
    if x.kind not in ("cf", "seq"):
        raise _Refused("Flatten of a recurrent layer's raw output")
    size = int(np.prod(x.shape[1:]))
    perm = None
    if x.kind == "cf":
        c, spatial = x.shape[1], x.shape[2:]
        # seqc's feature j (order *S, C) is ONNX feature perm[j] (order C, *S).
        perm = np.arange(size).reshape(c, *spatial).transpose(
            *range(1, len(spatial) + 1), 0).ravel()
    st.add("Flatten", {})
    return _Value("flat", (None, size), perm=perm)


def _softmax(x: _Value, a: dict, opset: int, st: _State) -> _Value:
    rank = len(x.shape)
    axis = a.get("axis", -1 if opset >= 13 else 1)
    axis = axis + rank if axis < 0 else axis
    if opset < 13 and rank > 2:
        raise _Refused("Softmax before opset 13 on a tensor of rank > 2 (flattening softmax)")
    if x.kind == "cf":
        seqc_axis = -1 if axis == 1 else axis - 1
        if axis == 0:
            raise _Refused("Softmax over the batch axis")
    elif x.kind in ("flat", "seq"):
        if axis == 0:
            raise _Refused("Softmax over the batch axis")
        if x.perm is not None:
            raise _Refused("Softmax over features flattened channels-first")
        seqc_axis = axis - rank
    else:
        raise _Refused("Softmax of a recurrent layer's raw output")
    st.add("Softmax", {"axis": int(seqc_axis)})
    return x


def _batchnorm(node: Any, x: _Value, a: dict, aux: dict, st: _State) -> _Value:
    if x.kind not in ("cf", "flat"):
        raise _Refused("BatchNormalization of a (N, C, ...) or (N, F) tensor only")
    gamma, beta, mean, var = (_const(aux, node.input[k], what).astype(np.float32)
                              for k, what in ((1, "scale"), (2, "bias"), (3, "mean"),
                                              (4, "variance")))
    if x.perm is not None:
        gamma, beta, mean, var = (v[x.perm] for v in (gamma, beta, mean, var))
    st.add("BatchNormalization", {"axis": -1, "epsilon": float(a.get("epsilon", 1e-5)),
                                  "momentum": float(a.get("momentum", 0.9))},
           {"gamma": gamma, "beta": beta, "moving_mean": mean, "moving_variance": var})
    return x


# ONNX gate order -> Keras gate order, as indices into ONNX's gate blocks.
_GATES = {"LSTM": [0, 2, 3, 1], "GRU": [0, 1, 2], "RNN": [0]}  # LSTM: iofc -> ifco


def _recurrent(node: Any, x: _Value, a: dict, aux: dict, st: _State) -> list:
    op = node.op_type
    if x.kind != "time":
        raise _Refused(f"{op} input must be Transpose(x, [1, 0, 2]) of a (N, T, F) tensor")
    if a.get("direction", b"forward") not in (b"forward", "forward"):
        raise _Refused(f"{op} direction {a['direction']!r}: only forward is mapped")
    if a.get("layout", 0) or "clip" in a or a.get("input_forget", 0) or "activations" in a:
        raise _Refused(f"{op} with layout, clip, input_forget or activations")
    ins = list(node.input) + [""] * 8
    if ins[4]:
        raise _Refused(f"{op} with sequence_lens")
    for k in (5, 6):
        if ins[k]:
            v = aux.get(ins[k])
            zero = (isinstance(v, tuple) and v[0] == "fill" and v[1] == 0.0) or (
                isinstance(v, np.ndarray) and not v.any())
            if not zero:
                raise _Refused(f"{op} with a non-zero initial state")
    h = int(a["hidden_size"])
    w = _const(aux, ins[1], "W")[0]
    r = _const(aux, ins[2], "R")[0]
    n_g = len(_GATES[op])
    order = _GATES[op]

    def keras(m: np.ndarray) -> np.ndarray:  # (G*H, K) ONNX -> (K, G*H) Keras
        return np.concatenate([m[g * h:(g + 1) * h] for g in order]).T.astype(np.float32)

    b = _const(aux, ins[3], "B")[0] if ins[3] else np.zeros(2 * n_g * h, np.float32)
    wb, rb = b[:n_g * h], b[n_g * h:]
    reorder = lambda v: np.concatenate([v[g * h:(g + 1) * h] for g in order])  # noqa: E731
    weights = {"kernel": keras(w), "recurrent_kernel": keras(r)}
    config: dict[str, Any] = {"units": h, "return_sequences": False}
    if op == "GRU":
        reset_after = bool(a.get("linear_before_reset", 0))
        config["reset_after"] = reset_after
        weights["bias"] = (np.stack([reorder(wb), reorder(rb)]) if reset_after
                           else reorder(wb) + reorder(rb)).astype(np.float32)
    else:
        weights["bias"] = (reorder(wb) + reorder(rb)).astype(np.float32)
    kind = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}[op]
    if op == "RNN":
        config["activation"] = "tanh"
    layer = st.add(kind, config, weights)
    t = x.shape[0]
    return [_Value("rnn_y", (t, 1, None, h), layer=layer),
            _Value("rnn_h", (1, None, h), layer=layer),
            _Value("rnn_h", (1, None, h), layer=None)]  # Y_c: not a layer output


def _last_state(x: _Value, st: _State) -> _Value:
    """The recurrent layer's output at its last step: return_sequences=False."""
    if x.layer is None or x.layer != len(st.layers) - 1:
        raise _Refused("a recurrent state read after other layers")
    st.layers[x.layer].config["return_sequences"] = False
    return _Value("flat", (None, x.shape[-1]))

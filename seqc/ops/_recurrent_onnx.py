"""SimpleRNN / LSTM / GRU (and Bidirectional) -> one native ONNX RNN / LSTM / GRU node.

W = kernel^T, R = recurrent_kernel^T (LSTM gates i,f,c,o -> i,o,f,c), B = [Wb; Rb]; inputs are
made time-major (onnxruntime refuses layout=1); the last output is Y_h, never Y[-1].
Masks (any pattern, holes included) follow Keras exactly: the valid steps are compacted to the front
(TopK), run with sequence_lens, and the outputs gathered back (carry-forward or zeros).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ExportError
from .emitter_api import Emitter

ONNX_OP = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
# Keras LSTM blocks i,f,c,o -> ONNX i,o,f,c.
LSTM_ORDER = (0, 3, 1, 2)
INT64_MIN = np.iinfo(np.int64).min

_SUPPORTED = ("tanh, sigmoid, relu (plain or with negative_slope), leaky_relu, elu, hard_sigmoid, "
              "linear, softsign, softplus")


def onnx_activation(spec: Any) -> tuple[str, float | None, float | None]:
    """Keras activation spec (name or {"type": name, **kw}) -> (ONNX name, alpha, beta)."""
    if spec is None:
        spec = "linear"
    if isinstance(spec, str):
        name, kw = spec, {}
    else:
        kw = {k: v for k, v in dict(spec).items() if k != "type"}
        name = dict(spec).get("type")
    name = {"swish": "silu"}.get(name, name)
    simple = {"tanh": "Tanh", "sigmoid": "Sigmoid", "softsign": "Softsign",
              "softplus": "Softplus"}
    if name in simple and not kw:
        return simple[name], None, None
    if name == "linear" and not kw:
        return "Affine", 1.0, 0.0
    if name == "hard_sigmoid":
        # clip(slope x + offset, 0, 1): Keras 3's relu6(x + 3) / 6 by default, Keras 2's
        # clip(0.2x + 0.5, 0, 1) with slope=0.2 (see _activations.py).
        return "HardSigmoid", float(kw.get("slope", 1.0 / 6.0)), float(kw.get("offset", 0.5))
    if name == "elu":
        return "Elu", float(kw.get("alpha", 1.0)), None
    if name == "leaky_relu":
        return "LeakyRelu", float(kw.get("negative_slope", 0.2)), None
    if name == "relu" and kw.get("max_value") is None and not kw.get("threshold"):
        slope = float(kw.get("negative_slope") or 0.0)
        return ("LeakyRelu", slope, None) if slope else ("Relu", None, None)
    raise ExportError(
        f"ONNX recurrent operators have no activation equal to Keras' {spec!r}",
        field="activation", received=f"activation={spec!r}",
        hint=f"use one of: {_SUPPORTED}")


def _weights(kind: str, a: Any, p: dict, units: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """(W (k*u, F), R (k*u, u), B (2*k*u,) or None) for one direction, in ONNX gate order."""
    k = GATES[kind]
    kernel = np.asarray(p["kernel"], np.float32)
    rec = np.asarray(p["recurrent_kernel"], np.float32)
    bias = p.get("bias") if getattr(a, "use_bias", True) else None
    wb = rb = None
    if bias is not None:
        bias = np.asarray(bias, np.float32)
        if bias.ndim == 2:  # GRU reset_after / LSTM recurrent_bias: [input; recurrent]
            wb, rb = bias[0], bias[1]
        else:
            wb, rb = bias, np.zeros_like(bias)

    def order(m: np.ndarray) -> np.ndarray:  # gate blocks along the last axis
        if kind != "LSTM":
            return m
        blocks = np.split(m, k, axis=-1)
        return np.concatenate([blocks[i] for i in LSTM_ORDER], axis=-1)

    w, r = order(kernel).T, order(rec).T
    b = None if wb is None else np.concatenate([order(wb), order(rb)])
    return w, r, b


def _activations(kind: str, a: Any) -> list[str | Any]:
    act = getattr(a, "activation", "tanh")
    if kind == "SimpleRNN":
        return [act]
    rec = getattr(a, "recurrent_activation", "sigmoid")
    return [rec, act] if kind == "GRU" else [rec, act, act]


class _Dims:
    """Scalars from the input's runtime shape (N, T, F), made once per lowering."""

    def __init__(self, em: Emitter, x: str) -> None:
        self.em, self.x = em, x
        self._shape: str | None = None
        self._vals: dict[Any, str] = {}

    def _get(self, i: int) -> str:
        em = self.em
        if i not in self._vals:
            if self._shape is None:
                self._shape = em.op("Shape", [self.x])
            self._vals[i] = em.op("Gather", [self._shape, em.const(np.array(i, np.int64), "i")],
                                  axis=0)
        return self._vals[i]

    @property
    def n(self) -> str:
        return self._get(0)

    @property
    def t(self) -> str:
        return self._get(1)


def _i64(em: Emitter, v: Any, hint: str) -> str:
    return em.const(np.asarray(v, np.int64), hint)


def _reduce(em: Emitter, op: str, x: str, axis: int) -> str:
    # ReduceSum takes axes as an input from opset 13, the other reductions from opset 18.
    if op == "ReduceSum" or em.opset >= 18:
        return em.op(op, [x, _i64(em, [axis], "axes")], keepdims=0)
    return em.op(op, [x], axes=[axis], keepdims=0)


_MERGE_REDUCE = {"sum": "ReduceSum", "mul": "ReduceProd", "ave": "ReduceMean"}


def _compatible(layers: list) -> bool:
    (op0, a0, _, _), (op1, a1, _, _) = layers
    return (op0.kind == op1.kind and a0.units == a1.units
            and getattr(a0, "reset_after", True) == getattr(a1, "reset_after", True))


def lower_recurrent(em: Emitter, x: str, mask: str | None, layers: list, *,
                    merge_mode: str | None = None, initial: list[str] = (),
                    states: list[str] | None = None) -> str:
    """Lower one recurrent layer, or a Bidirectional pair, to a native ONNX node (see module
    docstring). `layers` = [(op, attrs, params, prefix)]; returns the IR-layout output.
    One layer only: `initial` are its initial_state values ((N, units) each, Keras' order:
    ONNX's initial_h, initial_c), and a `states` list receives its final state ((N, units)
    each: ONNX's Y_h, Y_c) for return_state."""
    if len(layers) not in (1, 2):
        raise ValueError("lower_recurrent takes one layer or a (forward, backward) pair")
    if len(layers) == 2 and (initial or states is not None):
        raise ValueError("initial and final states are lowered for one layer")
    if len(layers) == 2:
        if merge_mode not in _MERGE_REDUCE and merge_mode != "concat":
            raise ExportError("Bidirectional exports with merge_mode concat, sum, mul or ave",
                              field="merge_mode", received=f"merge_mode={merge_mode!r}",
                              hint="pick one of concat, sum, mul, ave")
        if not _compatible(layers):
            return _separate(em, x, mask, layers, merge_mode)
    kinds = {op.kind for op, _, _, _ in layers}
    kind = layers[0][0].kind
    if kind not in ONNX_OP or len(kinds) != 1:
        raise ExportError(f"no native ONNX recurrent operator for {kind}", field="layer",
                          received=f"layer kinds {sorted(kinds)}")
    a0 = layers[0][1]
    units = int(a0.units)
    d = len(layers)
    seqs = bool(getattr(a0, "return_sequences", False))
    backward = [bool(getattr(a, "go_backwards", False)) for _, a, _, _ in layers]
    zof = [bool(getattr(a, "zero_output_for_mask", False)) for _, a, _, _ in layers]
    direction = "bidirectional" if d == 2 else ("reverse" if backward[0] else "forward")

    # ---- weights and attributes ----
    parts = [_weights(kind, a, p, units) for _, a, p, _ in layers]
    name = (lambda s: s) if d == 2 else (lambda s: layers[0][3] + s)
    w = em.weight(name("kernel"), np.stack([pt[0] for pt in parts]))
    r = em.weight(name("recurrent_kernel"), np.stack([pt[1] for pt in parts]))
    b = ""
    if any(pt[2] is not None for pt in parts):
        zeros = np.zeros(2 * GATES[kind] * units, np.float32)
        b = em.weight(name("bias"), np.stack([zeros if pt[2] is None else pt[2] for pt in parts]))
    acts, alphas, betas = [], [], []
    for _, a, _, _ in layers:
        for spec in _activations(kind, a):
            nm, al, be = onnx_activation(spec)
            acts.append(nm)
            # onnxruntime consumes alpha/beta only for the functions that take them, in order.
            if al is not None:
                alphas.append(al)
            if be is not None:
                betas.append(be)
    attrs: dict[str, Any] = {"hidden_size": units, "direction": direction}
    default = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"],
               "LSTM": ["Sigmoid", "Tanh", "Tanh"]}[ONNX_OP[kind]] * d
    if acts != default:
        attrs.update(activations=acts, activation_alpha=alphas or None,
                     activation_beta=betas or None)
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(getattr(a0, "reset_after", True)))

    dims = _Dims(em, x)
    st = _States(em, kind, units, initial, states)
    if mask is None:
        return _unmasked(em, x, layers, w, r, b, attrs, seqs, backward, merge_mode, d, units,
                         st)
    return _masked(em, x, mask, dims, w, r, b, attrs, seqs, backward, zof, merge_mode, d,
                   units, ONNX_OP[kind], st)


class _States:
    """A layer's initial_state (ONNX inputs 5 and 6, as (1, N, H)) and return_state (Y_h and
    Y_c, as (N, H)) around its native node."""

    def __init__(self, em: Any, kind: str, units: int, initial: list[str],
                 states: list[str] | None) -> None:
        self.em, self.units, self.states = em, units, states
        self.initial = [em.op("Unsqueeze", [v, _i64(em, [0], "axes")]) for v in initial]
        self.n_out = 3 if kind == "LSTM" and states is not None else 2

    def inputs(self, base: list[str]) -> list[str]:
        """The node's inputs: X, W, R, then B, sequence_lens, initial_h[, initial_c]."""
        if not self.initial:
            return base
        return [*base, *[""] * (5 - len(base)), *self.initial]

    def run(self, onnx_op: str, inputs: list[str], attrs: dict) -> tuple[str, str]:
        """(Y, Y_h); fills `states` with the final state."""
        outs = self.em.op(onnx_op, self.inputs(inputs), n_out=self.n_out, **attrs)
        if self.states is not None:
            self.states.extend(_merge_last(self.em, v, 1, self.units, None) for v in outs[1:])
        return outs[0], outs[1]


def _time_major_input(em: Emitter, x: str) -> str:
    """x as (T, N, F): reuse a stacked recurrent layer's time-major output when x is one."""
    return em.form_of(x, "time_major") or em.op("Transpose", [x], perm=[1, 0, 2])


def _unmasked(em, x, layers, w, r, b, attrs, seqs, backward, merge_mode, d, units,
              st: _States) -> str:
    kind = layers[0][0].kind
    xt = _time_major_input(em, x)
    inputs = [xt, w, r] + ([b] if b else [])
    y, y_h = st.run(ONNX_OP[kind], inputs, attrs)
    if not seqs:
        return _merge_last(em, y_h, d, units, merge_mode)
    if d == 1 and backward[0]:
        # Keras returns a go_backwards layer's outputs in processing (reversed) order.
        y = em.op("Slice", [y, _i64(em, [-1], "start"), _i64(em, [INT64_MIN], "end"),
                            _i64(em, [0], "axis"), _i64(em, [-1], "step")])
    # Bidirectional flips its backward outputs back, so ONNX's Y is already aligned.
    if d == 2 and merge_mode != "concat":
        tm = _reduce(em, _MERGE_REDUCE[merge_mode], y, 1)  # (T, N, H)
        out = em.op("Transpose", [tm], perm=[1, 0, 2])
        em.offer_form(out, "time_major", lambda: tm)
        return out
    yt = em.op("Transpose", [y], perm=[2, 0, 1, 3])  # (N, T, D, H)
    out = em.op("Reshape", [yt, _i64(em, [0, 0, -1], "shape")])

    def time_major(y=y) -> str:
        if d == 1:
            return em.op("Reshape", [y, _i64(em, [0, -1, units], "shape")])
        tn = em.op("Transpose", [y], perm=[0, 2, 1, 3])
        return em.op("Reshape", [tn, _i64(em, [0, 0, -1], "shape")])

    em.offer_form(out, "time_major", time_major)
    return out


def _merge_last(em: Emitter, y_h: str, d: int, units: int, merge_mode: str | None) -> str:
    """Y_h (D, N, H) -> (N, D*H) (concat) or the D directions reduced."""
    if d == 1:
        return em.op("Reshape", [y_h, _i64(em, [-1, units], "shape")])
    if merge_mode != "concat":
        return _reduce(em, _MERGE_REDUCE[merge_mode], y_h, 0)
    t = em.op("Transpose", [y_h], perm=[1, 0, 2])
    return em.op("Reshape", [t, _i64(em, [0, -1], "shape")])


def _masked(em, x, mask, dims, w, r, b, attrs, seqs, backward, zof, merge_mode, d, units,
            onnx_op, st: _States) -> str:
    """Keras masking for any mask: masked steps keep the state. Valid steps are moved to the
    front of each row in order (TopK of m*T - t), the node runs with sequence_lens = the count,
    and each output step gathers the state Keras holds there. ONNX zeroes Y beyond a row's
    length, which gives Keras' zeros (index -1 or the length points there when a row has a
    masked step). Temporaries: int64 (N, T) index arrays; the gathers copy x and Y once."""
    n, t = dims.n, dims.t
    one = _i64(em, 1, "one")
    m = em.op("Cast", [mask], to=7)  # int64 (N, T)
    lens = em.op("Cast", [_reduce(em, "ReduceSum", m, 1)], to=6)  # int32 (N,)
    steps = em.op("Range", [_i64(em, 0, "zero"), t, one])  # (T,)
    key = em.op("Sub", [em.op("Mul", [m, t]), steps])
    k = em.op("Unsqueeze", [t, _i64(em, [0], "axes")])
    _, order = em.op("TopK", [key, k], n_out=2, axis=1, largest=1, sorted=1)  # (N, T)
    # x (N, T, F) flattened; row n step order[n, s] lands at time-major (s, n).
    f = em.type_of(x).shape[-1]
    if f is None:
        raise ExportError("a recurrent layer needs a known feature size", field="input",
                          received=f"input {em.type_of(x)}")
    flat_x = em.op("Reshape", [x, _i64(em, [-1, f], "shape")])
    row_start = em.op("Range", [_i64(em, 0, "zero"), em.op("Mul", [n, t]), t])  # (N,)
    src = em.op("Add", [em.op("Transpose", [order], perm=[1, 0]), row_start])  # (T, N)
    xt = em.op("Gather", [flat_x, src], axis=0)  # (T, N, F), valid steps first
    inputs = [xt, w, r, b, lens]
    y, y_h = st.run(onnx_op, inputs, attrs)

    if not seqs:
        if any(zof):
            # The last processed step's output is zeroed when that step is masked.
            cols = em.op("Gather", [mask, _i64(em, [0 if bk else -1 for bk in backward],
                                                "last_step")], axis=1)  # (N, D)
            keep = em.op("Or", [em.op("Transpose", [cols], perm=[1, 0]),
                                em.const(np.array([[not z] for z in zof]), "no_zero_output")])
            factor = em.op("Unsqueeze", [em.op("Cast", [keep], to=1), _i64(em, [2], "axes")])
            y_h = em.op("Mul", [y_h, factor])
        return _merge_last(em, y_h, d, units, merge_mode)

    # Per direction, the compacted step each output position reads (-1 / length = a zero row).
    count = em.op("CumSum", [m, _i64(em, 1, "one")])  # valid steps up to and including t
    before = em.op("Sub", [count, one])  # rank of a valid step
    reads = []
    for bk, z in zip(backward, zof):
        if z:
            idx = em.op("Where", [mask, before, _i64(em, -1, "minus_one")])
        elif bk:
            idx = em.op("Sub", [count, m])  # state after the valid steps at or after t
        else:
            idx = before  # state after the valid steps up to t; -1 = none yet = zeros
        reads.append(idx)
    if d == 1 and backward[0]:
        reads[0] = em.op("Slice", [reads[0], _i64(em, [-1], "start"),
                                   _i64(em, [INT64_MIN], "end"), _i64(em, [1], "axis"),
                                   _i64(em, [-1], "step")])
    flat_y = em.op("Reshape", [y if d == 1 else em.op("Transpose", [y], perm=[0, 2, 1, 3]),
                               _i64(em, [-1, units], "shape")])  # rows (t, n, dir)
    if d == 1:
        offset = em.op("Unsqueeze", [em.op("Range", [_i64(em, 0, "zero"), n, one]),
                                     _i64(em, [1], "axes")])  # (N, 1)
        idx = em.op("Add", [em.op("Mul", [reads[0], n]), offset])
        return em.op("Gather", [flat_y, idx], axis=0)  # (N, T, H)
    nd = em.op("Mul", [n, _i64(em, d, "directions")])
    offset = em.op("Reshape", [em.op("Range", [_i64(em, 0, "zero"), nd, one]),
                               _i64(em, [-1, 1, d], "shape")])  # (N, 1, D): n*D + dir
    if reads[0] == reads[1]:
        per_dir = em.op("Unsqueeze", [reads[0], _i64(em, [2], "axes")])
    else:
        per_dir = em.op("Concat", [em.op("Unsqueeze", [rd, _i64(em, [2], "axes")])
                                   for rd in reads], axis=2)
    idx = em.op("Add", [em.op("Mul", [per_dir, nd]), offset])
    g = em.op("Gather", [flat_y, idx], axis=0)  # (N, T, D, H)
    if merge_mode == "concat":
        return em.op("Reshape", [g, _i64(em, [0, 0, -1], "shape")])
    return _reduce(em, _MERGE_REDUCE[merge_mode], g, 2)


def _separate(em: Emitter, x: str, mask: str | None, layers: list, merge_mode: str) -> str:
    """A Bidirectional whose two layers cannot share one ONNX node (different kinds, units or
    GRU reset_after): two nodes, the backward outputs flipped back as Keras does."""
    yf = lower_recurrent(em, x, mask, [layers[0]])
    yb = lower_recurrent(em, x, mask, [layers[1]])
    if getattr(layers[1][1], "return_sequences", False):
        yb = em.op("Slice", [yb, _i64(em, [-1], "start"), _i64(em, [INT64_MIN], "end"),
                             _i64(em, [1], "axis"), _i64(em, [-1], "step")])
    if merge_mode == "concat":
        return em.op("Concat", [yf, yb], axis=-1)
    if merge_mode == "sum":
        return em.op("Add", [yf, yb])
    if merge_mode == "mul":
        return em.op("Mul", [yf, yb])
    return em.op("Mul", [em.op("Add", [yf, yb]), em.const(np.array(0.5, np.float32), "half")])

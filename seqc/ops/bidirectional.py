"""Bidirectional(rnn): y = merge(rnn_fw(x), flip_t(rnn_bw(x))) with merge concat/sum/mul/ave;
the backward layer is the wrapped one with go_backwards=True unless `backward_layer` is given.

ONNX: one native RNN/LSTM/GRU with direction="bidirectional" (seqc.ops._recurrent_onnx).
Shape: (N, T, F) -> (N, T, u) with return_sequences, else (N, u); u = 2*units for concat.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DefinitionError, did_you_mean
from ..ir.types import TensorType
from ._promote import always as promote_always
from .base import (
    BadExample,
    Example,
    LayerSpec,
    OpDef,
    ParamSpec,
    freeze,
    register,
    wrapped,
)

MERGE_MODES = ("concat", "sum", "mul", "ave")
PREFIXES = ("forward/", "backward/")
RNN_KINDS = ("SimpleRNN", "LSTM", "GRU")


def _rnn(spec: Any, name: str) -> tuple[OpDef, Any]:
    op, attrs = wrapped(spec)
    if op.kind not in RNN_KINDS:
        raise DefinitionError(
            f"Bidirectional wraps a recurrent layer ({', '.join(RNN_KINDS)})", field=name,
            received=f"{name}={op.kind}",
            hint="use TimeDistributed to apply a layer at every timestep"
            if op.kind not in ("Bidirectional", "TimeDistributed") else None)
    return op, attrs


def _spec(op: OpDef, attrs: Any) -> Any:
    return freeze({"class_name": op.kind, "config": op.attrs_to_config(attrs)})


@dataclass(frozen=True)
class BidirectionalAttrs:
    layer: LayerSpec
    merge_mode: str | None = "concat"
    weights: Any = None
    backward_layer: LayerSpec | None = None

    def __post_init__(self) -> None:
        # Canonical form, as Keras builds it: an explicit backward layer (the wrapped layer with
        # go_backwards=True), and zero_output_for_mask forced to return_sequences on both, so
        # a spec naming only `layer` and Keras' get_config() (which names both) parse alike.
        fw_op, fw = _rnn(self.layer, "layer")
        if self.backward_layer is None:
            bw_op, bw = fw_op, dataclasses.replace(fw, go_backwards=True)
        else:
            bw_op, bw = _rnn(self.backward_layer, "backward_layer")
        if fw.go_backwards == bw.go_backwards:
            raise DefinitionError(
                "the forward and backward layers need different `go_backwards` values",
                field="backward_layer" if self.backward_layer is not None else "layer",
                received=f"layer.go_backwards={fw.go_backwards}, "
                         f"backward_layer.go_backwards={bw.go_backwards}",
                hint="leave go_backwards at false on the wrapped layer")
        for attr in ("return_sequences", "stateful", "return_state"):
            if getattr(fw, attr, None) != getattr(bw, attr, None):
                raise DefinitionError(
                    f"the forward and backward layers need the same `{attr}`",
                    field="backward_layer", received=f"layer.{attr}={getattr(fw, attr)}, "
                    f"backward_layer.{attr}={getattr(bw, attr)}")
        if fw.return_state:
            raise DefinitionError(
                "Bidirectional over a layer with return_state=True is not supported by seqc",
                field="layer", received="layer.return_state=True",
                hint="seqc returns the states of a SimpleRNN, LSTM or GRU used on its own")
        if fw.stateful:
            raise DefinitionError(
                "Bidirectional over a stateful layer is not supported by seqc",
                field="layer", received="layer.stateful=True",
                hint="seqc carries the state of a stateful SimpleRNN, LSTM or GRU used on its "
                     "own; use stateful=False inside Bidirectional")
        fw = dataclasses.replace(fw, zero_output_for_mask=fw.return_sequences)
        bw = dataclasses.replace(bw, zero_output_for_mask=bw.return_sequences)
        object.__setattr__(self, "layer", _spec(fw_op, fw))
        object.__setattr__(self, "backward_layer", _spec(bw_op, bw))


@functools.lru_cache(maxsize=256)
def layers(a: BidirectionalAttrs) -> tuple[tuple[OpDef, Any], tuple[OpDef, Any]]:
    """((forward kind, attrs), (backward kind, attrs))."""
    return wrapped(a.layer), wrapped(a.backward_layer)


def _sub(params: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


@register
class Bidirectional(OpDef):
    kind = "Bidirectional"
    # Keras builds the backward layer from the forward one's config when none is given.
    wrapped_weights = {"layer": ("forward/", None), "backward_layer": ("backward/", "layer")}
    Attrs = BidirectionalAttrs
    category = "recurrent"
    promotes_integers = promote_always  # it wraps a recurrent kind, which promotes
    summary = "Runs a recurrent layer forwards and backwards in time and merges the outputs."
    examples = [
        Example({"layer": {"type": "LSTM", "units": 2}}, (3, 2)),
        Example({"layer": {"type": "GRU", "units": 2, "return_sequences": True},
                 "merge_mode": "sum"}, (3, 2)),
        Example({"layer": {"type": "SimpleRNN", "units": 2, "return_sequences": True},
                 "merge_mode": "mul"}, (4, 2), mask_lengths=(4, 2, 3)),
        Example({"layer": {"type": "GRU", "units": 2, "reset_after": False},
                 "merge_mode": "ave"}, (3, 2), mask_lengths=(2, 3, 1)),
        Example({"layer": {"type": "LSTM", "units": 2, "return_sequences": True}},
                (None, 2), mask_lengths=(3, 1, 4)),
        Example({"layer": {"type": "SimpleRNN", "units": 2},
                 "backward_layer": {"type": "SimpleRNN", "units": 3, "go_backwards": True}},
                (3, 2)),
    ]
    bad_examples = [
        BadExample({"layer": {"type": "Dense", "units": 2}}, (3, 2), "recurrent"),
        BadExample({"layer": {"type": "LSTM", "units": 2}, "merge_mode": None}, (3, 2),
                   "merge_mode"),
        BadExample({"layer": {"type": "LSTM", "units": 2}, "merge_mode": "avg"}, (3, 2),
                   "did you mean"),
        BadExample({"layer": {"type": "LSTM", "units": 2, "go_backwards": True}}, (3, 2),
                   "go_backwards"),
        BadExample({"layer": {"type": "LSTM", "units": 2},
                    "backward_layer": {"type": "LSTM", "units": 2, "go_backwards": True,
                                       "return_sequences": True}}, (3, 2),
                   "return_sequences"),
        BadExample({"layer": {"type": "LSTM", "units": 2}}, (3,), "timesteps"),
        BadExample({"layer": {"type": "GRU", "units": 2, "stateful": True}}, (3, 2), "stateful"),
        BadExample({"layer": {"type": "SimpleRNN", "units": 2}, "merge_mode": "sum",
                    "backward_layer": {"type": "SimpleRNN", "units": 3, "go_backwards": True}},
                   (3, 2), "merge_mode"),
    ]

    def check(self, a: BidirectionalAttrs) -> None:
        if a.merge_mode is None:
            raise DefinitionError(
                "merge_mode=None returns two tensors, which a sequential model cannot carry",
                field="merge_mode", received="merge_mode=None",
                hint="use merge_mode 'concat' (the default), 'sum', 'mul' or 'ave'")
        if a.merge_mode not in MERGE_MODES:
            raise DefinitionError(
                f"'merge_mode' must be one of {', '.join(MERGE_MODES)}", field="merge_mode",
                received=f"merge_mode={a.merge_mode!r}",
                hint=did_you_mean(a.merge_mode, MERGE_MODES))
        if a.weights is not None:
            raise DefinitionError("Bidirectional's `weights` argument is not supported",
                                  field="weights", received="weights=[...]",
                                  hint="set weights after building (model.set_weights)")

    def output_masked(self, a: BidirectionalAttrs, in_masked: bool) -> bool:
        (fw, fa), (bw, ba) = layers(a)
        fw.output_masked(fa, in_masked)
        bw.output_masked(ba, in_masked)
        return in_masked and fa.return_sequences  # Keras' compute_mask

    def infer(self, a: BidirectionalAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (fw, fa), (bw, ba) = layers(a)
        try:
            (yf,) = fw.infer(fa, in_types)
            (yb,) = bw.infer(ba, in_types)
        except DefinitionError as e:
            e.field = f"layer.{e.field}" if e.field else "layer"
            raise
        if a.merge_mode == "concat":
            return [yf.with_shape((*yf.shape[:-1], yf.shape[-1] + yb.shape[-1]))]
        if yf.shape != yb.shape:
            raise DefinitionError(
                f"merge_mode '{a.merge_mode}' needs forward and backward outputs of one shape",
                field="merge_mode", received=f"merge_mode={a.merge_mode!r}, forward {yf}, "
                                             f"backward {yb}",
                hint="give both layers the same units, or use merge_mode 'concat'")
        return [yf]

    def params(self, a: BidirectionalAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        specs = []
        for (op, attrs), prefix in zip(layers(a), PREFIXES):
            specs += [dataclasses.replace(s, name=prefix + s.name)
                      for s in op.params(attrs, in_types)]
        return specs

    def forward(self, a, params, xs, ctx):
        (fw, fa), (bw, ba) = layers(a)
        (yf,), cf = fw.forward(fa, _sub(params, PREFIXES[0]), xs, ctx)
        (yb,), cb = bw.forward(ba, _sub(params, PREFIXES[1]), xs, ctx)
        if fa.return_sequences:
            yb = yb[:, ::-1]  # Keras flips the backward sequence back into time order
        mode = a.merge_mode
        if mode == "concat":
            y = np.concatenate([yf, yb], axis=-1)
        elif mode == "sum":
            y = yf + yb
        elif mode == "ave":
            y = (yf + yb) / 2
        else:
            y = yf * yb
        keep = (yf, yb) if mode == "mul" else None
        return [y], (cf, cb, yf.shape[-1], keep)

    def backward(self, a, params, cache, dys):
        (fw, fa), (bw, ba) = layers(a)
        cf, cb, units_f, keep = cache
        (dy,) = dys
        mode = a.merge_mode
        if mode == "concat":
            dyf, dyb = dy[..., :units_f], dy[..., units_f:]
        elif mode == "sum":
            dyf = dyb = dy
        elif mode == "ave":
            dyf = dyb = dy / 2
        else:
            dyf, dyb = dy * keep[1], dy * keep[0]
        if fa.return_sequences:
            dyb = dyb[:, ::-1]
        (dxf,), gf = fw.backward(fa, _sub(params, PREFIXES[0]), cf, [np.ascontiguousarray(dyf)])
        (dxb,), gb = bw.backward(ba, _sub(params, PREFIXES[1]), cb, [np.ascontiguousarray(dyb)])
        dx = dxb if dxf is None else dxf if dxb is None else dxf + dxb
        grads = {PREFIXES[0] + k: v for k, v in gf.items()}
        grads.update({PREFIXES[1] + k: v for k, v in gb.items()})
        return [dx], grads

    def lower(self, a, params, xs, em):
        from ._recurrent_onnx import lower_recurrent

        (fw, fa), (bw, ba) = layers(a)
        return [lower_recurrent(em, xs[0], em.mask, [
            (fw, fa, _sub(params, PREFIXES[0]), PREFIXES[0]),
            (bw, ba, _sub(params, PREFIXES[1]), PREFIXES[1])], merge_mode=a.merge_mode)]


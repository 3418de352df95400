"""Shared machinery of the merge kinds (Add, Subtract, Multiply, Average, Maximum, Minimum):
Keras 3's `Merge` base layer, elementwise over several inputs.

Shape rule (keras.src.layers.merging.base_merge): inputs of lower rank get size-1 axes
inserted after the batch axis until every input has the highest rank; then the feature axes
broadcast as NumPy's do (a 1 stretches; two different known sizes are an error). Backward
sums each input's gradient over the axes it was broadcast along. Masks: the output carries
one when every input does, their logical OR (Keras' `Merge.compute_mask`).

ONNX: the inputs are brought to one physical layout (`Emitter.unify`: kept when they share
one, else the IR's), lower-rank inputs get an Unsqueeze after the batch axis, then the
kind's variadic operator (Sum, Mul, Max, Min) or Sub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from .base import Array, BadExample, Example, OpDef


@dataclass(frozen=True)
class MergeAttrs:
    """The elementwise merges take no arguments beyond Keras' base-Layer ones."""


def merge_dtype(op: OpDef, in_types: list[TensorType]) -> str:
    dtypes = {t.dtype for t in in_types}
    if len(dtypes) != 1:
        raise DefinitionError(
            f"{op.kind} needs inputs of one dtype", field="inputs",
            received="input dtypes " + ", ".join(t.dtype for t in in_types),
            hint="cast one input first (Keras would compute in its float32 compute dtype)")
    return in_types[0].dtype


def broadcast_features(op: OpDef, in_types: list[TensorType]) -> tuple:
    """Keras' merge shape rule over per-sample shapes (see the module docstring)."""
    rank = max(t.rank for t in in_types)
    out: list[int | None] = [1] * (rank - 1)
    for t in in_types:
        feats = (1,) * (rank - t.rank) + t.features
        for i, (a, b) in enumerate(zip(out, feats)):
            if a is None or b is None:
                out[i] = None  # Keras' rule: unknown wins (checked at run time)
            elif a == 1:
                out[i] = b
            elif b != 1 and a != b:
                raise DefinitionError(
                    f"{op.kind} cannot combine these inputs: their shapes do not broadcast "
                    f"(axis {i + 1}: {a} vs {b})", field="inputs",
                    received="input shapes " + ", ".join(str(t) for t in in_types),
                    hint="merge inputs of equal shapes (a size-1 axis broadcasts)")
    return (None, *out)


def aligned(x: Array, rank: int) -> Array:
    """x with size-1 axes inserted after the batch axis up to `rank` (Keras' expand_dims(x, 1))."""
    return x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])


def unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """The gradient `g` of a broadcast result summed back to an input of `shape`."""
    rank = g.ndim
    full = shape[:1] + (1,) * (rank - len(shape)) + shape[1:]
    axes = tuple(i for i, (a, b) in enumerate(zip(full, g.shape)) if a == 1 and b != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


class ElementwiseMerge(OpDef):
    """A Keras Merge layer over several inputs. Subclasses set `kind`, `summary`, `onnx_op`,
    `combine(xs) -> y` and `grads(xs, y, dy) -> [dx per aligned input]`."""

    Attrs = MergeAttrs
    category = "merging"
    layout = "custom"
    multi_input = True
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    supports_masking = True
    onnx_op: ClassVar[str] = ""
    examples = [
        Example({}, input_shapes=((4,), (4,))),
        Example({}, input_shapes=((3, 4), (3, 4), (3, 4))),
        Example({}, input_shapes=((3, 1), (1, 4))),  # broadcasting both ways
        Example({}, input_shapes=((4,), (3, 4))),  # a lower rank: a new axis after the batch
        Example({}, input_shapes=((2, 3, 4), (2, 3, 4))),
        Example({}, input_shapes=((5, 3), (5, 3)), mask_lengths=(5, 2, 3)),
    ]
    bad_examples = [
        BadExample({}, input_shapes=((4,), (3,)), match="axis 1: 4 vs 3"),
        BadExample({"units": 2}, input_shapes=((4,), (4,)), match="units"),
    ]

    def infer(self, a: Any, in_types: list[TensorType]) -> list[TensorType]:
        return [TensorType(broadcast_features(self, in_types), merge_dtype(self, in_types))]

    def output_masked(self, a: Any, in_masked: tuple[bool, ...]) -> bool:
        return bool(in_masked) and all(in_masked)

    def compute_mask(self, a: Any, xs: list[Array], masks: list) -> Array | None:
        out = masks[0]
        for m in masks[1:]:
            out = np.logical_or(out, m)
        return out

    def lower_mask(self, a: Any, xs: list[str], masks: list, em: Any) -> str | None:
        out = masks[0]
        for m in masks[1:]:
            out = em.op("Or", [out, m])
        return out

    def combine(self, xs: list[Array]) -> Array:
        raise NotImplementedError

    def grads(self, xs: list[Array], y: Array, dy: Array) -> list[Array]:
        raise NotImplementedError

    def forward(self, a, params, xs, ctx):
        rank = max(x.ndim for x in xs)
        al = [aligned(x, rank) for x in xs]
        y = self.combine(al)
        y = np.asarray(y, dtype=np.result_type(*xs))
        return [y], (al, [x.shape for x in xs], y) if ctx.need_grad else None

    def backward(self, a, params, cache, dys):
        al, shapes, y = cache
        dxs = self.grads(al, y, dys[0])
        return [unbroadcast(np.broadcast_to(d, y.shape) if d.shape != y.shape else d, s)
                for d, s in zip(dxs, shapes)], {}

    def lower(self, a, params, xs, em):
        xs, layout = merge_inputs(xs, em)
        y = self.lower_combine(xs, em)
        em.set_layout(y, layout)
        return [y]

    def lower_combine(self, xs: list[str], em: Any) -> str:
        return em.op(self.onnx_op, xs) if len(xs) > 1 else em.op("Identity", xs)


def merge_inputs(xs: list[str], em: Any) -> tuple[list[str], Any]:
    """A merge's inputs in one physical layout (and that layout): `Emitter.unify`, then
    lower-rank inputs (which unify leaves in the IR's layout) unsqueezed after the batch."""
    xs = em.unify(xs)
    rank = max(em.type_of(x).rank for x in xs)
    out = []
    for x in xs:
        r = em.type_of(x).rank
        if r < rank:
            axes = np.arange(1, 1 + rank - r, dtype=np.int64)
            x = em.op("Unsqueeze", [x, em.const(axes, "axes")])
        out.append(x)
    return out, em.layout_of(xs[0])


def select_grads(xs: list[Array], y: Array, dy: Array) -> list[Array]:
    """Maximum/Minimum backward: each element's gradient goes to the first input whose value
    is the result."""
    taken = np.zeros(y.shape, bool)
    out = []
    for x in xs:
        hit = np.broadcast_to(x == y, y.shape) & ~taken
        taken |= hit
        out.append(np.where(hit, dy, 0).astype(dy.dtype))
    return out

"""Shared machinery of the merge kinds (Add, Subtract, Multiply, Average, Maximum, Minimum):
Keras 3's `Merge` base layer, elementwise over several inputs.

Shape rule (keras.src.layers.merging.base_merge): inputs of lower rank get size-1 axes
inserted after the batch axis until every input has the highest rank; then the feature axes
broadcast as NumPy's do (a 1 stretches; two different known sizes are an error). Backward
sums each input's gradient over the axes it was broadcast along. Masks: the output carries
one when every input does, their logical OR (Keras' `Merge.compute_mask`).

Maximum and Minimum (`SelectMerge`) also read the masks, as Keras' `Merge.
_apply_merge_op_and_or_mask` does: the inputs are folded left to right; at each step a masked
input's masked-out entries take the running result's value, the running result's masked-out
entries (its mask being the OR of the masks folded so far, or none once an unmasked input was
folded) take the input's, then the two are combined. A masked step of every input therefore
gets op over all inputs; a step masked in some inputs gets op over the others. The output mask
(the fold's OR, set by the call) equals `Merge.compute_mask`'s: the OR of every input's mask
when each has one, else none. Keras broadcasts each (N, T) mask to its input's shape, so
masked inputs must be of rank 3 (N, T, F). ONNX: the same fold of Where and Max/Min.
Multiply reads the masks too (seqc.ops.multiply, Keras' `Multiply._merge_function`), sharing
`masked_aligned`, `lower_masked_inputs` and `MASKED_EXAMPLES` with these.

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
from .emitter_api import Emitter


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

    def lower_mask(self, a: Any, xs: list[str], masks: list, em: Emitter) -> str | None:
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

    def lower_combine(self, xs: list[str], em: Emitter) -> str:
        return em.op(self.onnx_op, xs) if len(xs) > 1 else em.op("Identity", xs)


def merge_inputs(xs: list[str], em: Emitter) -> tuple[list[str], Any]:
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


# Masked examples of the merges that read their masks (SelectMerge, Multiply): one input of
# two masked, two of three, and a broadcast case (a (N, T, 1) input and a lower-rank one).
MASKED_EXAMPLES = [
    Example({}, input_shapes=((5, 3), (5, 3)), mask_lengths=(5, 2, 3),
            masked_inputs=(True, False)),
    Example({}, input_shapes=((5, 3), (5, 3), (5, 3)), mask_lengths=(4, 1, 5),
            masked_inputs=(False, True, True)),
    Example({}, input_shapes=((5, 1), (5, 3), (3,)), mask_lengths=(5, 2, 3),
            masked_inputs=(True, True, False)),
]


def check_mask_rank(op: OpDef, rank: int) -> None:
    """A merge that reads (N, T) masks broadcasts them over the last axis: rank-3 inputs only."""
    if rank != 3:
        raise DefinitionError(
            f"{op.kind} combines timestep masks of rank-3 inputs (N, T, F) only (Keras "
            "broadcasts each (N, T) mask over the last axis)", field="inputs",
            received=f"a masked rank-{rank} input")


def masked_aligned(op: OpDef, xs: list[Array], masks: list) -> tuple[list[Array], list]:
    """The inputs aligned to one rank and the masks as (N, T, 1) booleans (None where an input
    has none), after the rank check."""
    for x, m in zip(xs, masks):
        if m is not None:
            check_mask_rank(op, x.ndim)
    rank = max(x.ndim for x in xs)
    return ([aligned(x, rank) for x in xs],
            [None if m is None else np.asarray(m, bool)[:, :, None] for m in masks])


def lower_masked_inputs(op: OpDef, xs: list[str], masks: list, em: Emitter) -> tuple[list, list]:
    """`masked_aligned` in ONNX: the inputs in the IR's layout (where an (N, T, 1) mask
    broadcasts), unsqueezed to one rank, and the masks unsqueezed on the last axis."""
    for x, m in zip(xs, masks):
        if m is not None:
            check_mask_rank(op, em.type_of(x).rank)
    xs, _ = merge_inputs([em.canonical(x) for x in xs], em)
    ax = em.const(np.array([-1], np.int64), "axes")
    return xs, [None if m is None else em.op("Unsqueeze", [m, ax]) for m in masks]


class SelectMerge(ElementwiseMerge):
    """Maximum and Minimum: Keras' `_apply_merge_op_and_or_mask` (see the module docstring)
    when any input is masked; the plain variadic merge otherwise. Subclasses set `np_op`."""

    np_op: ClassVar[Any] = None
    examples = [*ElementwiseMerge.examples, *MASKED_EXAMPLES]

    def combine(self, xs):
        return self.np_op.reduce(np.broadcast_arrays(*xs))

    def grads(self, xs, y, dy):
        return select_grads(xs, y, dy)

    def forward(self, a, params, xs, ctx):
        masks = list(ctx.masks) if any(m is not None for m in ctx.masks) else []
        if not masks:
            return super().forward(a, params, xs, ctx)
        al, ms = masked_aligned(self, xs, masks)
        shape = np.broadcast_shapes(*(x.shape for x in al))
        full = [np.broadcast_to(x, shape) for x in al]
        out, om, steps = full[0], ms[0], []
        for x, m in zip(full[1:], ms[1:]):
            if m is not None:
                x = np.where(m, x, out)
            if om is not None:
                out = np.where(om, out, x)
            steps.append((m, om, out, x))
            om = None if m is None or om is None else om | m
            out = self.np_op(out, x)
        y = np.asarray(out, dtype=np.result_type(*xs))
        return [y], ("fold", steps, [x.shape for x in xs], y) if ctx.need_grad else None

    def backward(self, a, params, cache, dys):
        if cache[0] == "fold":
            return self._masked_backward(cache[1:], dys[0])
        return super().backward(a, params, cache, dys)

    def _masked_backward(self, cache, dy):
        """The fold's steps in reverse: the selection (`select_grads`), then each Where's
        gradient routed to the side it took."""
        steps, shapes, y = cache
        dy = np.broadcast_to(dy, y.shape)
        douts = []
        for m, om, o2, x2 in reversed(steps):
            res = self.np_op(o2, x2)
            do2, dx2 = select_grads([o2, x2], res, dy)
            zero = np.zeros_like(dy)
            if om is not None:  # o2 = where(om, o, x2)
                do, dx2 = np.where(om, do2, zero), dx2 + np.where(om, zero, do2)
            else:
                do = do2
            if m is not None:  # x2 = where(m, x, o)
                dx, do = np.where(m, dx2, zero), do + np.where(m, zero, dx2)
            else:
                dx = dx2
            douts.append(dx)
            dy = do
        dxs = [dy, *reversed(douts)]
        return [unbroadcast(d, s) for d, s in zip(dxs, shapes)], {}

    def lower(self, a, params, xs, em):
        masks = list(em.mask) if any(m is not None for m in em.mask) else []
        if not masks:
            return super().lower(a, params, xs, em)
        xs, ms = lower_masked_inputs(self, xs, masks, em)
        out, om = xs[0], ms[0]
        for x, m in zip(xs[1:], ms[1:]):
            if m is not None:
                x = em.op("Where", [m, x, out])
            if om is not None:
                out = em.op("Where", [om, out, x])
            om = None if m is None or om is None else em.op("Or", [om, m])
            out = em.op(self.onnx_op, [out, x])
        if len(xs) == 1:
            out = em.op("Identity", [out])
        em.set_layout(out, None)
        return [out]

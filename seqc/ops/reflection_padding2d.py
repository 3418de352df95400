"""ReflectionPadding2D (PyTorch's nn.ReflectionPad2d; Keras has none): y = x with `top`/`bottom`
rows and `left`/`right` columns added by reflecting it at its border, the border row or column
itself not repeated (numpy's mode="reflect": [a b c d] padded by 2 is [c b a b c d c b]).
Each pad must be smaller than its axis, as PyTorch requires. No weights; backward adds each
reflected entry's gradient back onto the entry it copies.

ONNX: Pad(mode="reflect") on the (N, C, rows, cols) layout.
Shape: rows -> rows + top + bottom, cols -> cols + left + right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DataError, DefinitionError
from ._resize import ZeroPaddingBase, as_pairs, canonical_pairs, finish_format, spatial_sizes
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ReflectionPadding2DAttrs:
    # int, (sym_rows, sym_cols) or ((top, bottom), (left, right)); canonical is the last.
    padding: int | tuple[int | tuple[int, ...], ...] = (1, 1)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        canonical_pairs(self, "padding", 2)
        finish_format(self)


def _too_wide(n: int | None, b: int, e: int) -> bool:
    return n is not None and max(b, e) >= n


@register
class ReflectionPadding2D(ZeroPaddingBase):
    kind = "ReflectionPadding2D"
    Attrs = ReflectionPadding2DAttrs
    nd = 2
    summary = ("PyTorch's ReflectionPad2d: pads each image with its own rows and columns "
               "mirrored at the border.")
    examples = [
        Example({}, (2, 3, 1), keras=False),
        Example({"padding": [1, 2]}, (3, 4, 2), keras=False),
        Example({"padding": [[0, 2], [3, 1]]}, (3, 4, 2), keras=False),
        Example({"padding": 1, "data_format": "channels_first"}, (2, 3, 2), keras=False),
        Example({"padding": [[1, 0], [0, 1]]}, (None, None, 1), keras=False),
    ]
    bad_examples = [
        BadExample({"padding": [1, 2, 3]}, (3, 3, 1), "padding"),
        BadExample({"padding": -1}, (3, 3, 1), ">= 0"),
        BadExample({"padding": 3}, (3, 4, 1), "smaller than"),
        BadExample({"padding": [[0, 0], [0, 2]], "data_format": "channels_first"}, (1, 3, 2),
                   "smaller than"),
        BadExample({"padding": 1}, (3, 3), "rank 4"),
        BadExample({"pading": 1}, (3, 3, 1), "did you mean"),
    ]

    def infer(self, a, in_types):
        (x,) = in_types
        for i, (n, (b, e)) in enumerate(zip(spatial_sizes(x, 2, self.kind, a),
                                            as_pairs(a.padding, 2))):
            if _too_wide(n, b, e):
                raise DefinitionError(
                    f"ReflectionPadding2D pads spatial axis {i + 1} by {max(b, e)}, which must "
                    f"be smaller than its size {n} (a reflection repeats no border entry)",
                    field="padding", received=f"padding={a.padding}, input {x}")
        return super().infer(a, in_types)

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        w = self._widths(a, x.ndim)
        for ax, (b, e) in enumerate(w):
            if _too_wide(x.shape[ax], b, e) and (b or e):  # a variable size, known now
                raise DataError(f"ReflectionPadding2D pads an axis of size {x.shape[ax]} by "
                                f"{max(b, e)}; the pad must be smaller than the axis",
                                field="padding", received=f"input array shape {x.shape}")
        return [np.pad(x, w, mode="reflect")], w

    def backward(self, a, params, w, dys):
        (dy,) = dys
        # the pad is one reflection per axis in turn: undo them in reverse order
        for ax in reversed(range(dy.ndim)):
            b, e = w[ax]
            if not (b or e):
                continue
            n = dy.shape[ax] - b - e
            d = np.moveaxis(dy, ax, 0)
            dx = d[b:b + n].copy()
            dx[1:b + 1] += d[:b][::-1]  # y[i] = x[b - i] for i < b
            dx[n - 1 - e:n - 1] += d[b + n:][::-1]  # y[b + n + j] = x[n - 2 - j]
            dy = np.moveaxis(dx, 0, ax)
        return [dy], {}

    def lower(self, a, params, xs, em):
        pads = as_pairs(a.padding, 2)
        onnx_pads = [0, 0, *(b for b, _ in pads), 0, 0, *(e for _, e in pads)]
        return [em.op("Pad", [xs[0], em.const(np.array(onnx_pads, np.int64), "pads")],
                      mode="reflect")]

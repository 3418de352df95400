"""Discretization (Keras preprocessing): the bin index of each value, i = #{b : b <= x} over
the sorted bin_boundaries (Keras' digitize: bins (-inf, b0), [b0, b1), ..., [bn, inf)), then
encoded as int (int32), one_hot, multi_hot or count. Boundaries are given, or learnt by `adapt`
(Keras' approximate quantiles, ported below) when only num_bins is. ONNX: GreaterOrEqual
against the boundaries, ReduceSum, then the encoding. Shape: int keeps it; see _categorical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, DefinitionError, ExportError
from ..ir.types import TensorType
from ._categorical import OutputMode, encode, encoded_type, float_out, lower_encode
from .base import BadExample, Example, OpDef, ParamSpec, expect_rank, register
from .category_encoding import refuse_sparse

NOT_ADAPTED = "has no bin boundaries yet"


@dataclass(frozen=True)
class DiscretizationAttrs:
    bin_boundaries: tuple[float, ...] | None = None
    num_bins: int | None = None
    epsilon: float = 0.01
    output_mode: OutputMode = "int"
    sparse: bool = False


def boundary_count(num_bins: int) -> int:
    """How many boundaries Keras' adapt returns: one per quantile of
    `epsilon + np.arange(0, 1, 1/num_bins)` but the last. For most num_bins that is
    num_bins - 1; for some (49, 98, 103, ...) float rounding gives one more, and so does Keras."""
    return len(np.arange(0.0, 1.0, 1.0 / num_bins)) - 1


# ---- Keras' adapt (keras/src/layers/preprocessing/discretization.py), for one batch ----

def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    values = np.sort(np.reshape(values, [-1]))
    step = max(np.size(values) / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def adapted_boundaries(x: np.ndarray, num_bins: int, epsilon: float) -> np.ndarray:
    """Keras' `Discretization(num_bins, epsilon).adapt(x)` bin boundaries (float32 data)."""
    summary = _summarize(np.asarray(x).astype("float32"), epsilon)
    empty = np.array([[], []], dtype="float32")
    merged = np.concatenate((summary, empty), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return _compress(_compress(merged, epsilon), 1.0 / num_bins)[0, :-1]


@register
class Discretization(OpDef):
    kind = "Discretization"
    Attrs = DiscretizationAttrs
    category = "preprocessing"
    summary = "Buckets values by bin boundaries (given, or adapted to data quantiles)."
    config_params = ("bin_boundaries",)  # Keras' adapt sets them in its config
    examples = [
        Example({"bin_boundaries": [-1.0, 0.0, 0.5]}, (4,)),
        Example({"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"}, (3,)),
        Example({"bin_boundaries": [-0.5, 0.5], "output_mode": "one_hot"}, (1,)),
        Example({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "multi_hot"}, (5,)),
        Example({"bin_boundaries": [-1.0, 1.0], "output_mode": "count"}, (6,)),
        Example({"bin_boundaries": [3.0, 10.0]}, (2, 3), "int32", (0, 15)),
        # Adapted boundaries are non-trainable parameters (Keras keeps them in its config,
        # which the parity tests compare on their own: an unadapted Keras layer cannot run).
        Example({"num_bins": 4}, (3,), keras=False),
        Example({"num_bins": 3, "epsilon": 0.1, "output_mode": "count"}, (None,), keras=False),
    ]
    bad_examples = [
        BadExample({}, (3,), "num_bins"),
        BadExample({"num_bins": 1}, (3,), "num_bins"),
        BadExample({"bin_boundaries": [1.0, 0.0]}, (3,), "increasing"),
        BadExample({"bin_boundaries": [0.0], "output_mode": "tf_idf"}, (3,), "output_mode"),
        BadExample({"bin_boundaries": [0.0], "output_mode": "count"}, (2, 3), "(batch, values)"),
        BadExample({"num_bins": 3, "sparse": True, "output_mode": "count"}, (3,), "sparse"),
    ]

    def check(self, a: DiscretizationAttrs) -> None:
        refuse_sparse(a)
        if a.bin_boundaries is None and a.num_bins is None:
            raise DefinitionError("set either `num_bins` (and adapt) or `bin_boundaries`",
                                  field="num_bins", received="num_bins=None, "
                                  "bin_boundaries=None")
        if a.bin_boundaries is None and a.num_bins < 2:
            raise DefinitionError("`num_bins` must be at least 2", field="num_bins",
                                  received=f"num_bins={a.num_bins}")
        if a.bin_boundaries is not None and np.any(np.diff(a.bin_boundaries) < 0):
            raise DefinitionError("`bin_boundaries` must be increasing", field="bin_boundaries",
                                  received=f"bin_boundaries={list(a.bin_boundaries)}")
        if not 0 < a.epsilon < 1:
            raise DefinitionError("`epsilon` must be in (0, 1)", field="epsilon",
                                  received=f"epsilon={a.epsilon}")

    def _depth(self, a: DiscretizationAttrs) -> int:
        n = len(a.bin_boundaries) if a.bin_boundaries is not None else boundary_count(a.num_bins)
        return n + 1

    def infer(self, a: DiscretizationAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 2, "Discretization")
        out = "int32" if a.output_mode == "int" else "float32"
        return [encoded_type(x, a.output_mode, self._depth(a), out, "Discretization")]

    def params(self, a: DiscretizationAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        if a.bin_boundaries is not None:
            return []  # given (or adapted in Keras and saved in its config): no weights
        # NaN until adapted: forward and export refuse to run an unadapted layer, as Keras does.
        return [ParamSpec("bin_boundaries", (boundary_count(a.num_bins),),
                          "not_adapted", trainable=False)]

    def adapt(self, a: DiscretizationAttrs, x: np.ndarray) -> dict[str, np.ndarray]:
        if a.bin_boundaries is not None:
            return {}
        b = adapted_boundaries(x, a.num_bins, a.epsilon)
        if len(b) != boundary_count(a.num_bins):
            raise DataError(f"Discretization.adapt with num_bins={a.num_bins} needs at least "
                            f"{a.num_bins} values", field="num_bins",
                            received=f"{np.size(x)} values")
        return {"bin_boundaries": b.astype(np.float32)}

    def _boundaries(self, a, params) -> np.ndarray:
        if a.bin_boundaries is not None:
            return np.asarray(a.bin_boundaries, np.float32)
        b = params["bin_boundaries"]
        if np.isnan(b).any():
            raise DataError(f"Discretization {NOT_ADAPTED}", field="num_bins",
                            received=f"num_bins={a.num_bins}, not adapted",
                            hint="fit the model (it adapts the layer on the training data), "
                                 "call layer.adapt(data) in a script, or give bin_boundaries")
        return b.astype(np.float32, copy=False)

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        x = x if x.dtype.kind == "f" else x.astype(np.float32)  # Keras casts to floatx
        b = self._boundaries(a, params).astype(x.dtype)
        # #{b <= x} is digitize (torch.bucketize(right=True)) for sorted boundaries.
        ids = (x[..., None] >= b).sum(axis=-1)
        out = "int32" if a.output_mode == "int" else float_out(x)
        return [encode(ids, a.output_mode, self._depth(a), out)], None

    def backward(self, a, params, cache, dys):
        return [None], {}  # piecewise constant: no gradient flows to the input

    def lower(self, a, params, xs, em):
        t = em.type_of(xs[0])
        try:
            b = self._boundaries(a, params)
        except DataError as e:
            raise ExportError(e.message, field="num_bins", hint=e.hint) from None
        x = xs[0] if t.dtype == "float32" else em.op("Cast", [xs[0]], to=1)
        unsq = em.op("Unsqueeze", [x, em.const(np.array([-1], np.int64), "last_axis")])
        above = em.op("GreaterOrEqual", [unsq, em.weight("bin_boundaries", b)])
        ids = em.op("ReduceSum", [em.op("Cast", [above], to=7),
                                  em.const(np.array([-1], np.int64), "last_axis")], keepdims=0)
        out = "int32" if a.output_mode == "int" else "float32"
        return [lower_encode(em, ids, t, a.output_mode, self._depth(a), out)]

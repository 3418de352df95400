"""The metric base classes and the array helpers every metric module shares.

Keras keeps metric state in float32 variables; seqc keeps the running sums in float64 and
computes per-sample values in the inputs' dtype (float32 from a model), so results agree with
Keras to float32 rounding (counts exactly).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DataError, DefinitionError, UsageError, did_you_mean
from .loss_base import squeeze_or_expand_to_same_rank as same_rank

EPSILON = 1e-7  # Keras' backend.epsilon()
FLOAT_DTYPES = (None, "float32")


def div_no_nan(a: Any, b: Any) -> np.ndarray:
    """Keras' ops.divide_no_nan: 0 where the denominator is 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def as_float(x: Any) -> np.ndarray:
    """An array in a float dtype (float32 unless it already is a float array)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def check_choice(owner: str, field: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise DefinitionError(f"{owner}: {field} must be one of {', '.join(map(repr, choices))}",
                              field=field, received=f"{field}={value!r}")


def check_range(owner: str, field: str, value: Any, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise DefinitionError(f"{owner}: {field} must be a number in [{lo}, {hi}]", field=field,
                              received=f"{field}={value!r}")


class Metric:
    """Keras' Metric: reset_state / update_state(y_true, y_pred, sample_weight) / result.

    `direction` is "up" when larger is better, "down" when smaller is, None where Keras sets
    none (EarlyStopping's mode="auto" then refuses it, as Keras does). A subclass records
    its constructor arguments with `_keep(...)`; get_config() returns them as Keras' does."""

    direction = "up"
    default_name = "metric"
    dtypes: tuple = FLOAT_DTYPES
    default_dtype = "float32"  # what Keras' get_config names when no dtype was given

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        if dtype not in self.dtypes:
            raise DefinitionError(
                f"metric {type(self).__name__}: dtype {dtype!r} is not supported (seqc keeps "
                "metrics in float32)", field="dtype", received=f"dtype={dtype!r}",
                hint=f"leave dtype out, or use one of {', '.join(map(repr, self.dtypes[1:]))}")
        self.name = name or self.default_name
        self.dtype = dtype
        self.reset_state()

    def _keep(self, **config: Any) -> None:
        self._config = {**getattr(self, "_config", {}), **config}

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError

    @property
    def vector_valued(self) -> bool:
        """True when result() is an array (e.g. one value per threshold or class), which a
        fit log (one number per metric) cannot hold."""
        return False

    def get_config(self) -> dict:
        return {"type": type(self).__name__, "name": self.name,
                "dtype": self.dtype or self.default_dtype, **getattr(self, "_config", {})}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Keras' reduction_metrics.Mean over per-sample values: `total = sum(value * weight)`,
    `count = sum(weight)` (or the sample count), result total / count (0 when empty)."""

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def add_values(self, values: np.ndarray, sample_weight: Any = None, mask: Any = None) -> None:
        """Keras' reduce_to_samplewise_values: `values` is brought to the weights' rank (the
        mean over the extra trailing axes), multiplied by the weights, and each sample's
        value and weight are the means over their trailing axes; `total += sum(values)`,
        `count += sum(weights)` (or the sample count). `mask`: the prediction's timestep
        mask, shaped as `values`; as in Keras, masked steps do not count."""
        values = np.asarray(values, np.float64)
        if mask is not None and np.shape(mask) == values.shape:
            m = np.asarray(mask, np.float64)
            sample_weight = m if sample_weight is None else m * np.asarray(
                sample_weight, np.float64).reshape(m.shape[:1] + (1,) * (m.ndim - 1))
        n = values.shape[0] if values.ndim else 1
        if sample_weight is None:
            self.total += float(values.reshape(n, -1).mean(axis=1).sum()) if values.ndim > 1 \
                else float(values.sum())
            self.count += n
            return
        sw = np.asarray(sample_weight, np.float64)
        values, sw = same_rank(values, sw)
        if values.ndim > sw.ndim:
            values = values.mean(axis=tuple(range(sw.ndim, values.ndim)))
        try:
            sw = np.broadcast_to(sw, values.shape)
        except ValueError:
            raise DataError("sample_weight does not fit the metric's values", field="metrics",
                            received=f"sample_weight {sw.shape}, values {values.shape}") from None
        values = values * sw
        if sw.ndim > 1:
            sw = sw.mean(axis=tuple(range(1, sw.ndim)))
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += float(sw.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """Averages `fn(y_true, y_pred, **fn_kwargs)` (one value per sample, or per element reduced
    per sample), as Keras' MeanMetricWrapper."""

    fn: Callable[..., np.ndarray] | None = None

    def __init__(self, fn: Callable[..., np.ndarray] | None = None, name: str | None = None,
                 dtype: Any = None, direction: str | None = None, **fn_kwargs: Any) -> None:
        if fn is not None:
            self.fn = fn
        if direction is not None:
            self.direction = direction
        self.fn_kwargs = fn_kwargs
        self._keep(**fn_kwargs)
        super().__init__(name or (getattr(fn, "__name__", None) if fn else None), dtype)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = as_float(y_pred)
        y_true = np.asarray(y_true)
        try:
            values = np.asarray(self.fn(y_true, y_pred, **self.fn_kwargs))
        except (ValueError, IndexError):
            # Broadcasting failed: the labels' form does not suit this metric (e.g. "mae" on
            # integer class ids against a softmax output).
            raise DataError(
                f"metric '{self.name}' cannot compare the labels with the model output",
                field="metrics",
                received=f"labels of shape {y_true.shape}, predictions {y_pred.shape}",
                hint="use a metric that fits the labels (e.g. \"accuracy\"), or one-hot the "
                     "labels") from None
        self.add_values(values, sample_weight, mask)

    def get_config(self) -> dict:
        if type(self) is MeanMetricWrapper:
            raise UsageError(f"Keras cannot save the function metric '{self.name}'",
                             field="metrics", received=repr(self.fn),
                             hint="use a Keras metric name such as 'mae' or 'accuracy'")
        return super().get_config()


def wrapper_class(fn: Callable, name: str, default: str, direction: str | None,
                  params: str = "name, dtype", omit: tuple = ()) -> type:
    """A Keras MeanMetricWrapper class around a per-sample function, with Keras' constructor
    signature: `params` lists the arguments in Keras' order (fn's keyword arguments by
    their own defaults); `name` is the class name, `default` its default metric name.
    `omit`: arguments get_config leaves out while they have their default, as Keras does."""
    fn_params = {p.name: p.default for p in inspect.signature(fn).parameters.values()
                 if p.default is not inspect.Parameter.empty}
    order = [p.strip() for p in params.split(",")]
    sig = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             default=default if p == "name" else None if p == "dtype"
                             else fn_params[p]) for p in order])

    def __init__(self, *args: Any, **kw: Any) -> None:  # noqa: N807
        try:
            bound = sig.bind(self, *args, **kw)
        except TypeError:
            bad = next((k for k in kw if k not in order), None)
            raise DefinitionError(
                f"metric {name} has no argument '{bad}'" if bad else
                f"metric {name} takes at most {len(order)} arguments ({', '.join(order)})",
                field=bad or "metrics", received=repr(kw if bad else args),
                hint=did_you_mean(str(bad), order) if bad else None) from None
        bound.apply_defaults()
        a = dict(bound.arguments)
        a.pop("self")
        MeanMetricWrapper.__init__(self, None, a.pop("name"), a.pop("dtype"), **a)
        for k in omit:
            if self._config[k] == sig.parameters[k].default:
                del self._config[k]

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    return type(name, (MeanMetricWrapper,), {
        "fn": staticmethod(fn), "default_name": default, "direction": direction,
        "__module__": fn.__module__,
        "__init__": __init__,
        "__doc__": f"Keras' {name}: the mean over samples of {fn.__name__}."})

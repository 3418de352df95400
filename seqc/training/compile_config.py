"""What `model.compile` stores: the CompileConfig, one Head per output, and Keras' rules for
compile's arguments (losses, loss weights and metrics per output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError, did_you_mean
from . import metrics as metrics_mod
from .checks import per_name

__all__ = ["CompileConfig", "Head", "compile_model", "compiled_config"]


@dataclass
class CompileConfig:
    """What `model.compile` stored. `resolved_metrics` are the metric objects of the last
    fit/evaluate ("accuracy" resolved against the data), read by callbacks in mode="auto"."""

    optimizer: Any
    loss: Any
    metrics: list = field(default_factory=list)
    weighted_metrics: list = field(default_factory=list)
    loss_weight: float = 1.0
    resolved_metrics: list = field(default_factory=list)
    # One Head per output (a one-output model's is made of the fields above).
    heads: list = field(default_factory=list)

    @property
    def loss_names(self) -> list[str]:
        """The per-output loss log keys (`out_a_loss`) of a model with several outputs."""
        return [f"{h.name}_loss" for h in self.heads] if len(self.heads) > 1 else []

    def to_config(self) -> dict:
        """JSON-able summary for reports."""
        def cfg(obj: Any) -> Any:
            get_config = getattr(obj, "get_config", None)
            return get_config() if callable(get_config) else repr(obj)

        def names(specs: list) -> list:
            return [m if isinstance(m, (str, dict)) else getattr(m, "name", repr(m))
                    for m in specs]

        if len(self.heads) > 1:
            return {"optimizer": cfg(self.optimizer),
                    "loss": {h.name: cfg(h.loss) for h in self.heads},
                    "loss_weights": {h.name: h.weight for h in self.heads},
                    "metrics": {h.name: names(h.metrics) for h in self.heads}}
        return {"optimizer": cfg(self.optimizer),
                "loss": cfg(self.loss) if self.loss is not None else None,
                "metrics": [m if isinstance(m, (str, dict)) else getattr(m, "name", repr(m))
                            for m in self.metrics]}


@dataclass
class Head:
    """What is trained on one output: its Keras name (the layer's), graph value, loss,
    loss weight and metric specs."""

    name: str
    value: str
    loss: Any
    weight: float = 1.0
    metrics: list = field(default_factory=list)
    weighted: list = field(default_factory=list)


_COMPILE_IGNORED = {"run_eagerly": False, "jit_compile": "auto", "auto_scale_loss": True,
                    "steps_per_execution": 1}


def compile_model(model: Any, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                  loss_weights: Any = None, weighted_metrics: Any = None, **kwargs: Any) -> None:
    """Keras' `Model.compile`: resolves the optimizer and loss now (so a bad name fails here),
    metrics now too except "accuracy", which needs the labels' shape."""
    from . import losses as losses_mod
    from . import optimizers as optimizers_mod

    for k, v in kwargs.items():
        if k not in _COMPILE_IGNORED:
            raise UsageError(f"compile() got an unexpected argument '{k}'", field=k,
                             received=f"{k}={v!r}",
                             hint=did_you_mean(k, ["optimizer", "loss", "metrics",
                                                   "loss_weights", "weighted_metrics",
                                                   *_COMPILE_IGNORED]))
    if kwargs.get("steps_per_execution", 1) != 1:
        raise UsageError("steps_per_execution other than 1 is not supported",
                         field="steps_per_execution",
                         received=f"steps_per_execution={kwargs['steps_per_execution']}")
    opt = optimizers_mod.get(optimizer)
    from . import carried

    graph = carried.trained_graph(model.graph)  # a recurrent state output has no loss
    if len(graph.outputs) > 1:
        heads = _heads(graph, loss, loss_weights, metrics, weighted_metrics)
        cfg = CompileConfig(opt, None if heads is None else [h.loss for h in heads],
                            heads=heads or [])
    else:
        loss_obj = None if loss is None else losses_mod.get(loss)
        cfg = CompileConfig(opt, loss_obj, _metric_list(metrics, "metrics"),
                            _metric_list(weighted_metrics, "weighted_metrics"),
                            _loss_weight(loss_weights))
        cfg.heads = [Head(graph.output_names[0], graph.outputs[0], loss_obj, cfg.loss_weight,
                          cfg.metrics, cfg.weighted_metrics)]
    for h in cfg.heads:
        out = graph.types[h.value]
        for spec in (*h.metrics, *h.weighted):
            # Unknown names fail at compile time, as in Keras; so does a vector-valued metric.
            metrics_mod.check_loggable(metrics_mod.get(spec, h.loss, out))
    model.compiled = cfg


def _heads(graph: Any, loss: Any, loss_weights: Any, metrics: Any,
           weighted_metrics: Any) -> list[Head] | None:
    """Keras 3's rules for a model with several outputs (compile_utils): `loss` one loss for
    every output, a list (output order) or a dict with every output name; `loss_weights` a
    list or dict likewise; `metrics` / `weighted_metrics` a list with one entry (a metric or
    a list of metrics) per output, or a dict by output name naming some of them."""
    from . import losses as losses_mod

    names = graph.output_names
    if loss is None:
        return None
    if isinstance(loss, (list, tuple, dict)):
        per = per_name(loss, names, "loss")
    else:
        per = [loss] * len(names)
    for name, spec in zip(names, per):
        if spec is None:
            raise UsageError(f"output '{name}' has no loss; seqc trains every output",
                             field="loss", received=f"loss for '{name}': None",
                             hint="give it a loss and loss_weights 0 to leave it out")
    weights = [1.0] * len(names) if loss_weights is None else \
        per_name(loss_weights, names, "loss_weights")
    for name, w in zip(names, weights):
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
            raise UsageError("loss_weights must be numbers", field="loss_weights",
                             received=f"loss_weights for '{name}': {w!r}")
    ms = _per_output_metrics(metrics, names, "metrics")
    wms = _per_output_metrics(weighted_metrics, names, "weighted_metrics")
    return [Head(n, v, losses_mod.get(sp), float(w), m, wm)
            for n, v, sp, w, m, wm in zip(names, graph.outputs, per, weights, ms, wms)]


def _per_output_metrics(metrics: Any, names: list[str], what: str) -> list[list]:
    if not metrics:
        return [[] for _ in names]
    if isinstance(metrics, (list, tuple)) and len(metrics) == len(names):
        per = list(metrics)
    elif isinstance(metrics, dict) and set(metrics) <= set(names):
        per = [metrics.get(n) for n in names]
    else:
        raise UsageError(
            f"`{what}` of a model with several outputs is a list with one entry per output "
            f"{names} or a dict by output name", field=what, received=f"{what}={metrics!r}",
            hint=f"e.g. {what}={{'{names[0]}': ['mae']}} or "
                 f"{what}={[['mae']] * len(names)!r}")
    return [_metric_list(m, what) for m in per]


def _metric_list(metrics: Any, name: str) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, (list, tuple)):
        return [metrics]
    return list(metrics)


def _loss_weight(w: Any) -> float:
    if w is None:
        return 1.0
    if isinstance(w, (list, tuple)) and len(w) == 1:
        w = w[0]
    if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
        raise UsageError("loss_weights must be a number (or a list of one) for a single-output "
                         "model", field="loss_weights", received=f"loss_weights={w!r}")
    return float(w)


def compiled_config(model: Any, what: str) -> CompileConfig:
    cfg = getattr(model, "compiled", None)
    if cfg is None:
        raise UsageError(f"the model must be compiled before {what}()",
                         hint="call model.compile(optimizer='adam', loss=...) first")
    if cfg.loss is None and what != "predict":
        raise UsageError(f"the model was compiled without a loss, so it cannot {what}()",
                         field="loss", hint="pass loss=... to model.compile()")
    return cfg

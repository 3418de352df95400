"""seqc's configs as Keras 3 serialized objects, for the `.keras` writer (keras_file.py): an
initializer (`{"module": "keras.initializers", "class_name": ..., "config": ...}`) and a
compiled model's `compile_config` (optimizer with its learning-rate schedule, loss, metrics),
as Keras' `Model.get_compile_config()` gives it."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError

# seqc initializer names -> Keras classes (seqc also accepts the class names themselves).
_INITIALIZER_CLASSES = {
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform", "he_normal": "HeNormal", "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal", "variance_scaling": "VarianceScaling",
    "random_uniform": "RandomUniform", "uniform": "RandomUniform",
    "random_normal": "RandomNormal", "normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal", "orthogonal": "Orthogonal", "zeros": "Zeros",
    "ones": "Ones", "constant": "Constant",
}


def initializer(v: Any) -> Any:
    from ..config import split_spec

    name, kwargs = split_spec(v if isinstance(v, (str, dict)) else str(v))
    cls = _INITIALIZER_CLASSES.get(str(name), str(name))
    return {"module": "keras.initializers", "class_name": cls, "config": kwargs,
            "registered_name": None}


def keras_object(module: str, spec: Any) -> Any:
    """seqc's {"type": name, **kwargs} (or a name) -> Keras' serialized object."""
    if isinstance(spec, str):
        return spec
    from ..config import split_spec

    name, kwargs = split_spec(spec)
    return {"module": module, "class_name": name, "config": kwargs, "registered_name": None}


def compile_config(cfg: Any) -> dict:
    """model.compiled -> Keras 3's compile_config (what Model.get_compile_config() gives)."""
    opt = dict(cfg.optimizer.get_config())
    cls = opt.pop("type")
    if isinstance(opt.get("learning_rate"), dict):
        from ..training.schedules import KERAS_SCHEDULES

        kind = opt["learning_rate"].get("type")
        if kind not in KERAS_SCHEDULES:
            raise UsageError(f"Keras has no {kind} learning-rate schedule (a PyTorch "
                             "scheduler seqc models)", field="learning_rate",
                             received=f"learning_rate={opt['learning_rate']!r}",
                             hint="save the model without its compile settings, or export "
                                  "it to ONNX")
        opt["learning_rate"] = keras_object("keras.optimizers.schedules",
                                             opt["learning_rate"])
    optimizer = {"module": "keras.optimizers", "class_name": cls, "config": opt,
                 "registered_name": None}
    loss = None
    if cfg.loss is not None:
        loss = keras_object("keras.losses", dict(cfg.loss.get_config()))
    return {"optimizer": optimizer, "loss": loss,
            "loss_weights": None if cfg.loss_weight == 1.0 else cfg.loss_weight,
            "metrics": _metrics(cfg.metrics), "weighted_metrics": _metrics(cfg.weighted_metrics),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _metrics(specs: list) -> list | None:
    if not specs:
        return None
    out = []
    for m in specs:
        if isinstance(m, (str, dict)):
            out.append(keras_object("keras.metrics", m))
        elif callable(getattr(m, "get_config", None)):
            out.append(keras_object("keras.metrics", m.get_config()))
        else:
            raise UsageError("Keras cannot save this metric", field="metrics",
                             received=repr(m), hint="use a metric name such as 'accuracy'")
    return out

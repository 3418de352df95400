"""What a Keras file says about training: its compile settings (Keras 3 `compile_config` or
Keras 2 `training_config`) as seqc `model.compile` kwargs, and the custom (user-defined)
regularizers and constraints seqc has no code for, which block `fit` but not predicting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SeqcError
from ._keras_json_version import Reader, dtype_name, short
from ._keras_legacy import rename_lr

if TYPE_CHECKING:
    from .keras_json import KerasModelInfo


def training_blockers(info: KerasModelInfo) -> list[str]:
    """Why `fit` must refuse a model loaded from this file (empty: it may train)."""
    if not info.training_only:
        return []
    return [f"the Keras file trains with custom regularizers or constraints seqc has no code "
            f"for ({'; '.join(info.training_only)})"]


def compile_kwargs(r: Reader, doc: dict, outputs: list[str] | None = None) -> dict | None:
    """The file's compile settings as `model.compile` kwargs. For a model of several
    `outputs`, Keras' per-output forms ({output: loss}, a list per output, {output: metrics})
    are kept per output, each entry read as a single output's is."""
    if isinstance(doc.get("compile_config"), dict):
        cc = doc["compile_config"]
        optimizer = cc.get("optimizer")
    elif isinstance(doc.get("training_config"), dict):
        cc = doc["training_config"]
        optimizer = cc.get("optimizer_config")
    else:
        return None
    multi = outputs is not None and len(outputs) > 1
    out: dict = {}
    if optimizer is not None:
        out["optimizer"] = _optimizer(r, optimizer)
    loss = cc.get("loss")
    if multi and (_keyed(loss) or isinstance(loss, list)):
        out["loss"] = ({k: _loss(r, v) for k, v in loss.items()} if isinstance(loss, dict)
                       else [_loss(r, v) for v in loss])
    else:
        if _keyed(loss) and len(loss) == 1:
            loss = next(iter(loss.values()))  # {output name: loss} of a single output
        if isinstance(loss, list) and len(loss) == 1:
            loss = loss[0]
        if loss is not None:
            out["loss"] = _loss(r, loss)
    one_loss = out.get("loss") if isinstance(out.get("loss"), str) else None
    for key in ("metrics", "weighted_metrics"):
        metrics = cc.get(key)
        if multi and (_keyed(metrics) or isinstance(metrics, list)):
            # Keras' rules for several outputs (a list with one entry per output, a dict by
            # output name) are applied by compile; here each entry is read.
            def entry(v: Any, key: str = key) -> Any:
                if v is None:
                    return None
                got = _metrics(r, v, key, one_loss)
                return got if isinstance(v, list) else got[0]

            out[key] = ({k: entry(v) for k, v in metrics.items()} if isinstance(metrics, dict)
                        else [entry(v) for v in metrics])
            continue
        metrics = _metrics(r, metrics, key, out.get("loss"))
        if metrics:
            out[key] = metrics
    if cc.get("loss_weights") is not None:
        out["loss_weights"] = cc["loss_weights"]
    return out


def _keyed(value: Any) -> bool:
    """{output name: ...}, not a serialized Keras object."""
    return isinstance(value, dict) and "class_name" not in value and "type" not in value


def _optimizer(r: Reader, spec: Any) -> Any:
    from ..training import optimizers

    fld = "compile.optimizer"
    if isinstance(spec, dict):
        name = spec.get("class_name") or spec.get("type")
        if isinstance(name, str) and name.startswith("Custom>"):
            name = name[len("Custom>"):]  # tf.keras 2.11+ legacy optimizers
        cfg = spec.get("config") or {}
        if not isinstance(cfg, dict):
            raise r.err("an optimizer's config is an object of its arguments", None,
                        f"{fld}.config", f"config={cfg!r}"[:200])
        cfg = dict(cfg)
        try:
            rename_lr(cfg)  # Keras 2's name
        except SeqcError as e:
            raise r.located(e, None, fld) from None
        decay = cfg.pop("decay", 0.0)
        if decay not in (0, 0.0, None):
            lr = cfg.get("learning_rate", "LR")
            raise r.err(
                "Keras 2's optimizer decay (lr / (1 + decay * iterations)) is not a Keras 3 "
                "optimizer argument", None, f"{fld}.decay", f"decay={decay}",
                hint=f"use the same schedule explicitly: learning_rate={{\"class_name\": "
                     f"\"InverseTimeDecay\", \"config\": {{\"initial_learning_rate\": {lr},"
                     f" \"decay_steps\": 1, \"decay_rate\": {decay}}}}}")
        for k in ("name", "jit_compile", "is_legacy_optimizer"):
            cfg.pop(k, None)
        spec = {"type": name, **cfg}
    try:
        optimizers.get(spec)
    except SeqcError as e:
        raise r.located(e, None, fld) from None
    return spec


def _loss(r: Reader, spec: Any) -> Any:
    from ..training import losses

    spec = _named(r, spec, "compile.loss")
    if isinstance(spec, dict):
        if spec.get("reduction") == "auto":  # tf.keras: auto = sum_over_batch_size
            spec.pop("reduction")
        if isinstance(spec.get("fn"), str):  # LossFunctionWrapper
            spec = spec["fn"]
    try:
        losses.get(spec)
    except SeqcError as e:
        raise r.located(e, None, "compile.loss") from None
    return spec


def _metrics(r: Reader, metrics: Any, key: str, loss: Any) -> list:
    from ..training import metrics as metrics_mod

    if metrics is None:
        return []
    if isinstance(metrics, dict) and len(metrics) == 1 and "class_name" not in metrics:
        metrics = next(iter(metrics.values()))  # {output name: metrics}
    if not isinstance(metrics, list):
        metrics = [metrics]
    if len(metrics) == 1 and isinstance(metrics[0], list):
        metrics = metrics[0]  # tf.keras: one list per output
    out = []
    for m in metrics:
        spec = _named(r, m, f"compile.{key}")
        if isinstance(spec, dict):
            if isinstance(spec.get("fn"), str):  # MeanMetricWrapper
                spec = spec["fn"]
            elif dtype_name(spec.get("dtype", "float32")) == "float32":
                spec.pop("dtype", None)
        try:
            metrics_mod.get(spec, loss if isinstance(loss, str) else None)
        except SeqcError as e:
            raise r.located(e, None, f"compile.{key}") from None
        out.append(spec)
    return out


def _named(r: Reader, spec: Any, fld: str) -> Any:
    """A Keras serialized object -> "name" or {"type": class, **config}."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("class_name"), str):
        if spec["class_name"] == "function" and isinstance(spec.get("config"), str):
            return spec["config"]
        cfg = spec.get("config") or {}
        if not isinstance(cfg, dict):
            raise r.err("unreadable serialized object", None, fld, short(spec))
        return {"type": spec["class_name"], **cfg}
    if isinstance(spec, dict) and "type" in spec:
        return dict(spec)
    raise r.err("expected a name or a serialized Keras object", None, fld, short(spec))

"""Keras objects and the training sections of a script: optimizer/loss/metric/callback/
schedule/initializer constructor calls -> seqc `named` specs (positional arguments named by
the seqc class, which keeps Keras' order), and model.compile(...) / model.fit(...) -> the
spec doc's compile and fit sections.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from ..errors import SeqcError
from ._keras_legacy import decay_schedule, rename_lr
from ._pyscript_data import DataArr
from ._pyscript_names import norm
from ._pyscript_values import Func, Obj, Opaque, Sym, bind_args

_COMPILE_ARGS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics",
                 "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")
_COMPILE_KEEP = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")
_FIT_ARGS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split",
             "validation_data", "shuffle", "class_weight", "sample_weight", "initial_epoch",
             "steps_per_epoch", "validation_steps", "validation_batch_size", "validation_freq")
_FIT_KEEP = ("batch_size", "epochs", "verbose", "callbacks", "validation_split", "shuffle",
             "class_weight", "initial_epoch", "steps_per_epoch")
# tf.data methods: a value built with them is a dataset pipeline, not arrays.
_PIPELINE_METHODS = frozenset(("batch", "repeat", "shuffle", "prefetch", "cache", "map",
                               "unbatch", "padded_batch", "from_tensor_slices",
                               "from_generator", "flow", "flow_from_directory",
                               "from_tensors", "image_dataset_from_directory",
                               "text_dataset_from_directory", "audio_dataset_from_directory",
                               "timeseries_dataset_from_array", "CsvDataset",
                               "TextLineDataset", "TFRecordDataset", "make_csv_dataset",
                               "list_files"))


# Keras metric/loss functions whose metric class is Keras' MeanMetricWrapper of that same
# function (a function metric is compiled into that wrapper): the metric it names in seqc.
_INDEXED_METRICS = {
    "mean_squared_error": "MeanSquaredError", "mse": "MeanSquaredError",
    "mean_absolute_error": "MeanAbsoluteError", "mae": "MeanAbsoluteError",
    "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
    "mape": "MeanAbsolutePercentageError",
    "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError",
    "msle": "MeanSquaredLogarithmicError"}


class CompileReader:
    """Keras objects, compile and fit of the script reader (a mixin of `pyscript.Reader`)."""

    def keras_object(self, family: str, name: str, args: list, kwargs: dict,
                     node: ast.Call) -> Obj:
        if family == "callbacks" and name == "LambdaCallback" and not args:
            return self.lambda_callback(kwargs, node)
        if family == "callbacks" and name == "ModelCheckpoint" and not kwargs.get(
                "save_best_only"):
            path = args[0] if args else kwargs.get("filepath")
            if isinstance(path, str):  # it saves the weights of each epoch: the last is final
                self.saved_paths.setdefault(path, (node.lineno, None))
        if family == "callbacks" and name == "TensorBoard" and _tensorboard_runs(args, kwargs):
            pass  # its logs are written by the build (seqc.training.tensorboard)
        elif family == "callbacks" and name in OUTPUT_ONLY_CALLBACKS:
            # Files the script's own run would write; they do not change training, and seqc's
            # build writes its own artifacts (model.onnx, weights.npz, report.json).
            self.note(node, f"{self.seg(node)} writes files during training and does not "
                            "change it; not run (seqc build writes its own outputs)")
            return DISPLAY_ONLY
        if family in ("losses", "metrics") and name[:1].islower() and args or any(
                isinstance(v, (Opaque, DataArr)) for v in [*args, *kwargs.values()]):
            # `keras.losses.mae(y_true, y_pred)`: a value computed on run-time data, not an
            # object for compile (an error only where the model would need it)
            return Opaque(node, f"{self.seg(node)} is computed on run-time values")
        cls = seqc_class(family, name)
        if cls is None and family in ("regularizers", "constraints"):
            return Opaque(node, f"keras.{family}.{name} is not a Keras built-in (seqc runs "
                                f"the built-in {family} only)", unsupported=True)
        if args:
            if cls is None:
                raise self.error(node, f"unknown {family[:-1]} '{name}'", field=family,
                                 received=self.seg(node))
            names = init_params(cls)
            if len(args) > len(names):
                raise self.error(node, f"{name} takes at most {len(names)} positional "
                                       "arguments", field=family,
                                 received=f"{len(args)} positional arguments")
            for k, v in zip(names, args):
                if k in kwargs:
                    raise self.error(node, f"{name} got '{k}' both by position and by name",
                                     field=k)
                kwargs = {k: v, **kwargs}
        spec = {"type": name, **{k: self.const(v, node, f"{name}({k}=...)")
                                 for k, v in kwargs.items()}}
        if family == "optimizers" and cls is not None:
            spec = self.keras2_optimizer(cls, spec, node)
        return Obj(spec, node)

    def keras2_optimizer(self, cls: type, spec: dict, node: ast.Call) -> dict:
        """Keras 2's optimizer arguments -> Keras 3's: lr is learning_rate, decay the
        InverseTimeDecay schedule it computes, epsilon=None Keras' 1e-7 (Keras 3's default)."""
        name = spec["type"]
        try:
            if rename_lr(spec):
                self.warn(node, f"Keras 2 argument {name}(lr={spec['learning_rate']!r}): read "
                                f"as learning_rate={spec['learning_rate']!r}")
            decay = spec.pop("decay", None)
            if decay not in (None, 0):
                default = inspect.signature(cls).parameters.get("learning_rate")
                lr = spec.get("learning_rate", default.default if default else None)
                spec["learning_rate"] = decay_schedule(lr, decay)
                self.warn(node, f"Keras 2 argument {name}(decay={decay!r}), lr / (1 + decay * "
                                f"iterations): read as learning_rate=InverseTimeDecay("
                                f"{lr!r}, decay_steps=1, decay_rate={decay!r})")
        except SeqcError as e:
            raise e.located(file=self.where(node)) from None
        if "epsilon" in spec and spec["epsilon"] is None:
            del spec["epsilon"]  # Keras 2.2: None meant backend.epsilon(), 1e-7
        return spec

    def compile_section(self, args: list, kwargs: dict, node: ast.Call) -> dict:
        bound = bind_args(list(_COMPILE_ARGS), args, kwargs)
        if bound is None:
            raise self.error(node, "model.compile() got unexpected arguments", field="compile",
                             received=self.seg(node),
                             hint=f"Keras 3 compile takes {', '.join(_COMPILE_ARGS)}")
        out = {}
        for k in _COMPILE_KEEP:
            if k in bound and bound[k] is not None:
                v = bound[k]
                if k in ("metrics", "weighted_metrics") and isinstance(v, (list, tuple)):
                    v = [self.metric_function(m, node) if isinstance(m, Func) else m
                         for m in v]
                v = self.const(v, node, f"compile({k}=...)")
                if k in ("metrics", "weighted_metrics") and isinstance(v, (str, dict)):
                    v = [v]
                out[k] = v
        from ..training import losses, optimizers

        for k, getter in (("optimizer", optimizers.get), ("loss", losses.get)):
            if k in out:
                try:
                    getter(out[k])
                except SeqcError as e:
                    raise e.located(file=self.where(node)) from None
        return out

    def metric_function(self, f: Any, node: ast.Call) -> Any:
        """A metric function the script defines whose body is one `return` of a Keras metric
        function on the same index of y_true and y_pred (Hands-On ML's `last_time_step_mse`:
        `keras.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, -1])`) is that metric
        with an `index` (training.metrics.Indexed), named after the function as Keras names
        it. The body is read, never run; any other function stays a located error."""
        fn = f.node
        a = fn.args
        params = [p.arg for p in a.posonlyargs + a.args]
        body = [st for st in fn.body if not (isinstance(st, ast.Expr) and isinstance(
            st.value, ast.Constant) and isinstance(st.value.value, str))]  # a docstring
        call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
        if len(params) != 2 or a.vararg or a.kwarg or a.kwonlyargs or a.defaults or (
                fn.decorator_list) or not isinstance(call, ast.Call) or call.keywords or len(
                call.args) != 2:
            return f  # const() refuses it: defined in the script
        target = self.ev(call.func, f.scope)
        path = norm(target.path) if isinstance(target, Sym) else ""
        short = path.rsplit(".", 1)[-1]
        if path not in (f"keras.metrics.{short}", f"keras.losses.{short}") or (
                short not in _INDEXED_METRICS):
            return f

        def index_of(e: ast.AST, name: str) -> Any:
            if not (isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name)
                    and e.value.id == name):
                return None
            parts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
            out: list = []
            for p in parts:
                if isinstance(p, ast.Slice) and p.lower is p.upper is p.step is None:
                    out.append(None)
                    continue
                v = self.ev(p, f.scope) if not isinstance(p, ast.Slice) else None
                if not isinstance(v, int) or isinstance(v, bool):
                    return None
                out.append(v)
            return out

        idx = index_of(call.args[0], params[0])
        if idx is None or idx != index_of(call.args[1], params[1]) or idx[0] is not None:
            return f
        spec = {"type": _INDEXED_METRICS[short], "name": fn.name, "index": idx}
        shown = ", ".join(":" if i is None else str(i) for i in idx)
        self.note(node, f"compile(metrics=[{fn.name}]): the script's function (line "
                        f"{fn.lineno}) is read as {short}({params[0]}[{shown}], "
                        f"{params[1]}[{shown}]), as Keras computes it; not run")
        return spec

    def lambda_callback(self, kwargs: dict, node: ast.Call) -> Any:
        """A LambdaCallback whose functions only read the model (print, plot, predict, as the
        text-generation example samples) does not change training: it is not run, with a
        note. One that could change the model or training is refused at its line."""
        from ._pyscript_values import Func, Lam

        for k, f in kwargs.items():
            if not isinstance(f, (Func, Lam)):
                raise self.error(node, f"LambdaCallback({k}=...) is not a function seqc can "
                                       "read", field="callbacks", received=self.seg(node))
            body = f.node
            if self.touches(body, f.scope) is not None or any(
                    isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(body)):
                raise self.error(node, f"LambdaCallback({k}=...) runs script code that may "
                                       "change the model or its training", field="callbacks",
                                 received=self.seg(node), hint="remove the callback")
        self.note(node, f"{self.seg(node)} only reads the model (output during training); "
                        "not run")
        return DISPLAY_ONLY

    def fit_section(self, args: list, kwargs: dict, node: ast.Call) -> dict:
        from ._pyscript_generators import GENERATED

        kwargs = dict(kwargs)
        generated = kwargs.pop(GENERATED, {})  # a generator's batches (_pyscript_generators)
        if "nb_epoch" in kwargs and "epochs" not in kwargs:
            kwargs = {("epochs" if k == "nb_epoch" else k): v for k, v in kwargs.items()}
            self.warn(node, f"Keras 1 argument fit(nb_epoch={kwargs['epochs']!r}): read as "
                            f"epochs={kwargs['epochs']!r}")
        bound = bind_args(list(_FIT_ARGS), args, kwargs)
        if bound is None:
            raise self.error(node, "model.fit() got unexpected arguments", field="fit",
                             received=self.seg(node))
        stream = None
        if _kwarg(node, "x") is not None and self.dataset_pipeline(_kwarg(node, "x")):
            stream = self.pipeline_fit(_kwarg(node, "x"), node, bound)  # _pyscript_pipeline
        for k in ("validation_steps", "validation_freq", "sample_weight"):
            if bound.get(k) is not None:
                raise self.error(node, f"fit({k}=...) changes how the model trains, and seqc "
                                       "does not read it", field=k, received=self.seg(node),
                                 hint="remove it: seqc trains on every row each epoch"
                                 + (" (class_weight is read)" if k == "sample_weight" else ""))
        given = self.bindings.val_x is not None
        val_arg = _kwarg(node, "validation_data")
        shown = f"fit(validation_data={self.seg(val_arg, 40) if val_arg else '...'})"
        if bound.get("validation_data") is not None and not given and not (
                self.staged_binding and _evaluated(bound["validation_data"])):
            self.note(node, f"{shown} is not used: no validation arrays were given (--val-x/"
                            "--val-y or --val-data), so no val_* metrics are computed")
        cbs = bound.get("callbacks")
        if isinstance(cbs, list):
            bound["callbacks"] = [c for c in cbs if c is not DISPLAY_ONLY]
        elif cbs is DISPLAY_ONLY:
            bound["callbacks"] = []
        out: dict = {}
        for k in _FIT_KEEP:
            if k in bound and bound[k] is not None:
                out[k] = self.const(bound[k], node, f"fit({k}=...)")
        if stream is not None:  # the pipeline batches and shuffles; Keras ignores fit's
            out = {k: v for k, v in out.items() if k not in ("batch_size", "shuffle")}
            out.update(stream)
        cbs = out.get("callbacks")
        if isinstance(cbs, dict):
            out["callbacks"] = [cbs]  # Keras 3's fit takes a lone callback as a list of one
        elif cbs is not None and not isinstance(cbs, list):
            raise self.error(node, "fit(callbacks=...) takes a callback or a list of them",
                             field="callbacks", received=f"callbacks={cbs!r}",
                             hint="e.g. callbacks=[keras.callbacks.EarlyStopping(patience=3)]")
        if bound.get("validation_data") is not None:
            # Keras validates on validation_data and ignores validation_split when both are
            # given. The arrays given stand for it (bound to its names, _pyscript_binding).
            out.pop("validation_split", None)
        if bound.get("validation_data") is not None and given:
            out["validation_data"] = f"{shown} at line {node.lineno}"
        elif bound.get("validation_data") is not None:
            watching = [c for c in out.get("callbacks") or [] if isinstance(c, dict)
                        and str(c.get("monitor", _VAL_DEFAULT.get(c.get("type"), ""))
                                ).startswith("val_")]
            if watching:
                # The script's stopping or lr schedule follows its own validation data,
                # which seqc does not have: training would differ, so it is refused.
                raise self.error(node, f"{watching[0]['type']} watches "
                                       f"{watching[0].get('monitor', 'val_loss')} on the "
                                       "script's validation_data, whose arrays were not "
                                       "given",
                                 field="validation_data", received=self.seg(node),
                                 hint="give its arrays with --val-x X_VAL.npy --val-y "
                                      "Y_VAL.npy (or --val-data FILE), use "
                                      "validation_split=0.2 (seqc validates on the last rows "
                                      "of the data given), or remove the callback")
        return {**out, **generated}

    def dataset_pipeline(self, arg: ast.AST, depth: int = 0) -> bool:
        """Whether fit's x is a tf.data pipeline or a generator (its batches are the
        pipeline's), read from the expression and the assignments of the names it uses."""
        for n in ast.walk(arg):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and (
                    n.func.attr in _PIPELINE_METHODS):
                return True
            if isinstance(n, ast.Name) and depth < 8 and self.call_scope is not None:
                d = self.lookup_def(n.id, self.call_scope)
                if isinstance(d, ast.Assign) and d.value is not arg and self.dataset_pipeline(
                        d.value, depth + 1):
                    return True
        return False


def _kwarg(node: ast.Call, name: str) -> ast.AST | None:
    """The argument node of fit's `name` (by keyword, else by its place), None if absent."""
    for k in node.keywords:
        if k.arg == name:
            return k.value
    i = _FIT_ARGS.index(name)
    return node.args[i] if len(node.args) > i else None


# Callbacks that monitor validation loss by default (Keras 3).
_VAL_DEFAULT = {"EarlyStopping": "val_loss", "ReduceLROnPlateau": "val_loss"}


class _DisplayOnly:
    """A callback that only shows progress (tensorflow_docs' EpochDots, a read-only
    LambdaCallback): dropped from fit's callbacks, with a note."""

    def __repr__(self) -> str:
        return "display-only callback"


DISPLAY_ONLY = _DisplayOnly()
OUTPUT_ONLY_CALLBACKS = ("ModelCheckpoint", "CSVLogger", "TensorBoard", "ProgbarLogger",
                         "RemoteMonitor")
# Progress displays from other packages, known to only print or plot.
DISPLAY_CALLBACKS = ("tensorflow_docs.modeling.EpochDots", "tqdm.keras.TqdmCallback",
                     "livelossplot.PlotLossesKeras", "livelossplot.PlotLossesKerasTF")


def _evaluated(val: Any) -> bool:
    """validation_data=(x, y) that the stages evaluated from the data given (their note
    says "validated on")."""
    from ._pyscript_data import DataArr

    return isinstance(val, (tuple, list)) and len(val) in (2, 3) and all(
        isinstance(a, DataArr) and a.values is not None for a in val[:2])


def _tensorboard_runs(args: list, kwargs: dict) -> bool:
    """A script's TensorBoard(...) is honoured when its log_dir is a literal path and the
    tensorboard extra is installed; otherwise it stays an output-only note."""
    import importlib.util

    log_dir = args[0] if args else kwargs.get("log_dir", "logs")
    return isinstance(log_dir, str) and importlib.util.find_spec("tensorboard") is not None


def seqc_class(family: str, name: str) -> type | None:
    if family == "optimizers":
        from ..training.optimizers import OPTIMIZERS

        return OPTIMIZERS.get(name.lower())
    if family == "losses":
        from ..training.losses import NAMES

        return NAMES.get(name)
    if family == "metrics":
        from ..training.metrics import NAMES as METRICS

        return METRICS.get(name)
    if family == "callbacks":
        from ..training.callbacks import CLASSES

        return CLASSES.get(name)
    if family == "optimizers.schedules":
        from ..training.schedules import SCHEDULES

        return SCHEDULES.get(name)
    if family == "initializers":
        from ..training import initializers

        fn = initializers.INITIALIZERS.get(initializers._canonical_name(name))
        return fn
    if family == "regularizers":
        from ..training.regularizers import NAMES as REGULARIZERS

        return REGULARIZERS.get(name)
    if family == "constraints":
        from ..training.constraints import NAMES as CONSTRAINTS

        return CONSTRAINTS.get(name)
    return None


def init_params(cls: Any) -> list[str]:
    """Positional parameter names of a seqc class (Keras' own order) or function."""
    target = cls
    if inspect.isclass(cls):
        for klass in cls.__mro__:
            if "__init__" in vars(klass):
                target = klass.__init__
                break
    params = inspect.signature(target).parameters.values()
    return [p.name for p in params if p.name != "self"
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

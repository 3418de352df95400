"""Training data that comes from a generator: Keras' ImageDataGenerator flows and the script's
own Python generator functions, passed to `model.fit` or Keras 2's `fit_generator`.

Nothing of the generator is ever run: the reader keeps its constructor's arguments, and a
generator function's body is not read at its call. The data given (--x/--y) takes the
generator's place, and what the generator does to it is honoured or refused:
- an ImageDataGenerator's random transforms and rescale become the fit's `augmentation`,
  run per training batch by seqc.training.augment (as Keras' flow runs them); its settings
  seqc does not run (featurewise statistics, ZCA, brightness, a preprocessing_function) are
  refused by name;
- a `flow(x, y)` binds its arrays as `fit(x, y)` does; `flow_from_directory(dir)` reads image
  files, so the images given replace it, as loaded (before rescale and augmentation);
- a generator function's batches are drawn from the data given, `steps_per_epoch` per epoch
  and running on across passes, as Keras draws from an endless generator; the build says
  so in one line. Without steps_per_epoch (an epoch as long as the generator yields) it is
  refused.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

# ImageDataGenerator's arguments that leave every image as it is, at these values
# (keras/src/legacy/preprocessing/image.py's defaults).
_INERT = {"featurewise_center": False, "samplewise_center": False,
          "featurewise_std_normalization": False, "samplewise_std_normalization": False,
          "zca_whitening": False, "zca_epsilon": None, "rotation_range": 0,
          "width_shift_range": 0.0, "height_shift_range": 0.0, "brightness_range": None,
          "shear_range": 0.0, "zoom_range": 0.0, "channel_shift_range": 0.0,
          "fill_mode": None, "cval": None, "horizontal_flip": False, "vertical_flip": False,
          "rescale": None, "preprocessing_function": None, "data_format": None,
          "validation_split": 0.0, "interpolation_order": None, "dtype": None}
_FLOWS = ("flow", "flow_from_directory", "flow_from_dataframe")


@dataclass(eq=False)
class ImageGen:
    """`ImageDataGenerator(...)`: its keyword arguments, kept unevaluated beyond constants."""

    kwargs: dict
    node: ast.AST


@dataclass(eq=False)
class ImageFlow:
    """`datagen.flow(x, y)` / `flow_from_directory(dir)`: batches of the generator."""

    gen: ImageGen
    method: str
    node: ast.AST
    args: list = field(default_factory=list)  # its arguments, evaluated
    kwargs: dict = field(default_factory=dict)


@dataclass(eq=False)
class PyGen:
    """A call of a generator function the script defines (its body holds a `yield`)."""

    func: ast.FunctionDef | ast.AsyncFunctionDef
    node: ast.AST
    kwargs: dict = field(default_factory=dict)  # the call's keyword arguments, evaluated


def is_image_data_generator(path: str) -> bool:
    return path.endswith(".preprocessing.image.ImageDataGenerator") and path.startswith(
        ("keras.", "tensorflow."))


def is_generator_function(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A `def` whose own body yields (nested functions and classes do not count)."""
    todo: list[ast.AST] = list(fn.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                              ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(n))
    return False


def image_gen_method(gen: ImageGen, meth: str, node: ast.AST, args: list,
                     kwargs: dict) -> Any:
    """`datagen.flow(...)` -> an ImageFlow; `datagen.fit(x)` (featurewise statistics, which
    only the settings refused in augmentation_of use) and anything else -> None (not run)."""
    return ImageFlow(gen, meth, node, list(args), dict(kwargs)) if meth in _FLOWS else None


def _shown(v: Any) -> str:
    return repr(v) if v is None or isinstance(v, (bool, int, float, str, tuple, list)) \
        else "..."


# Keras 2's fit_generator and Keras 1's: their arguments beyond the generator.
_FIT_GENERATOR_ARGS = ("steps_per_epoch", "epochs", "verbose", "callbacks", "validation_data",
                       "validation_steps", "validation_freq", "class_weight", "max_queue_size",
                       "workers", "use_multiprocessing", "shuffle", "initial_epoch",
                       "samples_per_epoch", "nb_epoch", "nb_val_samples", "max_q_size",
                       "nb_worker", "pickle_safe")
# How the batches are produced (threads, processes, queue length), not which: dropped.
_MACHINERY = ("max_queue_size", "workers", "use_multiprocessing", "max_q_size", "nb_worker",
              "pickle_safe")
_FLOW_ARGS = {"flow": ("x", "y", "batch_size", "shuffle", "sample_weight", "seed",
                       "save_to_dir", "save_prefix", "save_format", "ignore_class_split",
                       "subset"),
              "flow_from_directory": ("directory", "target_size", "color_mode", "classes",
                                      "class_mode", "batch_size", "shuffle", "seed",
                                      "save_to_dir", "save_prefix", "save_format",
                                      "follow_links", "subset", "interpolation",
                                      "keep_aspect_ratio")}
# ImageDataGenerator settings that change nothing seqc must run, at any value here.
_PASSIVE = {"data_format": (None, "channels_last"), "dtype": (None, "float32"),
            "interpolation_order": (1,)}


# The key under which a generator fit hands fit_section seqc's own settings (steps_per_epoch,
# repeat, augmentation): an object, so no keyword argument of a script can spell it.
GENERATED = object()


class GeneratorRefused(Exception):
    """A generator fit seqc cannot honour: (message, hint, field)."""


def augmentation_of(gen: ImageGen) -> dict:
    """The ImageDataGenerator's settings as seqc.training.augment runs them; a setting it
    does not run, at a value that does something, raises GeneratorRefused."""
    from ..training.augment import DEFAULTS, FILL_MODES

    at = f"ImageDataGenerator at line {gen.node.lineno}"
    out: dict = {}
    for k, v in gen.kwargs.items():
        if k in _PASSIVE and v in _PASSIVE[k]:
            continue
        if k == "validation_split":
            continue  # only a flow's subset= uses it (refused there)
        if k in DEFAULTS and not (k == "fill_mode" and v not in FILL_MODES):
            if isinstance(v, tuple):
                v = list(v)
            if v != DEFAULTS[k] and not (k == "rescale" and v in (None, 0)):
                out[k] = v
            continue
        if k in _INERT and _INERT[k] == v:
            continue
        why = {"featurewise_center": "needs the dataset's statistics from datagen.fit(x)",
               "featurewise_std_normalization": "needs the dataset's statistics from "
                                                "datagen.fit(x)",
               "zca_whitening": "needs the dataset's ZCA matrix from datagen.fit(x)",
               "preprocessing_function": "runs script code on every image",
               "fill_mode": "samples the border in a way seqc does not run"}.get(
                   k, "is a transform seqc does not run")
        raise GeneratorRefused(
            f"{at}: {k}={_shown(v)} {why}",
            "remove the setting, or normalize the data before giving it with --x/--y (seqc "
            f"runs {', '.join(k for k in DEFAULTS if k != 'cval')} and cval)",
            k)
    return out


def _literal_default(fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> Any:
    """The default of parameter `name` of fn where it is a constant (nothing else is read)."""
    a = fn.args
    pos = [*a.posonlyargs, *a.args]
    pairs = list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + [
        (p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
    for p, d in pairs:
        if p.arg == name:
            return d.value if isinstance(d, ast.Constant) else None
    return None


def _steps(r: Any, meth: str, b: dict, rows: int | None, batch_size: int,
           node: ast.AST) -> int | None:
    """steps_per_epoch, or Keras 1's samples_per_epoch as batches (only one pass's worth,
    where seqc knows the passes line up)."""
    if b.get("steps_per_epoch") is not None:
        return b["steps_per_epoch"]
    spe = b.get("samples_per_epoch")
    if spe is None:
        return None
    if isinstance(spe, int) and rows is not None and spe == rows:
        r.warn(node, f"Keras 1 argument {meth}(samples_per_epoch={spe}), the number of "
                            "samples: read as one pass over them per epoch")
        return None
    raise GeneratorRefused(
        f"{meth}(samples_per_epoch={_shown(spe)}) (Keras 1) draws that many samples per epoch "
        "from the flow, which seqc reads only where it is the number of samples given "
        f"({rows if rows is not None else 'unknown'})",
        "use steps_per_epoch=N (batches per epoch), or samples_per_epoch=len(x)",
        "samples_per_epoch")


def generator_fit(r: Any, data: Any, meth: str, args: list, kwargs: dict,
                  node: ast.Call, scope: Any) -> tuple[dict, dict, str]:
    """(the fit's Keras 3 keyword arguments, seqc's generated settings, the one line that says
    what replaced the generator) for `meth(data, ...)`; GeneratorRefused where seqc cannot
    honour it."""
    from ._pyscript_values import bind_args

    rest = dict(kwargs)
    rest.pop("generator" if meth == "fit_generator" else "x", None)
    if meth == "fit_generator":
        if len(args) > 1:  # Keras 1's second argument was samples_per_epoch, Keras 2's steps
            raise GeneratorRefused(
                "fit_generator's arguments after the generator are read by name only (Keras 1 "
                "and Keras 2 order them differently)", "name them: steps_per_epoch=..., "
                "epochs=...", "fit_generator")
        b = bind_args(list(_FIT_GENERATOR_ARGS), [], rest)
    else:
        b = dict(rest) if len(args) <= 1 else None
        if b is not None and b.get("y") is not None or b is not None and b.get("batch_size"):
            raise GeneratorRefused("fit() on a generator takes no y or batch_size (its batches "
                                   "bring both)", "remove them", "fit")
    if b is None:
        raise GeneratorRefused(f"{meth}() got arguments seqc does not read", "see Keras' "
                               "model.fit", meth)
    for k in _MACHINERY:
        b.pop(k, None)
    # How much of validation_data to use; seqc does not read validation_data (fit_section
    # says so, and refuses a callback that watches it).
    b.pop("validation_steps", None)
    b.pop("nb_val_samples", None)
    # Keras 2's fit_generator repeats a Sequence (an ImageDataGenerator flow) endlessly; Keras
    # 3's fit ends an epoch where a Sequence ends. A generator function is endless in both.
    repeat = isinstance(data, PyGen) or meth == "fit_generator"
    if isinstance(data, ImageFlow):
        return _flow_fit(r, data, meth, b, repeat, node, scope)
    call = data.node
    bs, bs_from = data.kwargs.get("batch_size"), "its batch_size={}"
    if "batch_size" not in data.kwargs:
        bs, bs_from = _literal_default(data.func, "batch_size"), "its default batch_size={}"
    bs_from = bs_from.format(bs) if isinstance(bs, int) and not isinstance(bs, bool) \
        and bs > 0 else None
    steps = b.pop("steps_per_epoch", None)
    if steps is None:
        raise GeneratorRefused(
            f"{meth}() on {data.func.name}() (line {data.func.lineno}) has no steps_per_epoch: "
            "an epoch lasts as long as the generator yields, which seqc cannot know",
            "give steps_per_epoch=N (batches per epoch)", "steps_per_epoch")
    if b.get("shuffle") is False:
        b.pop("shuffle")
    batch = bs if bs_from else None
    line = (f"the data given (--x/--y) replaces {data.func.name}() (defined at line "
            f"{data.func.lineno}, called at line {call.lineno}): seqc draws batches of "
            + (f"{bs} rows ({bs_from}" if bs_from else "32 rows (Keras' default")
            + "; --batch-size sets another)"
            + f" from it in shuffled passes, {steps} steps per epoch, running on from pass "
              "to pass as from an endless generator")
    r.fit_data.append(f"{meth}({data.func.name}(...)) at line {node.lineno}")
    return ({**b, **({"batch_size": batch} if batch else {})},
            {"steps_per_epoch": steps, "repeat": "passes"}, line)


def _flow_fit(r: Any, flow: ImageFlow, meth: str, b: dict, repeat: bool, node: ast.Call,
              scope: Any) -> tuple[dict, dict, str]:
    from ._pyscript_data import DataArr
    from ._pyscript_values import bind_args

    if flow.method not in _FLOW_ARGS:
        raise GeneratorRefused(f"{flow.method}() reads files seqc does not read",
                               "give the images with --x/--y and use flow(x, y)", flow.method)
    fnode, fargs, fkw = flow.node, flow.args, flow.kwargs
    fb = bind_args(list(_FLOW_ARGS[flow.method]), fargs, fkw)
    if fb is None:
        raise GeneratorRefused(f"{flow.method}() got arguments seqc does not read",
                               "see Keras' ImageDataGenerator", flow.method)
    aug = augmentation_of(flow.gen)
    for k in ("sample_weight", "subset"):
        if fb.get(k) is not None:
            raise GeneratorRefused(f"{flow.method}({k}=...) is not read by seqc",
                                   "remove it", k)
    if flow.method == "flow_from_directory" and fb.get("class_mode", "categorical") not in (
            "categorical", "binary", "sparse"):
        raise GeneratorRefused(
            f"flow_from_directory(class_mode={fb.get('class_mode')!r}) yields no labels seqc "
            "can be given (with 'input' the targets are the augmented images themselves)",
            "use class_mode 'categorical', 'binary' or 'sparse'", "class_mode")
    if flow.method == "flow" and fb.get("y") is None:
        raise GeneratorRefused("flow(x) without y yields no labels to train on",
                               "give flow(x, y)", "y")
    bs = fb.get("batch_size", 32)
    if not isinstance(bs, int) or isinstance(bs, bool) or bs < 1:
        raise GeneratorRefused(f"{flow.method}(batch_size={_shown(bs)}) is not a batch size "
                               "seqc can read", "give a positive integer", "batch_size")
    shuffle = fb.get("shuffle", True)
    if shuffle is not True and not (shuffle is False and (
            meth == "fit" or b.get("shuffle") is False)):
        # fit_generator shuffles the batch order of a Sequence that keeps its row order.
        raise GeneratorRefused(f"{flow.method}(shuffle={_shown(shuffle)}) with "
                               f"{meth}(shuffle=True) shuffles the order of batches but not "
                               "of rows, which seqc does not run",
                               "use shuffle=True on the flow", "shuffle")
    b.pop("shuffle", None)
    rows = None
    if flow.method == "flow":
        r.record_fit(fnode, scope)
        x = fargs[0] if fargs else fkw.get("x")
        rows = x.shape[0] if isinstance(x, DataArr) else None
        what = f"{r.seg(fnode, 50)} at line {fnode.lineno}: the arrays given take its place"
    else:
        r.fit_data.append(f"{r.seg(fnode, 50)} at line {fnode.lineno}")
        size = fb.get("target_size", (256, 256))
        chans = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(fb.get("color_mode", "rgb"), "?")
        what = (f"{r.seg(fnode, 50)} at line {fnode.lineno} reads image files, which seqc "
                f"does not: the images given (--x/--y) replace them, as it loads them "
                f"({_shown(size)} x {chans} channels, values 0-255, before rescale and "
                f"augmentation; labels as class_mode={fb.get('class_mode', 'categorical')!r} "
                "makes them)")
    steps = _steps(r, meth, b, rows, bs, node)
    b.pop("steps_per_epoch", None)
    b.pop("samples_per_epoch", None)
    gen = {**({"augmentation": aug} if aug else {}),
           **({"steps_per_epoch": steps, "repeat": "passes" if repeat else False}
              if steps is not None else {})}
    shown = ", ".join(f"{k}={_shown(v)}" for k, v in aug.items()) or "none"
    line = (f"{what}; seqc runs the ImageDataGenerator (line {flow.gen.node.lineno}) on each "
            f"training batch of {bs}: {shown}"
            + (f"; {steps} steps per epoch" if steps is not None else ""))
    return {**b, "batch_size": bs, "shuffle": shuffle}, gen, line

"""Training data that comes from a generator: Keras' ImageDataGenerator flows and the script's
own Python generator functions, passed to `model.fit` or Keras 2's `fit_generator`.

Such batches are made by code seqc does not run, and they change training: an
ImageDataGenerator transforms each image at random (rotation, shifts, shear, zoom, flips,
featurewise statistics) and rescales it; a generator function draws whatever windows or rows
its body computes (dlwp's Jena generator draws rows with replacement). So a fit on one is
refused, naming the generator, its line and what it does, on the model it trains (another
model's fit does not concern the build). Nothing of the generator is ever run: the reader
keeps its constructor's arguments, and a generator function's body is not read at its call.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
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


@dataclass(eq=False)
class PyGen:
    """A call of a generator function the script defines (its body holds a `yield`)."""

    func: ast.FunctionDef | ast.AsyncFunctionDef
    node: ast.AST


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


def image_gen_method(gen: ImageGen, meth: str, node: ast.AST) -> Any:
    """`datagen.flow(...)` -> an ImageFlow; `datagen.fit(x)` (featurewise statistics) and
    anything else -> None (not run; what they would do shows in the fit's refusal)."""
    return ImageFlow(gen, meth, node) if meth in _FLOWS else None


def _shown(v: Any) -> str:
    return repr(v) if v is None or isinstance(v, (bool, int, float, str, tuple, list)) \
        else "..."


def generator_fit_refusal(r: Any, data: Any, meth: str) -> tuple[str, str] | None:
    """(message, hint) when `data`, the first argument of a fit, is a generator's batches;
    None otherwise."""
    if isinstance(data, ImageFlow):
        gen = data.gen
        changed = [f"{k}={_shown(v)}" for k, v in gen.kwargs.items()
                   if k not in _INERT or _INERT[k] != v]
        at = f"ImageDataGenerator at line {gen.node.lineno}"
        if any(not k.startswith(("rescale=", "dtype=", "data_format=", "validation_split="))
               for k in changed):
            what = (f"{at} ({', '.join(changed)}) transforms every image at random while "
                    "training (augmentation)")
            hint = ("seqc trains on the data given as it is: give the images with --x/--y and "
                    "train with model.fit, or augment inside the model with Keras' "
                    "preprocessing layers (RandomFlip, RandomTranslation, RandomRotation, "
                    "RandomZoom)")
        else:
            what = (f"{at}{' (' + ', '.join(changed) + ')' if changed else ''}.{data.method}"
                    "() makes the batches (reading and rescaling the images)")
            hint = ("give the images as they reach the model (rescaled) with --x/--y and "
                    "fit on them, or add keras.layers.Rescaling to the model")
        return (f"{meth}() trains on the batches of an ImageDataGenerator: {what}, which "
                "seqc does not run", hint)
    if isinstance(data, PyGen):
        return (f"{meth}() trains on the batches of {data.func.name}(), a generator the script "
                f"defines (line {data.func.lineno}); seqc does not run it and cannot know what "
                "it yields (which rows, how often, in what order)",
                "give the arrays it yields with --x/--y and fit on them (model.fit(x, y, "
                "batch_size=..., epochs=...))")
    return None

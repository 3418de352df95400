"""seqc: compile sequential neural networks to trained, validated ONNX.

    >>> import seqc
    >>> model = seqc.Sequential([seqc.layers.Input((30,)),
    ...                          seqc.layers.Dense(32, activation="relu"),
    ...                          seqc.layers.Dense(1, activation="sigmoid")])
    >>> model.count_params()
    1025

Importing seqc stays light: onnx and onnxruntime load only inside the functions that need
them, and the public names below are resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_LAZY = {
    "Sequential": ("seqc.model", "Sequential"),
    "Model": ("seqc.model", "Model"),
    "Input": ("seqc.layers", "Input"),
    "validate": ("seqc.runtime.validate", "validate"),
    "predict_dataset": ("seqc.runtime.sharded", "predict_dataset"),
    "data": ("seqc.data", None),
    "layers": ("seqc.layers", None),
    "optimizers": ("seqc.training.optimizers", None),
    "losses": ("seqc.training.losses", None),
    "metrics": ("seqc.training.metrics", None),
    "callbacks": ("seqc.training.callbacks", None),
    "initializers": ("seqc.training.initializers", None),
    "regularizers": ("seqc.training.regularizers", None),
    "constraints": ("seqc.training.constraints", None),
    "SeqcError": ("seqc.errors", "SeqcError"),
    "SeqcWarning": ("seqc.errors", "SeqcWarning"),
}

__all__ = [*_LAZY, "load", "__version__"]


def load(path: Any, *, check: bool = False, **kwargs: Any) -> Any:
    """A model from a definition (seqc spec, Keras file, Python script, an .onnx file) or a
    build folder; see seqc.frontend.load. `check=True` re-runs the test vectors embedded in a
    build folder's (or the loaded) model.onnx through the loaded model's NumPy forward and
    raises ValidationFailure if they disagree."""
    from .frontend import load as _load

    model = _load(path, **kwargs)
    if check:
        from .runtime.vector_checks import check_loaded

        check_loaded(model, path)
    return model


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'seqc' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

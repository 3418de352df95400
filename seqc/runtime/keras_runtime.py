"""Keras 3 as a runtime: the seqc model written as a `.keras` file (seqc's own writer), loaded
by `keras.saving.load_model`, and run with Keras' own layers. An independent implementation of
every layer, so agreement with it is evidence, not an echo. Needs keras, h5py and a Keras
backend (torch, jax or tensorflow); with no KERAS_BACKEND set and no TensorFlow installed,
torch (then jax) is picked before Keras is first imported."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from typing import Any

import numpy as np

from .source import Predict, Runner

_BACKENDS = ("tensorflow", "torch", "jax")


def _pick_backend() -> str | None:
    """The backend Keras would use (or one that is installed); None when there is none."""
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return os.environ.get("KERAS_BACKEND", "tensorflow")
    for name in _BACKENDS:
        if importlib.util.find_spec(name) is not None:
            if name != "tensorflow":
                os.environ["KERAS_BACKEND"] = name  # Keras' default, tensorflow, is absent
            return name
    return None


class KerasRunner(Runner):
    name = "keras"
    needs = "ir"
    description = "Keras 3, the model saved as .keras by seqc and loaded by keras.saving"
    default = False

    def unavailable(self) -> str | None:
        for module in ("keras", "h5py"):
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install 'seqc[crosscheck]')"
        if _pick_backend() is None:
            return "Keras has no backend here: install torch, jax or tensorflow"
        return None

    def cannot_run(self, src: Any) -> str | None:
        if len(src.graph.inputs) > 1 or len(src.graph.outputs) > 1:
            return "the keras runtime compares models of one input and one output"
        _pick_backend()
        import keras

        missing = sorted({n.op for n in src.graph.nodes if not hasattr(keras.layers, n.op)})
        if missing:  # seqc kinds Keras 3 has no layer for (Highway: Keras 1/2's legacy layer)
            return f"Keras {keras.__version__} has no layer {', '.join(missing)}"
        for node in src.graph.nodes:
            t = src.graph.types[node.inputs[0]] if node.op == "RandomCrop" else None
            if t is not None and src.graph.types[node.outputs[0]].shape != t.shape:
                # Keras documents a crop; its layer's call(training=False) skips it.
                return (f"Keras 3.15's RandomCrop ('{node.name}') returns its input uncropped "
                        "at inference, against its own output shape")
        return None

    def load(self, src: Any, *, batch_size: int | None = None, **_: Any) -> Predict:
        _pick_backend()
        import keras

        from ..export.keras_file import save_keras
        from ..model import Model

        model = Model(src.graph, dict(src.params), name=src.graph.name)
        with tempfile.TemporaryDirectory(prefix="seqc-keras-") as tmp:
            path = save_keras(model, os.path.join(tmp, "model.keras"))
            km = keras.saving.load_model(path, compile=False)

        def predict(x: np.ndarray) -> np.ndarray:
            y = km.predict(x, batch_size=batch_size or 1024, verbose=0)
            return np.asarray(keras.ops.convert_to_numpy(y), dtype=np.float32)

        return predict

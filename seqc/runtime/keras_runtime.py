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
        why = _integer_limit(src.graph, _pick_backend())
        if why is not None:
            return why
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


def _integer_limit(graph: Any, backend: str | None) -> str | None:
    """Where Keras cannot run a layer on integers that seqc promotes to float32 (as Keras'
    matmul and its JAX backend's conv do): its torch backend's conv (torch.nn.functional.conv*)
    and a recurrent layer's input dropout refuse integer inputs; on JAX, the depthwise,
    separable and transposed convolutions do. Measured with Keras 3.15."""
    from ..ops import REGISTRY
    from ..ops._promote import is_integer, promotes
    from ..ops.base import wrapped
    from ..ops.time_distributed import inner

    for node in graph.nodes:
        op, attrs = REGISTRY[node.op], node.attrs
        if not promotes(op, attrs) or not any(is_integer(graph.types[v].dtype)
                                              for v in node.inputs):
            continue
        if node.op in ("TimeDistributed", "Bidirectional"):
            op, attrs = inner(attrs)[:2] if node.op == "TimeDistributed" else wrapped(attrs.layer)
        conv = op.category == "convolution" or op.kind.startswith("ConvLSTM")
        if backend == "torch":
            refused = conv or getattr(attrs, "dropout", 0) or getattr(attrs, "recurrent_dropout", 0)
        else:
            refused = backend == "jax" and conv and (
                op.kind.startswith(("Depthwise", "Separable")) or op.kind.endswith("Transpose"))
        if refused:
            return (f"Keras' {backend} backend cannot run {node.op} ('{node.name}') on its "
                    f"integer input {graph.types[node.inputs[0]]}, which seqc promotes to "
                    "float32 as Keras' matmul does")
    return None

"""The user-facing model: a Graph plus its parameter table, compile and fit settings.

Mirrors Keras' Model API (compile, fit, evaluate, predict, summary, get/set_weights, export).
Heavy work lives in the stages (training/, export/); this class only holds state and routes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DefinitionError, ResourceError, SeqcError, UsageError
from .fileio import human_size
from .ir.build import LayerConfig, build_graph
from .ir.graph import Graph
from .ir.types import TensorType, batched

# Refuse definitions whose build would need more than this many bytes (ir/memory.py: the
# parameters, gradients, optimizer slots, a batch of activations and the ONNX export's copies).
# Override: max_memory=None or `seqc build --max-memory`.
DEFAULT_MAX_MEMORY = 4 * 1024**3


def check_memory(graph: Graph, limit: int | None, file: str | None = None, **kw: Any) -> None:
    """ResourceError when `estimate_memory(graph, **kw)` is over `limit` bytes (None: none)."""
    if limit is None:
        return
    from .ir.memory import estimate_memory

    est = estimate_memory(graph, **kw)
    if est.total > limit:
        n = est.parameters
        biggest = max(graph.param_specs.items(), key=lambda kv: int(np.prod(kv[1].shape)),
                      default=None)
        phases = ", ".join(f"{k} {human_size(v)}" for k, v in est.phases.items())
        raise ResourceError(
            f"the model has {n:,} parameters and would need about {human_size(est.total)} to "
            f"build ({phases}), over the limit of {human_size(limit)}"
            + (f"; the largest parameter is {biggest[0]} with shape {biggest[1].shape}"
               if biggest else ""),
            file=file, layer=f"layer '{biggest[0].split('/')[0]}'" if biggest else None,
            field="units", received=f"{n:,} parameters",
            hint="shrink the layer, or raise the limit with --max-memory (e.g. --max-memory 32GB)"
                 " or max_memory=None in Python")


class Model:
    """A compiled-or-not, trained-or-not network. Build one with `seqc.Sequential`,
    `seqc.load`, or Keras' functional API: `seqc.Model(inputs=x, outputs=y)` with `x =
    seqc.Input(...)` and `y` the result of layer calls (see seqc.layers).

    >>> import seqc
    >>> m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(2)])
    >>> m.count_params()
    10
    """

    def __init__(self, graph: Any = None, params: Any = None,
                 *, name: str | None = None, seed: int = 0,
                 max_memory: int | None = DEFAULT_MAX_MEMORY, source: str | None = None,
                 inputs: Any = None, outputs: Any = None):
        if inputs is not None or outputs is not None or (
                graph is not None and not isinstance(graph, Graph)):
            # Keras' Model(inputs, outputs), by position or by name
            from .layers import functional_graph

            if inputs is None:
                inputs, graph = graph, None
            if outputs is None:
                outputs, params = params, None
            if graph is not None or params is not None:
                raise UsageError("Model takes inputs and outputs, or a graph",
                                 field="inputs")
            graph = functional_graph(inputs, outputs, name or "functional")
        self._graph = graph
        self.name = name or (graph.name if graph else "sequential")
        self.seed = seed
        self.max_memory = max_memory
        self.source = source
        self.params: dict[str, np.ndarray] = params or {}
        self.compiled: Any = None  # training.compile_config.CompileConfig after compile()
        self.history: Any = None
        # Set by the data loader when labels were strings: index -> label.
        self.class_names: list[str] | None = None
        self.metadata: dict[str, str] = {}
        # Set when loaded from an .onnx file seqc wrote: the options it was exported with
        # (the defaults of `export`) and the digest of the weights its carried metadata
        # (test vectors, metrics) belongs to.
        self.export_options: dict[str, Any] = {}
        self.metadata_weights: str | None = None
        self.stop_training = False
        # The Definition a frontend loaded this model from (fit/data settings), if any.
        self.spec: Any = None
        # True once adaptable layers (Normalization) hold statistics: fit adapts them on its
        # first call only. Weights given here or via set_weights (e.g. from Keras) count as
        # adapted.
        self.adapted = bool(params)
        # Reasons `fit` must refuse (a Keras file's custom regularizers or constraints, which
        # seqc has no code for: training would silently differ). Predicting and exporting go on.
        self.training_blockers: list[str] = []
        # Carried states of stateful recurrent layers, by layer (training/stateful.py).
        self.rnn_states: dict[str, tuple] = {}
        if graph is not None:
            self._check_training_args()
        if graph is not None and not self.params:
            self._init_params()

    # ---- structure ----
    @property
    def graph(self) -> Graph:
        if self._graph is None:
            raise UsageError(
                "the model has no input shape yet, so it cannot be built",
                hint="start with seqc.layers.Input((features,)) or pass input_shape= to the "
                     "first layer")
        return self._graph

    @property
    def built(self) -> bool:
        return self._graph is not None

    def _check_training_args(self) -> None:
        """Regularizers and constraints are checked when the model is built, like
        initializers, so a typo fails before anything trains."""
        from .training.penalties import check

        check(self.graph, self.source)

    def _init_params(self) -> None:
        from .training.initializers import init_params

        # What making the weights commits to: the parameters and their export copies. The
        # activations depend on the batch size, which is known (and checked) only when a
        # build trains (pipeline.check_build_memory); a model too big to train at batch 32
        # may still be read, summarised, converted or predicted in small batches.
        check_memory(self.graph, self.max_memory, self.source, train=False, rows=1)
        try:
            self.params = init_params(self.graph, self.seed)
        except SeqcError as e:  # an unknown or wrong-typed initializer: name the file too
            raise e.located(file=None if self.source is None else str(self.source)) from None

    @property
    def input_shape(self) -> tuple | list[tuple]:
        """Keras' input_shape: a tuple, or a list of one per input for several."""
        g = self.graph
        shapes = [g.types[v].shape for v in g.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> tuple | list[tuple]:
        """Keras' output_shape: a tuple, or a list of one per output for several."""
        g = self.graph
        shapes = [g.types[v].shape for v in g.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def count_params(self) -> int:
        return self.graph.count_params()

    def get_weights(self) -> list[np.ndarray]:
        """Parameters in Keras' order and layouts (layer by layer, e.g. kernel then bias)."""
        return [self.params[k].copy() for k in self.graph.param_specs]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        specs = self.graph.param_specs
        if len(weights) != len(specs):
            raise UsageError(
                f"set_weights expected {len(specs)} arrays, one per parameter "
                f"({', '.join(specs)})", field="weights", received=f"{len(weights)} arrays")
        new = {}
        for (key, spec), w in zip(specs.items(), weights):
            w = np.asarray(w)
            if tuple(w.shape) != tuple(spec.shape):
                raise UsageError(f"weight {key} has the wrong shape", field=key,
                                 received=f"shape {tuple(w.shape)}, expected {spec.shape}")
            new[key] = w.astype(spec.dtype).copy()
        self.params = new
        self.adapted = True

    def summary(self, print_fn=print) -> str:
        from .ir.summary import format_summary

        text = format_summary(self.graph, self.params)
        if print_fn is not None:
            print_fn(text)
        return text

    def plot(self, to_file: str = "model.png", show_shapes: bool = False,
             show_dtype: bool = False, show_layer_names: bool = False, rankdir: str = "TB",
             dpi: int = 200, show_layer_activations: bool = False,
             show_trainable: bool = False) -> str:
        """Draw the model to `to_file` (.png or .svg) with keras.utils.plot_model's options;
        returns the path. Needs the report extra (matplotlib)."""
        from .report import need_matplotlib
        from .report.draw import model_figure, save

        need_matplotlib("Model.plot")
        return save(model_figure(self.graph, show_shapes=show_shapes, show_dtype=show_dtype,
                                 show_layer_names=show_layer_names, rankdir=rankdir,
                                 show_layer_activations=show_layer_activations,
                                 show_trainable=show_trainable, dpi=dpi), to_file)

    # ---- training (implemented in training/) ----
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                **kwargs: Any) -> None:
        """Keras' compile: optimizer and loss as names, configs or objects."""
        from .training.compile_config import compile_model

        compile_model(self, optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def fit(self, x=None, y=None, **kwargs: Any):
        """Keras' fit: batch_size=32, epochs=1, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, callbacks, verbose, seed."""
        from .training.fit import fit

        return fit(self, x, y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs: Any):
        from .training.evaluate import evaluate

        return evaluate(self, x, y, **kwargs)

    def predict(self, x, batch_size: int | None = None, verbose: Any = 0) -> np.ndarray:
        from .training.evaluate import predict

        return predict(self, x, batch_size=batch_size, verbose=verbose)

    def reset_states(self) -> None:
        """Keras 2's `model.reset_states()` (Keras 3: each stateful layer's
        `reset_states()`): stateful recurrent layers start again from zero states."""
        from .training.stateful import reset

        reset(self)

    # ---- export ----
    def export(self, path: str, opset: int | None = None, **kwargs: Any) -> str:
        """Write an ONNX model (atomically) and return its path. Options not given take the
        ones the model was loaded with (`seqc.load("model.onnx")`), else opset 17 and
        `export_model`'s defaults."""
        from .export import export_model

        options = {**self.export_options, **kwargs}
        if opset is not None:
            options["opset"] = opset
        options.setdefault("opset", 17)
        return export_model(self, path, **options)

    def save(self, path: str) -> str:
        """Keras' `model.save("x.keras")`: a Keras 3 `.keras` file (config, weights and, when
        compiled, the compile settings) that `keras.saving.load_model` and `seqc.load` read.
        Needs h5py (`pip install 'seqc[keras]'`)."""
        import os

        if not os.fspath(path).lower().endswith(".keras"):
            raise UsageError("model.save writes Keras' .keras format; the path must end in "
                             "'.keras'", field="path", received=repr(os.fspath(path)),
                             hint="use model.export('model.onnx') for ONNX")
        from .export.keras_file import save_keras

        return save_keras(self, os.fspath(path))


class Sequential(Model):
    """Keras' Sequential: a list of layers, the first an `Input` or carrying `input_shape`.

    >>> import seqc
    >>> m = seqc.Sequential([seqc.layers.Input((30,)),
    ...                      seqc.layers.Dense(32, activation="relu"),
    ...                      seqc.layers.Dense(1, activation="sigmoid")])
    >>> m.output_shape
    (None, 1)
    """

    def __init__(self, layers: list | None = None, name: str | None = None, *, seed: int = 0,
                 max_memory: int | None = DEFAULT_MAX_MEMORY):
        super().__init__(None, name=name or "sequential", seed=seed, max_memory=max_memory)
        self._layers: list[LayerConfig] = []
        self._input: TensorType | None = None
        for layer in layers or []:
            self._append(layer)
        self._rebuild()

    def add(self, layer: LayerConfig) -> None:
        self._append(layer)
        self._rebuild()

    def _append(self, layer: Any) -> None:
        from .layers import InputSpec

        if isinstance(layer, InputSpec):
            if self._layers or self._input is not None:
                raise DefinitionError("Input must be the first layer", field="layers",
                                      received=f"Input at position {len(self._layers)}")
            self._input = layer.type
            return
        if not isinstance(layer, LayerConfig):
            raise UsageError("Sequential takes layers made with seqc.layers.*",
                             received=f"{type(layer).__name__}")
        config = dict(layer.config)
        shape = config.pop("input_shape", None)
        if shape is not None:
            if self._layers or self._input is not None:
                raise DefinitionError("input_shape is only allowed on the first layer",
                                      field="input_shape", received=f"input_shape={shape}")
            self._input = batched(tuple(shape))
            layer = LayerConfig(layer.type, config, layer.name, layer.trainable)
        self._layers.append(layer)

    def _rebuild(self) -> None:
        if self._input is None or not self._layers:
            return
        old = dict(self.params)
        self._graph = build_graph(self.name, self._input, self._layers)
        self._check_training_args()
        self._init_params()
        # Keep weights of layers that were already there (model.add after training).
        for k, v in old.items():
            if k in self.params and self.params[k].shape == v.shape:
                self.params[k] = v

    @property
    def layers(self) -> list[LayerConfig]:
        return list(self._layers)

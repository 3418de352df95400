"""Keras' TensorBoard callback: real event files TensorBoard reads, without TensorFlow.

Layout and tags are Keras 3's (keras/src/callbacks/tensorboard.py): `log_dir/train` holds
`epoch_<name>` for each training log plus `epoch_learning_rate` (and
`epoch_steps_per_second`), `log_dir/validation` holds `epoch_<name>` for each `val_` log
(prefix removed) and `evaluation_<name>_vs_iterations`; `update_freq="batch"` or N adds
`batch_<name>` every N batches; `histogram_freq=N` adds `<layer>/<weight>/histogram` every N
epochs. Scalars and histograms are TensorFlow 2's summary protos (tensor summaries with the
scalars/histograms plugin), written by the `tensorboard` package's own event-file writer and
summary helpers (the `tensorboard` extra), which import no TensorFlow.

`write_graph=True` writes a GraphDef of the model's layers (Keras on TensorFlow writes its
traced train function; on torch Keras writes none): one node per IR layer, op = the layer
kind, an edge per input, the output shape on each node (`_output_shapes`) and the layer's
arguments as a string attribute `config`. Profiling, embeddings and weight images are
refused by name: seqc has no profiler or projector checkpoint to write.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..errors import DefinitionError, UsageError
from .callback_base import Callback

EXTRA_HINT = "install the writer with: pip install 'seqc[tensorboard]' (the tensorboard package)"


def _tb() -> Any:
    """The tensorboard package's writer and protos (imported only when logs are written)."""
    try:
        from tensorboard.compat.proto import (
            attr_value_pb2,
            event_pb2,
            graph_pb2,
            node_def_pb2,
            tensor_shape_pb2,
        )
        from tensorboard.plugins.histogram import summary_v2 as histogram
        from tensorboard.plugins.scalar import summary_v2 as scalar
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise UsageError("the TensorBoard callback needs the tensorboard package, which is "
                         "not installed", field="TensorBoard", hint=EXTRA_HINT) from None

    class TB:  # a namespace of what the callback uses
        pass

    for name, mod in (("attr", attr_value_pb2), ("event", event_pb2), ("graph", graph_pb2),
                      ("node", node_def_pb2), ("shape", tensor_shape_pb2),
                      ("histogram", histogram), ("scalar", scalar)):
        setattr(TB, name, mod)
    TB.Writer = EventFileWriter
    return TB


class TensorBoard(Callback):
    """Write TensorBoard logs during `fit` (Keras 3's arguments and defaults).

    >>> cb = TensorBoard(log_dir="logs", histogram_freq=1)   # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[cb])            # doctest: +SKIP
    """

    def __init__(self, log_dir: Any = "logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq: Any = "epoch", profile_batch: Any = 0, embeddings_freq: int = 0,
                 embeddings_metadata: Any = None) -> None:
        super().__init__()
        refused = {"profile_batch": (profile_batch, "seqc has no profiler to trace batches "
                                                    "with (Keras refuses it on torch too)"),
                   "embeddings_freq": (embeddings_freq, "seqc writes no projector checkpoint"),
                   "embeddings_metadata": (embeddings_metadata, "seqc writes no projector "
                                                                "checkpoint"),
                   "write_images": (write_images, "seqc writes weight histograms, not images")}
        for field, (value, why) in refused.items():
            if value not in (0, None, False, "0", (0, 0)):
                raise DefinitionError(f"TensorBoard({field}=...) is not supported: {why}",
                                      field=field, received=f"{field}={value!r}",
                                      hint=f"remove {field} (or set it to its default)")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise DefinitionError("TensorBoard histogram_freq must be a non-negative integer",
                                  field="histogram_freq", received=f"histogram_freq="
                                                                   f"{histogram_freq!r}")
        freq = 1 if update_freq == "batch" else update_freq
        if freq != "epoch" and (not isinstance(freq, int) or isinstance(freq, bool)
                                or freq < 1):
            raise DefinitionError("TensorBoard update_freq must be 'epoch', 'batch' or a "
                                  "positive integer", field="update_freq",
                                  received=f"update_freq={update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.write_images = write_images
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._tbmod = _tb()  # refuse before training when the writer is not installed
        self._writers: dict[str, Any] = {}
        self._global_train_batch = 0
        if self.update_freq != "epoch":
            # Batch hooks as instance attributes: fit builds batch logs only for callbacks
            # that want them (callback_base.wants_batch_logs), so epoch-only logging costs
            # nothing per batch.
            self.on_train_batch_begin = self._batch_begin
            self.on_train_batch_end = self._batch_end

    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            path = os.path.join(self.log_dir, run)
            os.makedirs(path, exist_ok=True)
            self._writers[run] = self._tbmod.Writer(path)
        return self._writers[run]

    def _emit(self, run: str, step: int, summary: Any = None, graph_def: bytes | None = None
              ) -> None:
        ev = self._tbmod.event.Event(wall_time=time.time(), step=int(step))
        if summary is not None:
            ev.summary.CopyFrom(summary)
        if graph_def is not None:
            ev.graph_def = graph_def
        self._writer(run).add_event(ev)

    def _scalar(self, run: str, tag: str, value: Any, step: int) -> None:
        self._emit(run, step, self._tbmod.scalar.scalar_pb(tag, np.float32(value)))

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self._writers = {}

    def on_train_begin(self, logs=None) -> None:
        self._global_train_batch = 0
        if self.write_graph:
            self._emit("train", 0, graph_def=graph_def(self.model.graph, self._tbmod))

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_first_batch = self._iterations()

    def _batch_begin(self, batch, logs=None) -> None:
        self._global_train_batch += 1
        self._batch_start = time.perf_counter()

    def _batch_end(self, batch, logs=None) -> None:
        step = self._global_train_batch
        if step % self.update_freq:
            return
        if self.write_steps_per_second:
            self._scalar("train", "batch_steps_per_second",
                         1.0 / max(time.perf_counter() - self._batch_start, 1e-9), step)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, step)

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        opt = getattr(getattr(self.model, "compiled", None), "optimizer", None)
        if opt is not None:
            train["learning_rate"] = float(opt.learning_rate)
        if self.write_steps_per_second:
            done = self._iterations() - self._epoch_first_batch
            train["steps_per_second"] = done / max(time.perf_counter() - self._epoch_start,
                                                   1e-9)
        for name, value in train.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in val.items():
            self._scalar("validation", f"epoch_{name}", value, epoch)
        if val:  # Keras' evaluate inside fit: on_test_end at the optimizer's iterations
            for name, value in val.items():
                self._scalar("validation", f"evaluation_{name}_vs_iterations", value,
                             self._iterations())
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, w in self.model.params.items():
                w = np.asarray(w)
                if w.dtype.kind in "fiu":
                    self._emit("train", epoch, self._tbmod.histogram.histogram_pb(
                        f"{name.replace(':', '_')}/histogram", w.astype(np.float64)))
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def _iterations(self) -> int:
        opt = getattr(getattr(self.model, "compiled", None), "optimizer", None)
        return int(getattr(opt, "iterations", 0) or 0)


def graph_def(graph: Any, tb: Any) -> bytes:
    """A TensorFlow GraphDef of the IR's layers for TensorBoard's graph tab."""
    g = tb.graph.GraphDef()
    producer = {v: v for v in graph.inputs}

    def shapes(values) -> Any:
        protos = []
        for v in values:
            t = graph.types.get(v)
            dims = [] if t is None else [
                tb.shape.TensorShapeProto.Dim(size=-1 if d is None or not isinstance(d, int)
                                              else d) for d in t.shape]
            protos.append(tb.shape.TensorShapeProto(dim=dims))
        return tb.attr.AttrValue(list=tb.attr.AttrValue.ListValue(shape=protos))

    for v in graph.inputs:
        node = g.node.add(name=v, op="Placeholder")
        node.attr["_output_shapes"].CopyFrom(shapes([v]))
        t = graph.types.get(v)
        if t is not None:
            node.attr["dtype_name"].CopyFrom(tb.attr.AttrValue(s=str(t.dtype).encode()))
    for n in graph.nodes:
        node = g.node.add(name=n.name, op=n.op, input=[producer.get(v, v) for v in n.inputs])
        node.attr["_output_shapes"].CopyFrom(shapes(n.outputs))
        node.attr["config"].CopyFrom(tb.attr.AttrValue(s=repr(n.attrs).encode()))
        if n.params:
            node.attr["params"].CopyFrom(tb.attr.AttrValue(
                s=", ".join(n.param_key(p) for p in n.params).encode()))
        for v in n.outputs:
            producer[v] = n.name
    return g.SerializeToString()

"""The Tacotron CBHG module (Wang et al. 2017, "Tacotron", section 3.1) as a seqc graph, shared
by tests/export/test_cbhg_export.py and benchmarks/cbhg.py.

x (N, T, 64) -> a bank of K Conv1D(64, k, same, relu) + BatchNormalization, k = 1..K ->
Concatenate -> MaxPooling1D(2, strides=1, same) -> Conv1D(64, 3, relu) + BN ->
Conv1D(64, 3, linear) + BN -> Add(x) -> 4 Highway(relu) -> Bidirectional(GRU(64,
return_sequences)) -> a per-step Dense(classes, softmax).
"""

from __future__ import annotations

from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched

K = 8
CHANNELS = 64
HIGHWAYS = 4
GRU_UNITS = 64
CLASSES = 10


def cbhg_entries(k: int = K, channels: int = CHANNELS, highways: int = HIGHWAYS,
                 units: int = GRU_UNITS, classes: int = CLASSES) -> list[NodeConfig]:
    same = {"padding": "same"}
    e: list[NodeConfig] = []
    for i in range(1, k + 1):
        e.append(NodeConfig("Conv1D", {"filters": channels, "kernel_size": i,
                                       "activation": "relu", **same}, f"bank_{i}", ["x"]))
        e.append(NodeConfig("BatchNormalization", {}, f"bank_bn_{i}", [f"bank_{i}"]))
    e += [
        NodeConfig("Concatenate", {}, "bank", [f"bank_bn_{i}" for i in range(1, k + 1)]),
        NodeConfig("MaxPooling1D", {"pool_size": 2, "strides": 1, **same}, "pool", ["bank"]),
        NodeConfig("Conv1D", {"filters": channels, "kernel_size": 3, "activation": "relu",
                              **same}, "proj_1", ["pool"]),
        NodeConfig("BatchNormalization", {}, "proj_bn_1", ["proj_1"]),
        NodeConfig("Conv1D", {"filters": channels, "kernel_size": 3, **same}, "proj_2",
                   ["proj_bn_1"]),
        NodeConfig("BatchNormalization", {}, "proj_bn_2", ["proj_2"]),
        NodeConfig("Add", {}, "residual", ["proj_bn_2", "x"]),
    ]
    prev = "residual"
    for i in range(1, highways + 1):
        e.append(NodeConfig("Highway", {"activation": "relu"}, f"highway_{i}", [prev]))
        prev = f"highway_{i}"
    e += [
        NodeConfig("Bidirectional", {"layer": {"type": "GRU", "units": units,
                                               "return_sequences": True}}, "bigru", [prev]),
        NodeConfig("Dense", {"units": classes, "activation": "softmax"}, "tagger", ["bigru"]),
    ]
    return e


def cbhg_graph(steps: int | None = None, channels: int = CHANNELS, **kw):
    """The CBHG tagger's graph; `steps=None` leaves the time length dynamic."""
    return build_dag("cbhg", {"x": batched((steps, channels))},
                     cbhg_entries(channels=channels, **kw), ["tagger"])


def cbhg_model(steps: int | None = None, seed: int = 0, **kw):
    """A seqc.Model of the CBHG, initialised with `seed`."""
    import seqc

    return seqc.Model(cbhg_graph(steps, **kw), seed=seed)

"""The IR embedded in model.onnx (seqc.ir.embedded) reads back exactly for every registered
kind and each of its examples: the graph as it was, every parameter bit for bit, and a
parameter the lowering only moves (transposes, reshapes, reorders) read in place."""

from __future__ import annotations

import numpy as np
import pytest
from ops_harness import build, build_masked, cases, make_params

from seqc.ir.serialize import graph_to_json

EXAMPLES = cases("examples")


@pytest.mark.parametrize("kind,ex", EXAMPLES)
def test_embedded_ir_reads_back_exactly(kind, ex):
    pytest.importorskip("onnx")
    from seqc.export import to_onnx
    from seqc.frontend.onnx_reader import embedded_ir

    graph = build_masked(kind, ex) if ex.mask_lengths is not None else build(kind, ex)
    params = make_params(graph, np.random.default_rng(3))
    proto = to_onnx(graph, params, opset=17, embed_ir=True)
    got_graph, got, doc = embedded_ir(proto, kind)
    assert graph_to_json(got_graph) == graph_to_json(graph)
    assert list(got) == list(graph.param_specs)
    for k, w in params.items():
        assert got[k].dtype == w.dtype and got[k].tobytes() == w.tobytes(), k
    # Nothing is folded here (one layer), so every float weight with a place in the graph
    # is read from it; the ones stored inline have none (a lowering that computes from them).
    inline = [k for k, e in doc["weights"].items() if "data" in e]
    for k in inline:
        assert params[k].dtype.kind != "f" or not any(
            np.array_equal(np.sort(params[k].ravel()), np.sort(
                np.asarray(t.float_data or np.frombuffer(t.raw_data, np.float32)).ravel()))
            for t in proto.graph.initializer if t.data_type == 1), (kind, k)


@pytest.mark.parametrize("max_codes,located", [(40, True), (3, False)])
def test_past_float32_integers_two_runs_carry_the_index(monkeypatch, max_codes, located):
    """Past 2**24 elements one float32 code cannot number them all: two lowerings carry each
    index's two digits (here with a tiny limit: 40 * 4096 elements); past two digits every
    weight is stored inline, still exact."""
    import seqc
    from seqc.export import to_onnx
    from seqc.frontend.onnx_reader import embedded_ir
    from seqc.ir import embedded

    monkeypatch.setattr(embedded, "MAX_CODES", max_codes)
    monkeypatch.setattr(embedded, "LOW", 4 if not located else embedded.LOW)
    m = seqc.Sequential([seqc.layers.Input((6, 3)), seqc.layers.LSTM(5, return_sequences=True),
                         seqc.layers.Conv1D(4, 3), seqc.layers.Flatten(),
                         seqc.layers.Dense(2)])
    _, got, doc = embedded_ir(to_onnx(m.graph, m.params, embed_ir=True), "m")
    assert all(got[k].tobytes() == w.tobytes() for k, w in m.params.items())
    assert all(("init" in e) == located for e in doc["weights"].values())

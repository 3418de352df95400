"""Issue 15's proof: the Tacotron CBHG (a bank of 8 Conv1D + BatchNormalization, concatenated,
max-pooled, two projections, a residual Add, 4 Highway layers, a bidirectional GRU, a per-step
Dense) exports with one native ONNX GRU node, no unrolled loop and a dynamic time length, and
its ONNX matches seqc's NumPy forward within 1e-5 at two sequence lengths.

The network is benchmarks/_cbhg.py's, which benchmarks/cbhg.py times against torch.onnx."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from seqc.export import to_onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _cbhg import cbhg_model  # noqa: E402

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def cbhg():
    model = cbhg_model(seed=1)
    # BatchNormalization statistics far from the identity, so the folded and unfolded
    # normalizations really change the values.
    rng = np.random.default_rng(0)
    for key, v in model.params.items():
        leaf = key.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            model.params[key] = rng.uniform(0.5, 2.0, v.shape).astype(np.float32)
        elif leaf in ("beta", "moving_mean"):
            model.params[key] = rng.normal(0.0, 1.0, v.shape).astype(np.float32)
    report: dict = {}
    proto = to_onnx(model.graph, model.params, report=report)
    return model, proto, report


def test_cbhg_exports_one_native_gru_and_a_dynamic_time_length(cbhg):
    _, proto, report = cbhg
    ops = Counter(n.op_type for n in proto.graph.node)
    assert ops == Counter(report["nodes"])
    print(f"\nCBHG ONNX: {len(proto.graph.node)} nodes: "
          + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    assert ops["GRU"] == 1  # the bidirectional GRU as one node, direction="bidirectional"
    gru = next(n for n in proto.graph.node if n.op_type == "GRU")
    attrs = {a.name: a for a in gru.attribute}
    assert attrs["direction"].s == b"bidirectional"
    assert not {"Loop", "Scan", "If"} & set(ops)
    # Channels-first once for the bank, back for the residual Add, time-major for the GRU and
    # back: no conversion around each merge.
    assert ops["Transpose"] <= 4
    # The linear projection's BatchNormalization folds into its conv. Those after a relu stay
    # (the first projection's would fold into the next conv only with a zero shift: `same`
    # padding's zeros would change).
    folded = report["passes"]["fold_batchnorm"]
    assert "proj_bn_2 folded into proj_2" in folded
    assert ops["BatchNormalization"] == 10 - len(folded)
    assert len(proto.graph.node) <= 80
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][2] == 64
    assert dims[1].dim_param and not dims[1].dim_value  # the time length is symbolic
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert not out_dims[1].dim_value


@pytest.mark.parametrize("steps", [50, 23])
def test_cbhg_onnx_matches_numpy_at_two_lengths(cbhg, steps):
    model, proto, _ = cbhg
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(steps).normal(size=(3, steps, 64)).astype(np.float32)
    want = model.predict(x)
    (got,) = sess.run(None, {"input": x})
    assert got.shape == (3, steps, 10)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_cbhg_reference_evaluator_agrees(cbhg):
    """The ONNX reference evaluator (the spec's own semantics) on a short sequence."""
    from onnx.reference import ReferenceEvaluator

    model, proto, _ = cbhg
    x = np.random.default_rng(7).normal(size=(1, 9, 64)).astype(np.float32)
    with np.errstate(all="ignore"):
        (got,) = ReferenceEvaluator(proto).run(None, {"input": x})
    np.testing.assert_allclose(got, model.predict(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("init,layer,kind,last", [
    ("bank_5/kernel", "bank_5", "Conv1D", None),  # one branch of the bank
    ("highway_3/kernel", "highway_3", "Highway", "highway_2"),
    ("bigru/recurrent_kernel", "bigru", "Bidirectional", "highway_4"),
])
def test_cbhg_validate_bisects_to_the_corrupted_node(cbhg, init, layer, kind, last, tmp_path):
    """`seqc validate` on the CBHG's build folder with one weight changed in model.onnx names
    the node it belongs to: a bank branch (whose siblings still agree), a Highway, the GRU."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
    from test_bisect import corrupt, write_build_dir

    from seqc.runtime.validate import validate

    model, _, _ = cbhg
    folder = write_build_dir(model, tmp_path / "cbhg")
    corrupt(folder, init)
    x = np.random.default_rng(11).normal(size=(4, 17, 64)).astype(np.float32)
    result = validate(folder, x, runtimes="numpy,onnxruntime", print_table=False)
    assert not result.ok
    div = result["onnxruntime"].first_divergence
    assert (div["layer"], div["kind"]) == (layer, kind)
    assert (div["last_agreeing"] or {}).get("layer") == last
    if layer == "bank_5":
        assert div["first_compared"] is False  # bank_1..bank_4 were compared and agree

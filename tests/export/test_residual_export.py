"""A ResNet-style Conv2D graph (Conv2D -> BN -> ReLU -> Conv2D -> BN -> Add(skip) -> ReLU; a
1x1 projection or an identity on the first block's skip, an identity on the second) exports
with every BatchNormalization folded into its conv and no layout conversion around the Adds:
one Transpose at the NHWC input, none with an NCHW input."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import seqc
from seqc.export import to_onnx
from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched

ort = pytest.importorskip("onnxruntime")


def block(name: str, x: str, filters: int, project: bool) -> list[NodeConfig]:
    conv = {"filters": filters, "kernel_size": 3, "padding": "same"}
    out = [NodeConfig("Conv2D", conv, f"{name}_c1", [x]),
           NodeConfig("BatchNormalization", {}, f"{name}_bn1", [f"{name}_c1"]),
           NodeConfig("ReLU", {}, f"{name}_r1", [f"{name}_bn1"]),
           NodeConfig("Conv2D", conv, f"{name}_c2", [f"{name}_r1"]),
           NodeConfig("BatchNormalization", {}, f"{name}_bn2", [f"{name}_c2"])]
    skip = x
    if project:
        out.append(NodeConfig("Conv2D", {"filters": filters, "kernel_size": 1},
                              f"{name}_proj", [x]))
        skip = f"{name}_proj"
    return out + [NodeConfig("Add", {}, f"{name}_add", [f"{name}_bn2", skip]),
                  NodeConfig("ReLU", {}, f"{name}_out", [f"{name}_add"])]


@pytest.fixture(scope="module", params=[3, 8], ids=["projected-skip", "identity-skip"])
def resnet(request):
    """With 3 input channels the first block projects its skip; with 8 its skip is the
    NHWC input itself, whose channels-first copy the first conv already made: the Add reads
    that copy (it once converted the conv's output back to NHWC and again forward, 5
    Transposes)."""
    channels = request.param
    graph = build_dag("resnet", {"x": batched((8, 8, channels))}, [
        *block("b1", "x", 8, project=channels != 8), *block("b2", "b1_out", 8, project=False),
        NodeConfig("GlobalAveragePooling2D", {}, "gap", ["b2_out"]),
        NodeConfig("Dense", {"units": 10, "activation": "softmax"}, "head", ["gap"]),
    ], ["head"])
    model = seqc.Model(graph, seed=0)
    rng = np.random.default_rng(0)
    for key, v in model.params.items():
        leaf = key.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            model.params[key] = rng.uniform(0.5, 2.0, v.shape).astype(np.float32)
        elif leaf in ("beta", "moving_mean"):
            model.params[key] = rng.normal(0.0, 1.0, v.shape).astype(np.float32)
    return model


@pytest.mark.parametrize("layout,transposes", [("channels_last", 1), ("channels_first", 0)])
def test_resnet_blocks_export_fused_with_one_transpose(resnet, layout, transposes):
    report: dict = {}
    proto = to_onnx(resnet.graph, resnet.params, input_layout=layout, report=report)
    ops = Counter(n.op_type for n in proto.graph.node)
    assert len(report["passes"]["fold_batchnorm"]) == 4
    assert "BatchNormalization" not in ops
    assert ops["Transpose"] == transposes
    if transposes:  # the one conversion is the NHWC input's
        assert proto.graph.node[0].op_type == "Transpose"
        assert list(proto.graph.node[0].input) == ["input"]
    # 4 Conv (5 with the projection), 2 Sum (the Adds), 4 Relu, GlobalAveragePool, Flatten,
    # Gemm, Softmax.
    convs = 4 + ("b1_proj" in {n.name for n in resnet.graph.nodes})
    assert (ops["Conv"], ops["Relu"], ops["Sum"]) == (convs, 4, 2)
    assert len(proto.graph.node) == convs + 10 + transposes
    x = np.random.default_rng(1).normal(size=(2, *resnet.graph.input_type.shape[1:]))
    x = x.astype(np.float32)
    feed = x if layout == "channels_last" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": feed})
    np.testing.assert_allclose(got, resnet.predict(x), atol=1e-5, rtol=0)

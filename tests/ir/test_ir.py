"""IR: builder errors with locations, printer, verifier, JSON round trip, summary, memory limit."""

from __future__ import annotations

import json

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError, ResourceError
from seqc.ir.build import LayerConfig, build_graph, snake_case
from seqc.ir.printer import format_graph
from seqc.ir.serialize import (
    graph_from_json,
    graph_to_json,
    params_from_npz,
    params_to_npz_bytes,
)
from seqc.ir.types import TensorType, batched
from seqc.ir.verify import verify


def mlp():
    return build_graph("mlp", batched((30,)), [
        LayerConfig("Dense", {"units": 32, "activation": "relu"}),
        LayerConfig("Dense", {"units": 1, "activation": "sigmoid"}, name="out"),
    ])


def test_printer_one_line_per_node():
    assert format_graph(mlp()) == (
        "graph mlp(%input: f32[N,30]) {\n"
        "  %dense = Dense[units=32](%input) : f32[N,32]\n"
        "  %dense/activation = Activation[activation=relu](%dense) : f32[N,32]\n"
        "  %out = Dense[units=1](%dense/activation) : f32[N,1]\n"
        "  %out/activation = Activation[activation=sigmoid](%out) : f32[N,1]\n"
        "  return %out/activation\n"
        "}\n")


def test_linear_activation_adds_no_node():
    g = build_graph("g", batched((3,)), [LayerConfig("Dense", {"units": 2,
                                                               "activation": "linear"})])
    assert [n.op for n in g.nodes] == ["Dense"]


def test_keras_default_names():
    assert snake_case("Dense") == "dense"
    assert snake_case("LeakyReLU") == "leaky_re_lu"
    assert snake_case("Conv2D") == "conv2d"
    g = build_graph("g", batched((3,)), [LayerConfig("Dense", {"units": 2})] * 3)
    assert [n.name for n in g.nodes] == ["dense", "dense_1", "dense_2"]


def test_json_round_trip_is_lossless():
    g = mlp()
    d = json.loads(json.dumps(graph_to_json(g)))
    g2 = graph_from_json(d)
    assert g2 == g
    assert format_graph(g2) == format_graph(g)


def test_params_npz_round_trip():
    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    back = params_from_npz(__import__("io").BytesIO(params_to_npz_bytes(m.params)))
    assert back.keys() == m.params.keys()
    for k in back:
        np.testing.assert_array_equal(back[k], m.params[k])


def test_errors_are_located():
    with pytest.raises(DefinitionError) as e:
        build_graph("g", batched((3,)), [LayerConfig("Dense", {"units": 4}),
                                         LayerConfig("Dense", {"units": 0}, name="bad")],
                    file="m.json")
    msg = str(e.value)
    assert msg.startswith("m.json: layers[1] 'bad' (Dense): ")
    assert "Received: units=0" in msg


def test_unknown_kind_suggests():
    with pytest.raises(DefinitionError, match="did you mean 'Dense'"):
        build_graph("g", batched((3,)), [LayerConfig("Dens", {"units": 4})])


def test_unknown_argument_lists_valid_and_suggests():
    with pytest.raises(DefinitionError) as e:
        build_graph("g", batched((3,)), [LayerConfig("Dense", {"unit": 4})])
    assert "Valid arguments: units" in str(e.value) and "did you mean 'units'" in str(e.value)


def test_empty_and_duplicate_names():
    with pytest.raises(DefinitionError, match="no layers"):
        build_graph("g", batched((3,)), [])
    with pytest.raises(DefinitionError, match="used twice"):
        build_graph("g", batched((3,)), [LayerConfig("Dense", {"units": 2}, name="a"),
                                         LayerConfig("Dense", {"units": 2}, name="a")])


def test_verifier_catches_use_before_definition():
    g = mlp()
    broken = g.replace(nodes=(g.nodes[1], g.nodes[0], *g.nodes[2:]))
    with pytest.raises(RuntimeError, match="before definition"):
        verify(broken)


def test_tensor_type_printing():
    assert str(TensorType((None, 8, None), "float32")) == "f32[N,8,?]"
    assert str(batched((2, 3), "int32")) == "i32[N,2,3]"


def test_summary_folds_activation_rows():
    m = seqc.Sequential([seqc.layers.Input((30,)), seqc.layers.Dense(32, activation="relu"),
                         seqc.layers.Dense(1, activation="sigmoid")])
    text = m.summary(print_fn=None)
    assert "dense (Dense)" in text and "(None, 32)" in text and "992" in text
    assert "Activation" not in text
    assert "Total params: 1,025" in text


def test_get_set_weights_keras_order():
    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(4), seqc.layers.Dense(2)])
    ws = m.get_weights()
    assert [w.shape for w in ws] == [(3, 4), (4,), (4, 2), (2,)]
    m.set_weights([np.ones_like(w) for w in ws])
    assert all((w == 1).all() for w in m.get_weights())
    with pytest.raises(seqc.SeqcError, match="expected 4 arrays"):
        m.set_weights(ws[:2])


def test_memory_limit_refuses_before_allocating():
    with pytest.raises(ResourceError) as e:
        seqc.Sequential([seqc.layers.Input((30,)), seqc.layers.Dense(10**9)])
    assert "--max-memory" in str(e.value) and "Received:" in str(e.value)


def test_layers_builder_positional_order():
    lc = seqc.layers.Dense(4, "relu", False)
    assert lc.config == {"units": 4, "activation": "relu", "use_bias": False}
    with pytest.raises(AttributeError):
        seqc.layers.NoSuchLayer  # noqa: B018


def test_keras_alias_names_build_the_canonical_kind():
    import seqc
    from seqc.ir.build import LayerConfig, build_graph
    from seqc.ir.types import batched

    g = build_graph("g", batched((8, 8, 1)), [LayerConfig("Convolution2D", {"filters": 2,
                                                                             "kernel_size": 3}),
                                              LayerConfig("MaxPool2D", {}),
                                              LayerConfig("GlobalAvgPool2D", {})])
    assert [n.op for n in g.nodes] == ["Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"]
    assert [n.name for n in g.nodes] == ["conv2d", "max_pooling2d", "global_average_pooling2d"]
    assert seqc.ops.REGISTRY["MaxPooling2D"] is seqc.ops.get_op("MaxPool2D")

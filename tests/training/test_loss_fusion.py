"""fit fuses a loss with the model's final softmax or sigmoid by asking the kind (its
`loss_fusion` facet, seqc.ops.base), never by its class name: a kind declaring the facet is
fused, one without it is not, and every kind that declares it computes what it claims."""

from __future__ import annotations

import numpy as np
import pytest

import seqc
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext
from seqc.training import loss_heads

L = seqc.layers


def _dense_then(layer):
    return seqc.Sequential([L.Input((4,)), L.Dense(3), layer])


def test_a_kind_declaring_the_facet_is_fused(monkeypatch):
    m = _dense_then(L.ELU())
    assert REGISTRY["ELU"].loss_fusion is None
    assert loss_heads.fused_activation(m.graph) is None
    seen = []

    def loss_fusion(self, attrs, rank):
        seen.append((attrs, rank))
        return "sigmoid"

    monkeypatch.setattr(type(REGISTRY["ELU"]), "loss_fusion", loss_fusion)
    assert loss_heads.fused_activation(m.graph) == ("sigmoid", 0)
    assert seen == [(m.graph.nodes[-1].attrs, 2)]


def test_a_kind_not_declaring_the_facet_is_not_fused(monkeypatch):
    m = _dense_then(L.Softmax())
    assert loss_heads.fused_activation(m.graph) == ("softmax", 0)
    monkeypatch.setattr(type(REGISTRY["Softmax"]), "loss_fusion", None)
    assert loss_heads.fused_activation(m.graph) is None
    m = _dense_then(L.Activation("sigmoid"))
    assert loss_heads.fused_activation(m.graph) == ("sigmoid", 0)
    monkeypatch.setattr(type(REGISTRY["Activation"]), "loss_fusion", None)
    assert loss_heads.fused_activation(m.graph) is None


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


DECLARING = sorted(k for k, op in REGISTRY.items() if op.loss_fusion is not None)


def test_activation_and_softmax_declare_it():
    assert {"Activation", "Softmax"} <= set(DECLARING)


@pytest.mark.parametrize("kind", DECLARING)
def test_a_declared_fusion_is_what_the_kind_computes(kind):
    """On each of the kind's examples the facet answers "softmax" only for a softmax over the
    last axis and "sigmoid" only for a sigmoid (the fused gradient assumes exactly that)."""
    op = REGISTRY[kind]
    rng = np.random.default_rng(0)
    claimed = set()
    for ex in op.examples:
        attrs = op.parse_attrs(ex.config)
        x = rng.normal(size=(3, *ex.input_shape))
        fusion = op.loss_fusion(attrs, x.ndim)
        assert fusion in (None, "softmax", "sigmoid"), (kind, ex.config, fusion)
        (y,), _ = op.forward(attrs, {}, [x], RunContext(training=False, need_grad=False))
        for name, want in (("softmax", _softmax(x)), ("sigmoid", 1 / (1 + np.exp(-x)))):
            if fusion == name:
                np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-15)
            else:  # an example the facet leaves out computes something else
                assert not np.allclose(y, want), (kind, ex.config, name)
        claimed.add(fusion)
    assert claimed - {None}, f"{kind}: no example it fuses"

"""The executor's per-graph plan (which values need a gradient) is cached on the graph and
made again when a trainable flag changes."""

import dataclasses

import numpy as np

import seqc
from seqc.ops.base import RunContext
from seqc.training import executor


def _model():
    L = seqc.layers
    return seqc.Sequential([L.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)], seed=0)


def test_plan_is_cached_and_follows_trainable_flags():
    m = _model()
    g, x = m.graph, np.ones((5, 4), np.float32)
    ctx = RunContext(training=True, rng=np.random.default_rng(0))
    y, tape = executor.forward(g, m.params, x, ctx)
    assert executor._plan(g) is executor._plan(g)
    all_keys = set(executor.backward(g, m.params, tape, np.ones_like(y)))
    assert all_keys == set(m.params)
    # Freeze the first layer's parameters in place: the cached plan must not be reused.
    first = g.nodes[0].name
    for k, spec in list(g.param_specs.items()):
        if k.startswith(first + "/"):
            g.param_specs[k] = dataclasses.replace(spec, trainable=False)
    y, tape = executor.forward(g, m.params, x, ctx)
    grads = executor.backward(g, m.params, tape, np.ones_like(y))
    assert set(grads) == {k for k in all_keys if not k.startswith(first + "/")}
    # Nothing upstream of the first trainable layer needs a gradient now.
    assert not tape.grad_of[g.nodes[0].outputs[0]]

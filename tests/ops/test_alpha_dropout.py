"""AlphaDropout in training keeps a standardised input's mean and variance (its purpose in
SELU networks), with Keras' constants; at inference it is the identity."""

from __future__ import annotations

import numpy as np

from seqc.ops import REGISTRY
from seqc.ops.base import RunContext


def test_alpha_dropout_keeps_mean_and_variance_in_training():
    op = REGISTRY["AlphaDropout"]
    a = op.parse_attrs({"rate": 0.2})
    x = np.random.default_rng(0).standard_normal((400, 500)).astype(np.float32)
    ctx = RunContext(training=True, need_grad=True, rng=np.random.default_rng(1))
    (y,), gain = op.forward(a, {}, [x], ctx)
    assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1.0) < 0.02
    dropped = gain == 0
    assert abs(float(dropped.mean()) - 0.2) < 0.01
    # dropped units sit at a * alpha' + b, Keras' saturation value after the affine step
    scale = ((1 - 0.2) * (1 + 0.2 * 1.7580993408473766**2)) ** -0.5
    np.testing.assert_allclose(y[dropped], scale * -1.7580993408473766
                               + scale * 1.7580993408473766 * 0.2, rtol=1e-5)
    (y_eval,), _ = op.forward(a, {}, [x], RunContext(training=False, need_grad=False))
    np.testing.assert_array_equal(y_eval, x)

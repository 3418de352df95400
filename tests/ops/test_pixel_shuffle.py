"""PixelShuffle against PyTorch's own pixel_shuffle (the contract harness checks backward,
ONNX DepthToSpace and the shape rule): forward, and the gradient as torch's autograd gives it."""

from __future__ import annotations

import numpy as np
import pytest

import seqc
from seqc import layers as L


@pytest.mark.parametrize("r, shape", [(2, (3, 8, 2, 3)), (3, (2, 18, 3, 2)), (1, (2, 3, 2, 2))])
def test_forward_and_gradient_match_torch(r, shape):
    torch = pytest.importorskip("torch")
    from seqc.ops import get_op

    op = get_op("PixelShuffle")
    attrs = op.parse_attrs({"upscale_factor": r})
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    (y,), _ = op.forward(attrs, {}, [x], None)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.nn.functional.pixel_shuffle(tx, r)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    (dx,), _ = op.backward(attrs, {}, None, [dy])
    np.testing.assert_array_equal(dx, tx.grad.numpy())


def test_a_model_with_pixel_shuffle_predicts():
    m = seqc.Sequential([L.Input((8, 3, 3)), L.PixelShuffle(upscale_factor=2)])
    assert m.output_shape == (None, 2, 6, 6)
    x = np.random.default_rng(1).standard_normal((2, 8, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(m.predict(x)[:, 1, :2, :2], x[:, 4:8, 0, 0].reshape(2, 2, 2))

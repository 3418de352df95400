"""Sampling in PyTorch forwards. The spatial transformer tutorial as written: a forward with
two paths from x (the localization net's theta, and x itself into F.grid_sample),
F.affine_grid sized by x.size(), a helper method stn(), fc_loc's identity initialisation by
`weight.data.zero_()` and `bias.data.copy_(torch.tensor([...]))`, and `model.stn(data)`
called to show the result (computation only, not run); checked against PyTorch: predictions
and gradients from the same weights, and the initial transform. Random draws in a forward
(the VAEs' reparameterization) and tensors collected in Python lists (morvan_504's plots) are
refused at their line, naming the construct."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_pyscript import _torch_weights, write

from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script

CORPUS = Path(__file__).parent / "corpus" / "torch"


def _stn():
    x = np.zeros((4, 1, 28, 28), np.float32)
    return load_script(CORPUS / "tut_spatial_transformer.py", bindings=Bindings(x=x)).model


def _torch_stn():
    torch = pytest.importorskip("torch")
    import importlib.util

    spec = importlib.util.spec_from_file_location("ref_stn", CORPUS / "ref" /
                                                  "tut_spatial_transformer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    net = mod.Net().eval()
    with torch.no_grad():  # a transform away from the identity, so the sampler matters
        net.fc_loc[2].weight.normal_(0, 0.05)
        net.fc_loc[2].bias.add_(torch.tensor([0.1, 0.2, -0.1, -0.15, -0.1, 0.2]))
    return net


@pytest.mark.filterwarnings("ignore:Default grid_sample")
def test_the_tutorial_predicts_and_differentiates_like_torch():
    torch = pytest.importorskip("torch")
    model, net = _stn(), _torch_stn()
    assert model.count_params() == sum(p.numel() for p in net.parameters()) == 27360
    model.set_weights(_torch_weights(model, net))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    tx = torch.from_numpy(x)
    want = net(tx)
    np.testing.assert_allclose(model.predict(x), want.detach().numpy(), atol=1e-5)
    # the gradient of the tutorial's loss (nll on log_softmax) reaches the localization net
    # through theta: the same in both, with dropout off (eval)
    from seqc.training import executor

    labels = np.array([3, 1, 7])
    torch.nn.functional.nll_loss(want, torch.from_numpy(labels)).backward()
    g = model.graph
    params = dict(zip(g.param_specs, model.get_weights()))
    y, tape = executor.forward(g, params, x)
    dy = np.zeros_like(y)
    dy[np.arange(3), labels] = -1 / 3
    grads = executor.backward(g, params, tape, dy)
    for node in g.nodes:  # every weight, the localization net's through theta
        for p in node.params:
            mod = net.get_submodule(node.layer)
            tg = (mod.weight if p == "kernel" else mod.bias).grad.numpy()
            tg = tg.T if tg.ndim == 2 else np.transpose(tg, (2, 3, 1, 0)) if tg.ndim == 4 \
                else tg
            np.testing.assert_allclose(grads[node.param_key(p)], tg, atol=1e-5, err_msg=p)


def test_fc_loc_starts_as_the_identity_transform():
    model = _stn()
    from seqc.training.initializers import init_params

    p = init_params(model.graph, seed=3)
    np.testing.assert_array_equal(p["fc_loc.2/kernel"], 0)
    np.testing.assert_array_equal(p["fc_loc.2/bias"], [1, 0, 0, 0, 1, 0])
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    from seqc.training import executor

    # the identity theta samples every pixel centre exactly: the input passes unchanged
    _, tape = executor.forward(model.graph, p, x, keep=("grid_sample",))
    np.testing.assert_allclose(tape.values["grid_sample"], x, atol=1e-5)


HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

NET = HEAD + '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.loc = nn.Sequential(nn.Flatten(), nn.Linear(36, 6))
        self.fc = nn.Linear(36, 3)
        INIT

    def stn(self, x):
        theta = self.loc(x).view(-1, 2, 3)
        return F.grid_sample(x, F.affine_grid(theta, SIZE), ARGS)

    def forward(self, x):
        return self.fc(torch.flatten(self.stn(x), 1))


model = Net()
CALL
'''


def _load(tmp_path, init="pass", size="x.size()", args="align_corners=False", call=""):
    src = NET.replace("INIT", init).replace("SIZE", size).replace("ARGS", args).replace(
        "CALL", call)
    x = np.zeros((2, 1, 6, 6), np.float32)
    return load_script(write(tmp_path, src), bindings=Bindings(x=x)).model


@pytest.mark.parametrize("init, kernel, bias", [
    ("self.loc[1].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))", None,
     [1, 0, 0, 0, 1, 0]),
    ("self.loc[1].bias.data.copy_(torch.FloatTensor([2]))", None, [2] * 6),
    ("self.fc.weight.data.copy_(torch.tensor([[0.5] * 36, [1.5] * 36, [2.5] * 36]))",
     np.tile([0.5, 1.5, 2.5], (36, 1)), None),
    ("self.fc.weight.data.copy_(torch.tensor(list(range(36))))",
     np.tile(np.arange(36.0)[:, None], (1, 3)), None),
])
def test_copy_of_constants_is_the_initial_value(tmp_path, init, kernel, bias):
    """copy_ broadcasts its source to the parameter, as Keras' Constant does; a Linear's
    (out, in) weight is the Dense kernel transposed."""
    torch = pytest.importorskip("torch")
    from seqc.training.initializers import init_params

    p = init_params(_load(tmp_path, init=init).graph)
    lin = torch.nn.Linear(36, 3)
    if kernel is not None:
        np.testing.assert_array_equal(p["fc/kernel"], kernel)
        with torch.no_grad():
            exec(init.replace("self.fc", "lin"))  # noqa: S102  (the test's own statement)
        np.testing.assert_array_equal(p["fc/kernel"], lin.weight.detach().numpy().T)
    if bias is not None:
        np.testing.assert_array_equal(p["loc.1/bias"], bias)


@pytest.mark.parametrize("init, why", [
    ("self.fc.bias.data.copy_(torch.randn(3))", "not constant numbers"),
    ("self.fc.bias.data.copy_(torch.tensor([1, 2], dtype=torch.int64))", "float dtype"),
    ("self.fc.bias.data.copy_(torch.FloatTensor(3))", "not constant numbers"),
    ("self.fc.bias.data.copy_(torch.tensor([1.0, 2.0, float('nan')]))", "not constant"),
    ("self.fc.bias.data.mul_(2)", "changes the module's weights in place"),
])
def test_other_copies_are_refused_with_their_line(tmp_path, init, why):
    with pytest.raises(DefinitionError, match=why) as e:
        _load(tmp_path, init=init)
    assert "model.py:10" in str(e.value)


def test_a_copy_that_does_not_broadcast_is_refused_naming_the_shapes(tmp_path):
    with pytest.raises(DefinitionError, match=r"shape \[2\] does not broadcast to the "
                                              r"weight's shape \[3\]") as e:
        _load(tmp_path, init="self.fc.bias.data.copy_(torch.tensor([1.0, 2.0]))")
    assert "model.py:9:" in str(e.value) and "fc:" in str(e.value)  # the layer's line


@pytest.mark.parametrize("size, args, shape", [
    ("x.size()", "align_corners=False", (None, 3)),
    ("(x.size(0), 1, 6, 6)", "align_corners=True", (None, 3)),
    ("x.size()", "padding_mode='border'", (None, 3)),
])
def test_sampler_arguments_are_read(tmp_path, size, args, shape):
    model = _load(tmp_path, size=size, args=args)
    assert model.output_shape == shape
    kinds = {n.op: n for n in model.graph.nodes}
    assert kinds["GridSample"].inputs[0] == "input"
    assert kinds["AffineGrid"].attrs.size == (6, 6)


@pytest.mark.parametrize("size, args, why", [
    ("x.size()", "mode='nearest'", "'mode' must be one of 'bilinear'"),
    ("x.size()", "padding_mode='reflection'", "'padding_mode'"),
    ("(8, 1, 6, 6)", "align_corners=False", "F.affine_grid\\(\\) is read with the size"),
    ("x.size()", "align_corners=torch.cuda.is_available()", "not a constant"),
])
def test_sampler_arguments_seqc_does_not_model_are_refused(tmp_path, size, args, why):
    with pytest.raises(DefinitionError, match=why) as e:
        _load(tmp_path, size=size, args=args)
    assert "model.py:" in str(e.value)


def test_a_pure_helper_method_called_on_the_model_is_not_run(tmp_path):
    model = _load(tmp_path, call="out = model.stn(torch.zeros(2, 1, 6, 6)).cpu()")
    assert model.count_params() == 6 * 36 + 6 + 3 * 36 + 3


@pytest.mark.parametrize("body", [
    "self.fc.weight.data.mul_(0)\n        return 1",
    "self.scale = 2\n        return 1",
    "zero_all(self)\n        return 1",
    "return self.helper()",
    "self.train()\n        return 1",
])
def test_a_helper_method_that_may_change_the_model_is_refused(tmp_path, body):
    src = NET.replace("INIT", "pass").replace("SIZE", "x.size()").replace(
        "ARGS", "align_corners=False").replace("CALL", "model.reset()")
    src = src.replace("    def stn(self, x):", f"    def reset(self):\n        {body}\n\n"
                      "    def helper(self):\n        self.fc.bias.data.zero_()\n\n"
                      "    def stn(self, x):")
    x = np.zeros((2, 1, 6, 6), np.float32)
    with pytest.raises(DefinitionError, match="model.reset\\(\\) changes the model"):
        load_script(write(tmp_path, src), bindings=Bindings(x=x))


@pytest.mark.parametrize("name, line", [("examples_vae", 65),
                                        ("yunjey_variational_autoencoder", 57)])
def test_the_vae_tutorials_are_refused_at_their_sampling(name, line):
    x = np.zeros((4, 784), np.float32)
    with pytest.raises(DefinitionError, match=r"VAE.reparameterize\(\): torch.randn_like\(std\) "
                                              "draws random numbers") as e:
        load_script(CORPUS / f"{name}.py", bindings=Bindings(x=x))
    assert f"{name}.py:{line}:" in str(e.value)
    assert "reconstruction + KL term" in str(e.value)


@pytest.mark.parametrize("body", [
    "return self.fc(x) + torch.randn(x.size()) * 0.1",
    "noise = torch.zeros_like(x)\n        noise.normal_()\n        return self.fc(x + noise)",
    "return self.fc(self.noisy(x))",
])
def test_random_draws_in_a_forward_are_refused(tmp_path, body):
    src = HEAD + f'''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def noisy(self, x):
        return x + 0.1 * torch.randn_like(x)

    def forward(self, x):
        {body}


model = Net()
'''
    with pytest.raises(DefinitionError, match="draws random numbers in the forward pass"):
        load_script(write(tmp_path, src), bindings=Bindings(x=np.zeros((3, 4), np.float32)))


def test_tensors_collected_in_lists_are_refused_naming_the_list():
    x = np.zeros((8, 1), np.float32)
    with pytest.raises(DefinitionError, match="pre_activation.append\\(x\\) collects tensors in "
                                              "the Python list 'pre_activation'") as e:
        load_script(CORPUS / "morvan_504_batch_normalization.py", bindings=Bindings(
            x=x, y=x, model="nets[1]"))
    assert "morvan_504_batch_normalization.py:86:" in str(e.value)

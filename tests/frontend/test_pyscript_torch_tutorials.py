"""PyTorch tutorial constructs read as written: device tests in forward() (read on the CPU),
x.squeeze(d)/x.unsqueeze(d), parameter counts printed from parameters(), a helper module
pasted into the script (`from model import Net`), and torch.nn.init / model.apply(fn)
initializers (read as the seqc initializer with the same distribution, checked against
torch's own draws)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_pyscript import write
from test_pyscript_subclass import _torch_reference

from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script, script_to_spec

HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

DCGAN_D = HEAD + '''
# seqc: input_shape = [3, 16, 16]

class D(nn.Module):
    def __init__(self, ngpu=1):
        super().__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                                  nn.Conv2d(4, 1, 8, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, input):
        if (input.is_cuda or input.is_xpu) and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        elif input.device.type == "mps":
            output = self.main(input * 2)
        else:
            output = self.main(input)
        return output.view(-1, 1).squeeze(1)


model = D()
'''


def test_device_tests_read_on_the_cpu_and_squeeze_predict_like_torch(tmp_path):
    torch = pytest.importorskip("torch")
    defn = load_script(write(tmp_path, DCGAN_D))
    assert any("is read on the CPU" in n for n in defn.notes)
    model = defn.model
    assert model.output_shape == (None,)
    tmod = _torch_reference(DCGAN_D, "model")
    from test_pyscript import _torch_weights

    model.set_weights(_torch_weights(model, tmod))
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, atol=1e-6)


@pytest.mark.parametrize("expr, shape", [("x.unsqueeze(1)", (None, 1, 6)),
                                         ("x.squeeze(1)", (None, 6)),
                                         ("x.unsqueeze(-1).squeeze(2)", (None, 6))])
def test_squeeze_and_unsqueeze_give_torch_shapes(tmp_path, expr, shape):
    src = HEAD + f'''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        x = self.fc(x)
        return {expr}

model = M()
'''
    torch = pytest.importorskip("torch")
    got = load_script(write(tmp_path, src)).model.output_shape
    want = _torch_reference(src, "model")(torch.zeros(2, 4)).shape
    assert got == shape and tuple(want[1:]) == shape[1:]


@pytest.mark.parametrize("body, why", [
    ("x = self.fc(x)\n        if x.sum() > 0:\n            x = -x", "depends on a tensor"),
    ("x = self.fc(x).squeeze()", r"squeeze\(\) would drop a batch of one"),
    ("x = self.fc(x).squeeze(0)", "squeezes the batch dimension")])
def test_other_conditions_and_squeezes_stay_refused(tmp_path, body, why):
    src = HEAD + f'''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        {body}
        return x.relu()

model = M()
'''
    with pytest.raises(DefinitionError, match=why):
        load_script(write(tmp_path, src))


def test_a_parameter_count_is_read_only_but_writes_stay_refused(tmp_path):
    src = HEAD + '''
model = nn.Sequential(nn.Linear(4, 3))
total = "{:,}".format(sum(p.numel() for p in model.parameters()))
print(total)
'''
    defn = load_script(write(tmp_path, src))
    assert defn.model.count_params() == 15
    assert any("not run" in n and "lines 6-7" in n for n in defn.notes)
    with pytest.raises(DefinitionError, match=r"model.py:6:.*parameters\(\) only"):
        load_script(write(tmp_path, src.replace("p.numel()", "p.mul_(2)")))


def test_a_helper_module_pasted_into_the_script_is_read(tmp_path):
    net = HEAD + '''
class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(4, n)

    def forward(self, x):
        return self.fc(x)
'''
    defn = load_script(write(tmp_path, net + "from model import Net\nmodel = Net(n=7)\n"))
    assert defn.model.count_params() == 35
    assert any("model.Net is read as the script's own Net (line 5)" in n for n in defn.notes)
    defn = load_script(write(tmp_path, net + "import fc_model\nmodel = fc_model.Net(3)\n"))
    assert defn.model.count_params() == 15
    # a library's (or the standard library's) name is never taken for the script's own
    std = net + "from functools import Net\nmodel = Net(n=7)\n"
    with pytest.raises(DefinitionError):
        load_script(write(tmp_path, std))
    lib = net + "from torch.nn import Linear\nclass Linear: pass\nfrom torch.nn import Linear\n" \
        "model = nn.Sequential(Linear(4, 2))\n"
    assert load_script(write(tmp_path, lib)).model.count_params() == 10


INIT_NET = HEAD + '''
import torch.nn.init as init
# seqc: input_shape = [8, 6, 6]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(256, 200)
        init.{call}

    def forward(self, x):
        return self.fc(torch.flatten(self.bn(self.conv(x)), 1))

model = Net()
'''
# the torch call -> the seqc initializer spec
INITS = {
    "normal_(self.fc.weight, 0.5, 0.02)": ("fc", "kernel_initializer",
                                           {"type": "RandomNormal", "mean": 0.5,
                                            "stddev": 0.02}),
    "uniform_(self.fc.bias, -0.1, 0.3)": ("fc", "bias_initializer",
                                          {"type": "RandomUniform", "minval": -0.1,
                                           "maxval": 0.3}),
    "constant_(self.bn.weight, 0.5)": ("bn", "gamma_initializer",
                                       {"type": "Constant", "value": 0.5}),
    "zeros_(self.bn.bias)": ("bn", "beta_initializer", {"type": "Zeros"}),
    "xavier_uniform_(self.fc.weight, gain=2.0)": ("fc", "kernel_initializer", {
        "type": "VarianceScaling", "scale": 4.0, "mode": "fan_avg", "distribution": "uniform"}),
    "xavier_normal_(self.conv.weight)": ("conv", "kernel_initializer", {
        "type": "VarianceScaling", "scale": 1.0, "mode": "fan_avg",
        "distribution": "untruncated_normal"}),
    "kaiming_normal_(self.conv.weight, mode='fan_out', nonlinearity='relu')": (
        "conv", "kernel_initializer", {"type": "VarianceScaling", "scale": pytest.approx(2.0),
                                       "mode": "fan_out", "distribution": "untruncated_normal"}),
    "kaiming_uniform_(self.fc.weight, a=math.sqrt(5))": ("fc", "kernel_initializer", {
        "type": "VarianceScaling", "scale": pytest.approx(1 / 3), "mode": "fan_in",
        "distribution": "uniform"}),
    "orthogonal_(self.conv.weight, init.calculate_gain('tanh'))": (
        "conv", "kernel_initializer", {"type": "Orthogonal", "gain": pytest.approx(5 / 3)}),
    "trunc_normal_(self.fc.weight, std=0.02, a=-0.04, b=0.04)": (
        "fc", "kernel_initializer", {"type": "TruncatedNormal", "mean": 0.0, "stddev": 0.02}),
}


@pytest.mark.parametrize("call", sorted(INITS))
def test_torch_init_calls_become_initializers(call):
    layer, slot, spec = INITS[call]
    doc = script_to_spec(("import math\n" + INIT_NET).replace("init.{call}", f"init.{call}"),
                         "m.py")
    (d,) = [d for d in doc["layers"] if d["name"] == layer]
    assert d[slot] == spec


@pytest.mark.parametrize("call", ["kaiming_uniform_(m.fc.weight, nonlinearity='relu')",
                                  "xavier_normal_(m.conv.weight, gain=0.5)",
                                  "normal_(m.fc.weight, 0.1, 0.3)",
                                  "orthogonal_(m.fc.weight, 2.0)"])
def test_initial_weights_are_drawn_as_torch_draws_them(tmp_path, call):
    """seqc's draws against torch's own: the same spread (and orthogonality)."""
    torch = pytest.importorskip("torch")
    layer = "fc" if ".fc." in call else "conv"
    src = HEAD + "import torch.nn.init as init\n# seqc: input_shape = [8, 6, 6]\n" + f'''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.{layer} = {"nn.Linear(300, 200)" if layer == "fc" else "nn.Conv2d(8, 16, 3)"}

    def forward(self, x):
        return self.{layer}(x)

m = M()
init.''' + call + "\n"
    if layer == "fc":
        src = src.replace("[8, 6, 6]", "[300]")
    model = load_script(write(tmp_path, src)).model
    ours = np.asarray(model.get_weights()[0], dtype=np.float64)
    tmod = _torch_reference(src.replace("init." + call, ""), "m")
    ns = {"init": torch.nn.init, "m": tmod}
    exec("init." + call, ns)  # noqa: S102 (the test's own call, on torch's module)
    theirs = getattr(tmod, layer).weight.detach().numpy().astype(np.float64)
    assert math.isclose(ours.std(), theirs.std(), rel_tol=0.06)
    if "uniform" in call:  # the same bound
        assert math.isclose(abs(ours).max(), abs(theirs).max(), rel_tol=0.02)
    if call.startswith("orthogonal_"):  # W W^T = gain^2 I in torch's (out, in) layout
        w = ours.reshape(-1, ours.shape[-1]).T
        np.testing.assert_allclose(w @ w.T, 4 * np.eye(len(w)), atol=1e-5)


WEIGHTS_INIT = HEAD + '''
# seqc: input_shape = [3, 8, 8]

def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.Linear,)):
        nn.init.xavier_uniform_(m.weight)


class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Flatten(), nn.Linear(144, 2))

    def forward(self, x):
        return self.main(x)


model = D()
model.apply(weights_init)
'''


def test_model_apply_of_an_init_function_sets_each_module():
    layers = {d["name"]: d for d in script_to_spec(WEIGHTS_INIT, "w.py")["layers"]}
    assert layers["main.0"]["kernel_initializer"] == {"type": "RandomNormal", "mean": 0.0,
                                                      "stddev": 0.02}
    assert layers["main.1"]["gamma_initializer"]["mean"] == 1.0
    assert layers["main.1"]["beta_initializer"] == {"type": "Zeros"}
    assert layers["main.4"]["kernel_initializer"]["mode"] == "fan_avg"
    assert "kernel_initializer" in layers["main.0"] and layers["main.0"]["bias_initializer"][
        "type"] == "RandomUniform"  # PyTorch's own bias default, untouched


@pytest.mark.parametrize("call, why", [
    ("trunc_normal_(self.fc.weight, std=0.02)", "cuts at"),
    ("sparse_(self.fc.weight, 0.1)", "no initializer"),
    ("normal_(self.conv.weight, generator=torch.Generator())", "generator= is not read"),
    ("zeros_(self.bn.running_mean)", "not a parameter seqc initializes"),
    ("normal_(self, 0, 1)", "sets the initial values of a module")])
def test_an_init_seqc_cannot_express_is_refused(call, why):
    src = INIT_NET.replace("init.{call}", f"init.{call}")
    with pytest.raises(DefinitionError, match=why):
        script_to_spec(src, "m.py")


def test_an_init_under_a_condition_seqc_cannot_decide_is_refused():
    src = WEIGHTS_INIT.replace("classname.find('Conv') != -1", "hasattr(m, 'weight')")
    with pytest.raises(DefinitionError, match="w.py"):
        script_to_spec(src, "w.py")


BIRNN = HEAD + '''
# seqc: input_shape = [7, 5]

class BiRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, num_classes):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                            bidirectional=True)
        self.fc = nn.Linear(hidden_size * 2, num_classes)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers * 2, x.size(0), self.hidden_size)
        c0 = torch.zeros(self.num_layers * 2, x.size(0), self.hidden_size)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


model = BiRNN(5, 6, 2, 3)
'''


def _gru_weights(tmod) -> list[np.ndarray]:
    """A bidirectional nn.GRU's parameters in Keras' order: gates (r, z, n) -> (z, r, h),
    PyTorch's two biases one (2, 3H) reset_after bias."""
    p = {n: t.detach().numpy() for n, t in tmod.state_dict().items()}
    h = tmod.lstm.hidden_size
    order = np.r_[h:2 * h, 0:h, 2 * h:3 * h]
    out = []
    for k in range(tmod.lstm.num_layers):
        for sfx in ("", "_reverse"):
            out += [p[f"lstm.weight_ih_l{k}{sfx}"][order].T, p[f"lstm.weight_hh_l{k}{sfx}"][
                order].T, np.stack([p[f"lstm.bias_ih_l{k}{sfx}"][order],
                                    p[f"lstm.bias_hh_l{k}{sfx}"][order]])]
    return out + [p["fc.weight"].T, p["fc.bias"]]


@pytest.mark.parametrize("rnn", ["LSTM", "GRU"])
def test_the_last_step_of_a_bidirectional_output_predicts_like_torch(tmp_path, rnn):
    """out[:, -1] of a bidirectional layer: the forward direction after every step, the
    backward one after the last step only, as Keras' Bidirectional(return_sequences=True)
    aligns it."""
    torch = pytest.importorskip("torch")
    from test_pyscript import _torch_weights

    src = BIRNN if rnn == "LSTM" else BIRNN.replace("nn.LSTM", "nn.GRU").replace(
        "(h0, c0)", "h0")
    model = load_script(write(tmp_path, src)).model
    tmod = _torch_reference(src, "model")
    assert model.count_params() == sum(p.numel() for p in tmod.parameters())
    model.set_weights(_torch_weights(model, tmod) if rnn == "LSTM" else _gru_weights(tmod))
    x = np.random.default_rng(0).standard_normal((4, 7, 5)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5)


def test_dropout2d_on_flat_features_is_dropout_as_torch_runs_it(tmp_path):
    """PyTorch 2 warns and drops each value of an (N, C) input on its own (examples'
    mnist_rnn): read as Dropout, with a note. Checked on the installed torch."""
    torch = pytest.importorskip("torch")
    src = HEAD + "model = nn.Sequential(nn.Linear(4, 64), nn.Dropout2d(0.25))\n"
    defn = load_script(write(tmp_path, src))
    assert [n.op for n in defn.model.graph.nodes] == ["Dense", "Dropout"]
    assert defn.model.graph.nodes[1].attrs.rate == 0.25
    assert any("as nn.Dropout" in n for n in defn.notes)
    torch.manual_seed(0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = torch.nn.Dropout2d(0.5).train()(torch.ones(2000, 64))
    zero = (y == 0).numpy()
    assert 0.45 < zero.mean() < 0.55
    assert not (zero.all(1) | (~zero).all(1)).any()  # not whole rows: each value alone
    with pytest.raises(DefinitionError, match="whole channels"):
        load_script(write(tmp_path, src.replace("nn.Linear(4, 64)", "nn.Conv1d(4, 8, 3)")
                          .replace("import torch\n", "import torch\n# seqc: input_shape = "
                                   "[4, 9]\n")))


STYLE_NET = HEAD + '''
# seqc: input_shape = [3, 9, 10]

class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = torch.nn.functional.interpolate(x, mode='nearest', scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d((1, 2, 0, 3))
        self.conv1 = ConvLayer(3, 4, kernel_size=3, stride=2)
        self.in1 = torch.nn.InstanceNorm2d(4, affine=True)
        self.conv2 = ConvLayer(4, 4, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(4)
        self.up = ConvLayer(4, 2, kernel_size=5, stride=1, upsample=2)
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(self.pad(X))))
        y = self.in2(self.conv2(y)) + y
        return self.up(y)


model = Net()
'''


def test_reflection_padding_and_instance_norm_predict_like_torch(tmp_path):
    """fast_neural_style's blocks: ReflectionPad2d (ReflectionPadding2D), InstanceNorm2d
    with and without affine (GroupNormalization, one group per channel, PyTorch's eps and
    parameter count), nearest upsampling, a residual add."""
    torch = pytest.importorskip("torch")
    model = load_script(write(tmp_path, STYLE_NET)).model
    tmod = _torch_reference(STYLE_NET, "model")
    with torch.no_grad():  # non-trivial affine weights
        for m in tmod.modules():
            if isinstance(m, torch.nn.InstanceNorm2d) and m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    assert model.count_params() == sum(p.numel() for p in tmod.parameters())
    ws = []
    for node in model.graph.nodes:
        if node.params:
            mod = tmod.get_submodule(node.layer)
            w = mod.weight.detach().numpy()
            ws += [np.transpose(w, (2, 3, 1, 0)) if w.ndim == 4 else w,
                   mod.bias.detach().numpy()]
    model.set_weights(ws)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 10)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    got = model.predict(x)
    assert got.shape == want.shape == (2, 2, 12, 14)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("module, why", [
    ("nn.ReflectionPad2d(5)", "smaller than"),
    ("nn.InstanceNorm2d(3, track_running_stats=True)", "track_running_stats"),
    ("nn.InstanceNorm2d(4)", "num_features=4, but its input channel count is 3")])
def test_reflection_and_instance_norm_refusals(tmp_path, module, why):
    src = HEAD + f"# seqc: input_shape = [3, 5, 5]\nmodel = nn.Sequential({module})\n"
    with pytest.raises(DefinitionError, match=why):
        load_script(write(tmp_path, src))


def test_flatten_that_folds_only_size_one_dims_is_a_reshape(tmp_path):
    """The polynomial tutorial's nn.Flatten(0, 1) on (N, 1): (N,), as torch gives it."""
    torch = pytest.importorskip("torch")
    src = HEAD + "model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))\n"
    defn = load_script(write(tmp_path, src))
    assert defn.model.output_shape == (None,)
    assert any("folds only dimensions of size 1" in n for n in defn.notes)
    tmod = _torch_reference(src, "model")
    w = tmod[0].weight.detach().numpy()
    defn.model.set_weights([w.T, tmod[0].bias.detach().numpy()])
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(defn.model.predict(x), want, atol=1e-6)
    with pytest.raises(DefinitionError, match="only Flatten"):  # (N, 2) would fold samples
        load_script(write(tmp_path, src.replace("nn.Linear(3, 1)", "nn.Linear(3, 2)")))


PARAM_WRITES = HEAD + '''
# seqc: input_shape = [4]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.fc.weight.data.normal_(0, 0.01)
        self.fc.bias.data.zero_()

    def forward(self, x):
        return self.fc(x)

model = Net()
{extra}
'''


@pytest.mark.parametrize("extra, kernel, bias", [
    ("", {"type": "RandomNormal", "mean": 0.0, "stddev": 0.01}, {"type": "Zeros"}),
    ("model.fc.weight.data.uniform_(-0.1, 0.1)",
     {"type": "RandomUniform", "minval": -0.1, "maxval": 0.1}, {"type": "Zeros"}),
    ("with torch.no_grad():\n    model.fc.weight.fill_(1.0)\n    model.fc.bias.fill_(0.5)",
     {"type": "Constant", "value": 1.0}, {"type": "Constant", "value": 0.5}),
    ("for t in range(3):\n    model.fc.weight.data.add_(-0.1 * model.fc.weight.grad)",
     {"type": "RandomNormal", "mean": 0.0, "stddev": 0.01}, {"type": "Zeros"})])
def test_in_place_initializers_on_a_parameter_are_read(extra, kernel, bias):
    """`w.data.normal_()`, `uniform_`, `zero_()`, `fill_()` set the initializer (the last
    one written wins); an update from `.grad` is a hand-written training step, not run."""
    (d,) = script_to_spec(PARAM_WRITES.replace("{extra}", extra), "p.py")["layers"]
    assert (d["kernel_initializer"], d["bias_initializer"]) == (kernel, bias)


@pytest.mark.parametrize("extra, line", [
    ("model.fc.weight.data.copy_(torch.ones(3, 4))", 18),
    ("model.fc.weight.data.mul_(0.5)", 18),
    ("if torch.cuda.is_available():\n    model.fc.bias.data.fill_(1.0)", 18)])
def test_other_writes_to_a_parameter_are_refused(extra, line):
    with pytest.raises(DefinitionError, match=f"p.py:{line}:"):
        script_to_spec(PARAM_WRITES.replace("{extra}", extra), "p.py")


HN = HEAD + '''
# seqc: input_shape = [7, 5]

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.{rnn}(5, 6, {layers}, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        {body}

model = M()
'''
HN_READS = {
    "lstm_h_last": ("LSTM", 2, "out, (h, c) = self.lstm(x)\n        return self.fc(h[-1])"),
    "lstm_hidden_0": ("LSTM", 1, "_, hidden = self.lstm(x)\n        return self.fc(hidden[0][0])"),
    "lstm_squeeze": ("LSTM", 1, "_, (h, _) = self.lstm(x)\n        return self.fc(h.squeeze(0))"),
    "gru_h_last": ("GRU", 3, "out, h = self.lstm(x)\n        return self.fc(h[-1])"),
    "gru_h_top": ("GRU", 2, "out, h = self.lstm(x)\n        return self.fc(h[1])"),
}


@pytest.mark.parametrize("case", sorted(HN_READS))
def test_the_final_hidden_state_of_the_top_layer_predicts_like_torch(tmp_path, case):
    """h_n[-1] of a one-direction LSTM/GRU is its top layer's last output."""
    torch = pytest.importorskip("torch")
    from test_pyscript import _torch_weights

    rnn, layers, body = HN_READS[case]
    src = HN.format(rnn=rnn, layers=layers, body=body)
    model = load_script(write(tmp_path, src)).model
    tmod = _torch_reference(src, "model")
    assert model.count_params() == sum(p.numel() for p in tmod.parameters())
    if rnn == "LSTM":
        model.set_weights(_torch_weights(model, tmod))
    else:  # gates (r, z, n) -> Keras' (z, r, h); both biases one (2, 3H) bias
        p = {n: t.detach().numpy() for n, t in tmod.state_dict().items()}
        order = np.r_[6:12, 0:6, 12:18]
        ws = []
        for k in range(layers):
            ws += [p[f"lstm.weight_ih_l{k}"][order].T, p[f"lstm.weight_hh_l{k}"][order].T,
                   np.stack([p[f"lstm.bias_ih_l{k}"][order], p[f"lstm.bias_hh_l{k}"][order]])]
        model.set_weights(ws + [p["fc.weight"].T, p["fc.bias"]])
    x = np.random.default_rng(0).standard_normal((4, 7, 5)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5)


@pytest.mark.parametrize("rnn, layers, body, why", [
    ("LSTM", 1, "out, (h, c) = self.lstm(x)\n        return self.fc(c[-1])", "cell state"),
    ("LSTM", 2, "out, (h, c) = self.lstm(x)\n        return self.fc(h[0])", "below the top"),
    ("GRU", 2, "out, h = self.lstm(x)\n        return self.fc(h.squeeze(0))", "other than"),
    ("LSTM", 1, "out, (h, c) = self.lstm(x)\n        return self.fc(h[-1]) + self.fc(out[:, -1])",
     "both the output and the final state"),
    ("LSTM", 1, "_, hidden = self.lstm(x)\n        return self.fc(hidden[-1])", "pair")])
def test_other_reads_of_the_state_are_refused(tmp_path, rnn, layers, body, why):
    src = HN.format(rnn=rnn, layers=layers, body=body)
    with pytest.raises(DefinitionError, match=why):
        load_script(write(tmp_path, src))


def test_h_n_of_a_bidirectional_layer_is_refused(tmp_path):
    src = HN.format(rnn="GRU", layers=1, body="out, h = self.lstm(x)\n        "
                    "return self.fc(h[-1])").replace("batch_first=True", "batch_first=True, "
                                                     "bidirectional=True")
    with pytest.raises(DefinitionError, match="bidirectional"):
        load_script(write(tmp_path, src))


@pytest.mark.parametrize("args, body", [
    ("5, 6, 2, batch_first=True", "out, h = self.lstm(x)\n        return self.fc(h[-1])"),
    ("5, 6, nonlinearity='relu', batch_first=True",
     "out, _ = self.lstm(x)\n        return self.fc(out[:, -1, :])"),
    ("5, 3, batch_first=True, bidirectional=True, bias=False",
     "out, _ = self.lstm(x)\n        return self.fc(out[:, -1, :])")])
def test_nn_rnn_predicts_like_torch(tmp_path, args, body):
    """nn.RNN: a SimpleRNN with its nonlinearity and PyTorch's two biases (b_ih, b_hh as
    SimpleRNN(recurrent_bias=True)), stacked and bidirectional as LSTM/GRU are."""
    torch = pytest.importorskip("torch")
    src = HN.format(rnn="RNN", layers="X", body=body).replace(
        "nn.RNN(5, 6, X, batch_first=True)", f"nn.RNN({args})")
    model = load_script(write(tmp_path, src)).model
    tmod = _torch_reference(src, "model")
    assert model.count_params() == sum(p.numel() for p in tmod.parameters())
    p = {n: t.detach().numpy() for n, t in tmod.state_dict().items()}
    ws = []
    for k in range(tmod.lstm.num_layers):
        for sfx in ("", "_reverse") if tmod.lstm.bidirectional else ("",):
            ws += [p[f"lstm.weight_ih_l{k}{sfx}"].T, p[f"lstm.weight_hh_l{k}{sfx}"].T]
            if tmod.lstm.bias:
                ws.append(np.stack([p[f"lstm.bias_ih_l{k}{sfx}"], p[f"lstm.bias_hh_l{k}{sfx}"]]))
    model.set_weights(ws + [p["fc.weight"].T, p["fc.bias"]])
    x = np.random.default_rng(0).standard_normal((4, 7, 5)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5)

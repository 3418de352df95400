"""The torch runtime: every example of every registered kind rebuilt in PyTorch and compared
with seqc's NumPy forward (atol 1e-5, rtol 1e-4), refusals as clear UsageErrors, and an
end-to-end `seqc.validate` over numpy, onnxruntime and torch."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import seqc  # noqa: E402
from seqc.errors import DataError, UsageError  # noqa: E402
from seqc.ir.build import LayerConfig, build_graph  # noqa: E402
from seqc.ir.types import batched  # noqa: E402
from seqc.ops import REGISTRY  # noqa: E402
from seqc.runtime import RUNTIMES, validate  # noqa: E402
from seqc.runtime.runners import ModelSource  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4
BATCH = 3
UNKNOWN = 5  # the size a None (variable) dimension gets here

# Examples the torch runtime refuses on purpose (torch has no exact equivalent), by the text
# its UsageError names. Everything else must agree with NumPy.
REFUSED = {
    "GRU(reset_after=False)",
    "GRU(activation='relu', recurrent_activation='hard_sigmoid')",
    "LSTM(activation='relu', recurrent_activation='hard_sigmoid')",
    "SimpleRNN(activation='sigmoid')",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    # FarmHash and SipHash need unsigned 64-bit arithmetic, which PyTorch does not have.
    "Hashing",
    "IntegerLookup(oov_method='farmhash')",
    # Keras' torch backend refuses lanczos (F.interpolate has none) and has no area mode
    # (TensorFlow's only).
    "Resizing(interpolation='lanczos3')", "Resizing(interpolation='lanczos5')",
    "Resizing(interpolation='area')",
}
MUST_COVER = {"Dense", "Conv2D", "MaxPooling2D", "BatchNormalization", "LSTM", "GRU",
              "Embedding", "Bidirectional", "Flatten", "Activation"}


def _chain_examples(op) -> list:
    """The examples of one-input kinds (merges need a graph; the torch runtime runs chains
    of them, and several-input models are refused whole)."""
    return [] if op.multi_input else op.examples


def _cases():
    return [pytest.param(kind, i, ex, id=f"{kind}-{i}")
            for kind, op in sorted(REGISTRY.items()) for i, ex in enumerate(_chain_examples(op))]


def _graph(kind, ex):
    layers = [LayerConfig(kind, copy.deepcopy(ex.config))]
    if ex.mask_lengths is not None:
        layers.insert(0, LayerConfig("Masking", {"mask_value": 0.0}))
    return build_graph(f"t_{kind}", batched(tuple(ex.input_shape), ex.input_dtype), layers)


def _input(ex, rng):
    shape = (BATCH, *(UNKNOWN if d is None else d for d in ex.input_shape))
    lo, hi = ex.input_range
    if not np.issubdtype(np.dtype(ex.input_dtype), np.floating):
        return rng.integers(int(lo), int(hi), size=shape).astype(ex.input_dtype)
    x = rng.uniform(lo, hi, size=shape).astype(ex.input_dtype)
    if ex.mask_lengths is not None:
        # Right-padded steps set to 0 (what the Masking layer in front masks); valid steps
        # kept away from 0 so none is masked by chance.
        x = np.where(np.abs(x) < 0.1, 0.5, x).astype(x.dtype)
        valid = np.array([ex.mask_lengths[i % len(ex.mask_lengths)] for i in range(BATCH)])
        keep = np.arange(shape[1])[None, :] < valid[:, None]
        x = x * keep.reshape(*keep.shape, *(1,) * (x.ndim - 2)).astype(x.dtype)
    return x


def _params(graph, rng):
    out = {}
    for key, spec in graph.param_specs.items():
        if not np.issubdtype(np.dtype(spec.dtype), np.floating):
            out[key] = np.zeros(spec.shape, spec.dtype)
            continue
        v = rng.normal(size=spec.shape)
        if spec.domain == "positive":
            v = np.abs(v) + 0.5
        out[key] = v.astype(np.float32)  # non-zero biases, means, ... everywhere
    return out


# Filled by test_example, read by test_coverage (which runs after it in file order).
OUTCOME: dict[str, set] = {"covered": set(), "refused": set(), "covered_kinds": set()}


@pytest.mark.parametrize("kind,i,ex", _cases())
def test_example(kind, i, ex):
    rng = np.random.default_rng(i)
    graph = _graph(kind, ex)
    params = _params(graph, rng)
    x = _input(ex, rng)
    src = ModelSource(graph, params, label=kind)
    ref = RUNTIMES["numpy"].load(src)(x)
    try:
        predict = RUNTIMES["torch"].load(src)
    except UsageError as e:
        text = str(e)
        assert "has no PyTorch equivalent" in text and kind in text, text
        named = text.split("equivalent for ", 1)[1].split(".")[0].split("\n")[0]
        assert named in REFUSED, f"unexpected refusal: {text}"
        OUTCOME["refused"].add(f"{kind}-{i}: {named}")
        return
    y = predict(x)
    assert y.dtype == ref.dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=ATOL, rtol=RTOL, err_msg=f"{kind} {ex.config}")
    OUTCOME["covered"].add(f"{kind}-{i}")
    OUTCOME["covered_kinds"].add(kind)


def test_coverage():
    total = sum(len(_chain_examples(op)) for op in REGISTRY.values())
    covered, refused = OUTCOME["covered"], OUTCOME["refused"]
    if len(covered) + len(refused) != total:
        pytest.skip("run with the per-example tests (the whole file) for the tally")
    print(f"\ntorch runtime: {len(covered)} of {total} examples agree with NumPy, "
          f"{len(refused)} refused:\n  " + "\n  ".join(sorted(refused)))
    assert OUTCOME["covered_kinds"] >= MUST_COVER
    # PyTorch has no convolutional LSTM (those kinds are refused whole), no unsigned 64-bit
    # arithmetic (the FarmHash/SipHash examples) and no lanczos or area resizing; beyond them
    # at most 10 may be refused.
    no_torch = sum(len(REGISTRY[k].examples) for k in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"))
    no_torch += sum(ex.config.get("interpolation") in ("lanczos3", "lanczos5", "area")
                    for ex in REGISTRY["Resizing"].examples)
    hashed = len(REGISTRY["Hashing"].examples) + sum(
        ex.config.get("oov_method") == "farmhash" for ex in REGISTRY["IntegerLookup"].examples)
    assert len(covered) >= total - no_torch - hashed - 10
    # Every Activation example (each plain Keras activation, gelu approximate, softmax axis,
    # relu's arguments) runs, and so do the default GRU (reset_after=True) examples.
    assert {f"Activation-{i}" for i in range(len(REGISTRY["Activation"].examples))} <= covered
    assert {f"GRU-{i}" for i, ex in enumerate(REGISTRY["GRU"].examples)
            if ex.config.get("reset_after", True)
            and "activation" not in ex.config} <= covered


def _model():
    L = seqc.layers
    return seqc.Sequential([
        L.Input((10, 3)),
        L.Conv1D(4, 3, padding="same", strides=2, activation="relu"),
        L.BatchNormalization(),
        L.Bidirectional(L.LSTM(5, return_sequences=True)),
        L.GRU(4, return_sequences=True),
        L.MaxPooling1D(2),
        L.Flatten(),
        L.Dense(6, activation="gelu"),
        L.Dropout(0.3),
        L.Dense(3, activation="softmax"),
    ], seed=1)


def test_validate_end_to_end():
    model = _model()
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype)
                       for w in model.get_weights()])  # non-zero biases and moving stats
    x = rng.normal(size=(16, 10, 3)).astype(np.float32)
    result = validate(model, x, runtimes="numpy,onnxruntime,torch", print_table=False)
    assert result.ok, result.format_table()
    assert result["torch"].max_abs_error < ATOL
    assert result["torch"].argmax_agreement == 1.0


def test_cli_validate_build_folder(tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli
    from seqc.ir.serialize import dumps, params_to_npz_bytes

    model = _model()
    (tmp_path / "model.ir.json").write_text(dumps(model.graph))
    (tmp_path / "weights.npz").write_bytes(params_to_npz_bytes(model.params))
    r = CliRunner().invoke(cli, ["validate", str(tmp_path), "--runtimes",
                                 "numpy,onnxruntime,torch"])
    assert r.exit_code == 0, r.output
    assert "torch" in r.output and "OK: all runtimes agree" in r.output

    gru = seqc.Sequential([seqc.layers.Input((4, 2)), seqc.layers.GRU(3, reset_after=False)])
    (tmp_path / "model.ir.json").write_text(dumps(gru.graph))
    (tmp_path / "weights.npz").write_bytes(params_to_npz_bytes(gru.params))
    r = CliRunner().invoke(cli, ["validate", str(tmp_path), "--runtimes", "numpy,torch"])
    assert r.exit_code == 2 and "GRU(reset_after=False)" in r.output, r.output


def test_validate_refusal_is_a_usage_error():
    L = seqc.layers
    model = seqc.Sequential([L.Input((4, 2)), L.GRU(3, reset_after=False)])
    with pytest.raises(UsageError, match=r"(?s)GRU\(reset_after=False\).*layer 'gru'"):
        validate(model, np.ones((2, 4, 2), np.float32), runtimes=["numpy", "torch"],
                 print_table=False)


def test_masked_embedding_rnn_stack():
    L = seqc.layers
    model = seqc.Sequential([
        L.Input((6,), dtype="int32"), L.Embedding(7, 4, mask_zero=True),
        L.LSTM(3, return_sequences=True, go_backwards=True), L.SimpleRNN(2, return_sequences=True),
        L.GlobalAveragePooling1D()], seed=3)
    ids = np.array([[1, 2, 3, 0, 0, 0], [4, 0, 5, 6, 0, 0], [6, 5, 4, 3, 2, 1]], np.int32)
    result = validate(model, ids, runtimes=["numpy", "torch"], print_table=False)
    assert result.ok, result.format_table()


def test_embedding_id_out_of_range():
    L = seqc.layers
    model = seqc.Sequential([L.Input((3,), dtype="int32"), L.Embedding(4, 2)])
    predict = RUNTIMES["torch"].load(ModelSource(model.graph, model.params))
    with pytest.raises(DataError, match="input_dim"):
        predict(np.array([[1, 2, 9]], np.int32))


def test_options_batch_size_and_threads():
    model = _model()
    x = np.random.default_rng(1).normal(size=(7, 10, 3)).astype(np.float32)
    src = ModelSource(model.graph, model.params)
    whole = RUNTIMES["torch"].load(src)(x)
    threads = torch.get_num_threads()
    try:
        chunked = RUNTIMES["torch"].load(src, batch_size=2, intra_op_num_threads=1)(x)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)  # process-wide: leave it as found
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_torch_not_imported_by_seqc():
    code = ("import sys, seqc, seqc.runtime, seqc.cli; "
            "from seqc.runtime import RUNTIMES; RUNTIMES['torch'].unavailable(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


MERGE_CASES = [pytest.param(kind, ex, id=f"{kind}-{i}")
               for kind, op in sorted(REGISTRY.items()) if op.multi_input
               for i, ex in enumerate(op.examples) if ex.mask_lengths is None]


@pytest.mark.parametrize("kind,ex", MERGE_CASES)
def test_merge_kinds_in_a_graph_agree_with_numpy(kind, ex):
    """Each merge example as a graph with one input per shape, in torch and in NumPy."""
    from seqc.ir.build import NodeConfig, build_dag
    from seqc.runtime.torch_runtime import build_module
    from seqc.training import executor

    names = [f"in_{i}" for i in range(len(ex.shapes))]
    graph = build_dag("m", {n: batched(tuple(s)) for n, s in zip(names, ex.shapes)},
                      [NodeConfig(kind, copy.deepcopy(ex.config), "merge", names)], ["merge"])
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(BATCH, *(UNKNOWN if d is None else d for d in s))).astype(np.float32)
          for s in ex.shapes]
    want, _ = executor.forward(graph, {}, xs)
    module = build_module(graph, {})
    with torch.no_grad():
        got = module([torch.from_numpy(x) for x in xs]).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


MASKED_MERGE_CASES = [pytest.param(kind, ex, id=f"{kind}-{i}")
                      for kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
                      for i, ex in enumerate(REGISTRY[kind].examples)
                      if ex.mask_lengths is not None]


@pytest.mark.parametrize("kind,ex", MASKED_MERGE_CASES)
def test_masked_merges_agree_with_numpy(kind, ex):
    """A Masking(0) before each masked input, the merge, then an LSTM reading its mask (when
    it carries one): torch and NumPy agree (Maximum/Minimum let the masks pick values,
    Multiply fills masked-out entries with 1)."""
    from seqc.ir.build import NodeConfig, build_dag
    from seqc.runtime.torch_runtime import build_module
    from seqc.training import executor

    names = [f"in_{i}" for i in range(len(ex.shapes))]
    flags = ex.masked_inputs or (True,) * len(names)
    entries = [NodeConfig("Masking", {"mask_value": 0.0}, f"{n}_m", [n])
               for n, f in zip(names, flags) if f]
    refs = [f"{n}_m" if f else n for n, f in zip(names, flags)]
    entries += [NodeConfig(kind, {}, "merge", refs),
                NodeConfig("LSTM", {"units": 2}, "rnn", ["merge"])]
    graph = build_dag("m", {n: batched(tuple(s)) for n, s in zip(names, ex.shapes)},
                      entries, ["rnn"])
    params = {k: np.random.default_rng(1).normal(size=s.shape).astype(np.float32) * 0.5
              for k, s in graph.param_specs.items()}
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(BATCH, *s)).astype(np.float32) for s in ex.shapes]
    for x, f in zip(xs, flags):
        if f:
            for i in range(BATCH):
                x[i, ex.mask_lengths[i % len(ex.mask_lengths)]:] = 0.0
    want, _ = executor.forward(graph, params, xs)
    module = build_module(graph, params)
    with torch.no_grad():
        got = module([torch.from_numpy(x) for x in xs]).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)

"""CategoryEncoding, Discretization, IntegerLookup and Hashing beyond the contract tests:
Keras' adapt, Keras' documented outputs for the layers Keras runs only through TensorFlow
(IntegerLookup, Hashing: TensorFlow is not installed here), and FarmHash against published
fingerprints. CategoryEncoding and Discretization with given boundaries are also compared with
real Keras on every example by tests/ops/test_ops_keras_parity.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hash_reference import M, fingerprint64, siphash24

import seqc
from seqc.errors import DataError, DefinitionError, ExportError
from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops._hashes import NumpyOps, siphash
from seqc.ops._hashes import fingerprint64 as vector_fingerprint64
from seqc.ops.base import RunContext
from seqc.ops.integer_lookup import adapted_vocabulary

os.environ.setdefault("KERAS_BACKEND", "torch")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def run(kind: str, config: dict, x: np.ndarray, params: dict | None = None, opset: int = 17):
    """(NumPy forward, onnxruntime) outputs of one layer on x (whose dtype is the input's)."""
    import onnxruntime as ort

    from seqc.export import to_onnx

    graph = build_graph("t", batched(x.shape[1:], x.dtype.name), [LayerConfig(kind, config)])
    node = graph.nodes[0]
    params = params or {}
    local = {p: params[node.param_key(p)] for p in node.params}
    (want,), _ = REGISTRY[kind].forward(node.attrs, local, [x], RunContext())
    model = to_onnx(graph, params, opset=opset)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return want, sess.run(None, {"input": x})[0]


def check(kind: str, config: dict, x, expected, dtype="int64", **kw):
    want, got = run(kind, config, np.asarray(x, dtype), **kw)
    np.testing.assert_allclose(want, expected, rtol=1e-6)
    np.testing.assert_array_equal(got, want)


# ---- FarmHash Fingerprint64 ----

def test_reference_fingerprint_matches_guava():
    # guava-tests/.../hash/FarmHashFingerprint64Test.java: testReallySimpleFingerprints.
    assert _signed(fingerprint64(b"test")) == 8581389452482819506
    assert _signed(fingerprint64(b"test" * 8)) == -4196240717365766262
    assert _signed(fingerprint64(b"test" * 64)) == 3500507768004279527


def test_reference_fingerprint_matches_guava_over_800_lengths():
    # testMultipleLengths: every length 0..3200 and branch, chained into one published value.
    def remix(h):
        h ^= h >> 41
        return (h * 949921979) & M

    def char(h):
        return (ord("a") + ((h & 0xFFFFF) % 26)) & 0xFF

    buf, n, h = bytearray(3200), 0, 0
    for i in range(800):
        for step in range(4):  # prefixes of length i, i^2 % n, i^3 % n, n (n grows)
            length = (i, i * i % max(n, 1), i ** 3 % max(n, 1), n)[step]
            h = remix(h ^ fingerprint64(bytes(buf[:length])))
            buf[n] = char(h)
            n += 1
        x0, x1, x2, x3 = buf[n - 1], buf[n - 2], buf[n - 3], buf[n // 2]
        buf[((x0 << 16) + (x1 << 8) + x2) % n] ^= x3
        buf[((x1 << 16) + (x2 << 8) + x3) % n] ^= i % 256
    assert h == 0x7A1D67C50EC7E167


def test_keras_hashing_published_bins():
    # keras/src/layers/preprocessing/hashing_test.py: Hashing(num_bins=3) of "A".."E" and of
    # the integers 0..4 (Keras hashes tf.as_string of integers).
    assert [fingerprint64(c.encode()) % 3 for c in "ABCDE"] == [1, 0, 1, 1, 2]
    check("Hashing", {"num_bins": 3}, [[0], [1], [2], [3], [4]], [[1], [0], [1], [0], [2]])
    # test_one_hot_output and test_multi_hot_output of the same file.
    check("Hashing", {"num_bins": 3, "output_mode": "one_hot"}, [[0], [1], [2], [3], [4]],
          [[0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype="int64")
    check("Hashing", {"num_bins": 3, "output_mode": "multi_hot"}, [[0, 1, 2, 3, 4]],
          [[1, 1, 1]])


@pytest.mark.parametrize("opset", [17, 18])
def test_fingerprint_of_every_decimal_length_numpy_and_onnx(opset):
    """Every length 1..20 (signs, powers of ten, int64's extremes): the vectorized NumPy and
    the ONNX graph (bit-split XOR at opset 17, BitwiseXor at 18) agree with the reference."""
    rng = np.random.default_rng(0)
    edges = [0, 7, -7, 2 ** 63 - 1, -2 ** 63] + [s * (10 ** k + d) for k in range(19)
                                                 for d in (-1, 0, 1) for s in (1, -1)]
    x = np.concatenate([np.array(edges, np.int64), rng.integers(-2 ** 63, 2 ** 63 - 1, 200,
                                                                dtype=np.int64)])
    want = np.array([fingerprint64(str(int(v)).encode()) for v in x], np.uint64)
    np.testing.assert_array_equal(vector_fingerprint64(NumpyOps(), x), want)
    bins = 2 ** 31 - 1  # a prime: the bins keep most of the fingerprint's bits
    numpy_out, onnx_out = run("Hashing", {"num_bins": bins}, x[:, None], opset=opset)
    np.testing.assert_array_equal(numpy_out[:, 0], (want % np.uint64(bins)).astype(np.int64))
    np.testing.assert_array_equal(onnx_out, numpy_out)


def test_reference_siphash_matches_the_paper():
    # SipHash paper (Aumasson, Bernstein 2012), appendix A, and the reference vectors.h:
    # key 00..0f; the empty message, and the 15-byte message 00..0e.
    k0 = int.from_bytes(bytes(range(8)), "little")
    k1 = int.from_bytes(bytes(range(8, 16)), "little")
    assert siphash24(k0, k1, b"") == 0x726FDB47DD0E0E31
    assert siphash24(k0, k1, bytes(range(15))) == 0xA129CA6149BE45E5


def test_keras_salted_hashing_published_bins():
    # keras hashing_test.py: salt=[133, 137] and salt=133 on "A".."E", salt=[133, 137] on the
    # integers 0..4; TF's to_hash_bucket_strong docstring: ["Hello", "TF"], 3, key [1, 2].
    assert [siphash24(133, 137, c.encode()) % 3 for c in "ABCDE"] == [1, 2, 1, 0, 2]
    assert [siphash24(133, 133, c.encode()) % 3 for c in "ABCDE"] == [0, 0, 2, 1, 0]
    assert [siphash24(1, 2, s) % 3 for s in (b"Hello", b"TF")] == [2, 0]
    check("Hashing", {"num_bins": 3, "salt": [133, 137]}, [[0], [1], [2], [3], [4]],
          [[1], [1], [2], [0], [1]])


@pytest.mark.parametrize("opset", [17, 18])
def test_siphash_of_every_decimal_length_numpy_and_onnx(opset):
    x = np.array([s * (10 ** k + d) for k in range(19) for d in (-1, 0, 1) for s in (1, -1)]
                 + [2 ** 63 - 1, -2 ** 63], np.int64)
    key = (2 ** 64 - 5, 12345)  # a key with its top bit set
    want = np.array([siphash24(*key, str(int(v)).encode()) for v in x], np.uint64)
    np.testing.assert_array_equal(siphash(NumpyOps(), x, key), want)
    bins = 2 ** 31 - 1
    numpy_out, onnx_out = run("Hashing", {"num_bins": bins, "salt": list(key)}, x[:, None],
                              opset=opset)
    np.testing.assert_array_equal(numpy_out[:, 0], (want % np.uint64(bins)).astype(np.int64))
    np.testing.assert_array_equal(onnx_out, numpy_out)


def test_hashing_mask_value_and_float_inputs():
    x = np.array([[0.0, 3.7, -2.2, 0.0]], np.float32)  # floats truncate to int64, as tf.cast
    ref = [fingerprint64(str(v).encode()) % 4 + 1 for v in (3, -2)]
    check("Hashing", {"num_bins": 5, "mask_value": 0}, x, [[0, ref[0], ref[1], 0]],
          dtype="float32")


# ---- IntegerLookup: the examples of Keras' own docstring (integer_lookup.py) ----

VOCAB = [12, 36, 1138, 42]
DATA = [[12, 1138, 42], [42, 1000, 36]]
DATA4 = [[12, 1138, 42, 42], [42, 7, 36, 7]]


def test_integer_lookup_keras_docstring_examples():
    check("IntegerLookup", {"vocabulary": VOCAB}, DATA, [[1, 3, 4], [4, 0, 2]])
    check("IntegerLookup", {"vocabulary": VOCAB, "num_oov_indices": 2},
          [[12, 1138, 42], [37, 1000, 36]], [[2, 4, 5], [1, 0, 3]])
    check("IntegerLookup", {"vocabulary": VOCAB, "output_mode": "one_hot"},
          [[12], [36], [1138], [42], [7]], np.eye(5)[[1, 2, 3, 4, 0]])
    check("IntegerLookup", {"vocabulary": VOCAB, "output_mode": "multi_hot"}, DATA4,
          [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    check("IntegerLookup", {"vocabulary": VOCAB, "output_mode": "count"}, DATA4,
          [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    check("IntegerLookup", {"vocabulary": VOCAB, "output_mode": "tf_idf",
                            "idf_weights": [0.25, 0.75, 0.6, 0.4]}, DATA4,
          [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])
    check("IntegerLookup", {"vocabulary": [-1, *VOCAB], "output_mode": "tf_idf",
                            "idf_weights": [0.9, 0.25, 0.75, 0.6, 0.4]}, DATA4,
          [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]])
    check("IntegerLookup", {"vocabulary": VOCAB, "invert": True}, [[1, 3, 4], [4, 0, 2]],
          [[12, 1138, 42], [42, -1, 36]])
    check("IntegerLookup", {"vocabulary": [-1, *VOCAB], "invert": True},
          [[1, 3, 4], [4, 0, 2]], [[12, 1138, 42], [42, -1, 36]])


def test_integer_lookup_farmhash_oov_buckets():
    # Keras' docstring: OOV ids spread over 4 buckets by FarmHash64 of their decimal string.
    oov = [[100, 300, 700, 1100, 1700, 2000]]
    check("IntegerLookup", {"vocabulary": [10, 20, 30], "num_oov_indices": 4,
                            "oov_method": "farmhash"}, oov, [[3, 3, 2, 2, 0, 1]])
    check("IntegerLookup", {"vocabulary": [10, 20, 30], "num_oov_indices": 4}, oov,
          [[0, 0, 0, 0, 0, 0]])


def test_integer_lookup_mask_token():
    # int mode: the mask is index 0, OOV 1, tokens from 2; other modes drop the mask.
    check("IntegerLookup", {"vocabulary": VOCAB, "mask_token": 0}, [[12, 0, 7]], [[2, 0, 1]])
    check("IntegerLookup", {"vocabulary": VOCAB, "mask_token": 0, "output_mode": "count"},
          [[12, 0, 0, 7]], [[1, 1, 0, 0, 0]])


def test_integer_lookup_adapt_matches_keras_docstring():
    a = REGISTRY["IntegerLookup"].parse_attrs({})
    vocab = adapted_vocabulary(a, np.array(DATA))["vocabulary"]
    assert vocab == [-1, 42, 1138, 1000, 36, 12]  # by count, ties by descending token
    check("IntegerLookup", {"vocabulary": vocab}, DATA, [[5, 2, 1], [1, 3, 4]])
    tfidf = REGISTRY["IntegerLookup"].parse_attrs({"output_mode": "tf_idf", "max_tokens": 3})
    out = adapted_vocabulary(tfidf, np.array(DATA))
    assert out["vocabulary"] == [-1, 42, 1138]
    idf = np.log(1 + 2 / (1 + np.array([2, 1])))  # log(1 + documents / (1 + df))
    np.testing.assert_allclose(out["idf_weights"], [idf.mean(), *idf], rtol=1e-6)


def test_integer_lookup_refusals():
    op = REGISTRY["IntegerLookup"]
    a = op.parse_attrs({"vocabulary": VOCAB, "num_oov_indices": 0})
    with pytest.raises(DataError, match="num_oov_indices"):
        op.forward(a, {}, [np.array([[12, 5]])], RunContext())
    with pytest.raises(DefinitionError, match="adapt"):
        op.check(op.parse_attrs({}))


# ---- Discretization ----

def _keras_adapted(num_bins: int, x: np.ndarray, epsilon: float = 0.01):
    keras = pytest.importorskip("keras")
    layer = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    # Keras' adapt() checks for a tf.data.Dataset first (TensorFlow is not installed); for
    # an array it runs exactly these two steps.
    layer.update_state(x)
    layer.finalize_state()
    return keras, layer


@pytest.mark.parametrize("num_bins,n", [(4, 50), (10, 7), (49, 1000), (3, 20000)])
def test_discretization_adapt_matches_keras(num_bins, n):
    x = np.random.default_rng(num_bins).normal(size=(n, 3)).astype(np.float32)
    keras, layer = _keras_adapted(num_bins, x)
    op = REGISTRY["Discretization"]
    learnt = op.adapt(op.parse_attrs({"num_bins": num_bins}), x)["bin_boundaries"]
    np.testing.assert_array_equal(learnt, np.float32(layer.bin_boundaries))
    for mode in ("int", "one_hot"):
        keras_out = keras.ops.convert_to_numpy(
            keras.layers.Discretization(bin_boundaries=layer.bin_boundaries,
                                        output_mode=mode)(x[:, :1]))
        params = {"discretization/bin_boundaries": learnt}
        want, got = run("Discretization", {"num_bins": num_bins, "output_mode": mode},
                        x[:, :1], params)
        np.testing.assert_array_equal(want, keras_out)
        np.testing.assert_array_equal(got, want)


def test_fit_adapts_discretization_and_export_refuses_unadapted(tmp_path):
    L = seqc.layers
    model = seqc.Sequential([L.Input((2,)), L.Discretization(num_bins=4),
                             L.CategoryEncoding(num_tokens=4, output_mode="count"),
                             L.Dense(1)], seed=0)
    x = np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32)
    with pytest.raises(DataError, match="no bin boundaries"):
        model.predict(x)
    with pytest.raises(ExportError, match="no bin boundaries"):
        model.export(str(tmp_path / "m.onnx"))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], epochs=1, batch_size=64, verbose=0)
    _, layer = _keras_adapted(4, x)
    np.testing.assert_array_equal(model.params["discretization/bin_boundaries"],
                                  np.float32(layer.bin_boundaries))
    model.export(str(tmp_path / "m.onnx"))
    report = seqc.validate(model, x, print_table=False)
    assert report.ok

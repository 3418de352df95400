"""Contract tests run on every registered layer kind and each of its examples; a new kind is
covered by adding its file and its import line, with no new test code here."""

from __future__ import annotations

import ast
import copy
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ops_harness import (
    BATCH,
    backward,
    build,
    build_masked,
    cases,
    concrete,
    facet_cases,
    forward,
    is_float,
    make_input,
    make_mask,
    make_params,
    masked_input,
    multi,
    node_params,
    numeric_grad,
)

import seqc.ops
from seqc.errors import DataError, DefinitionError
from seqc.ops import REGISTRY

CATEGORIES = {"core", "activation", "preprocessing", "regularization", "reshaping",
              "convolution", "pooling", "recurrent", "normalization", "attention", "merging"}
# The contract itself, its attribute parsing and the emitter interface: not layer kinds.
NOT_KINDS = {"base", "attrs", "emitter_api"}

EXAMPLES = cases("examples")
BAD_EXAMPLES = cases("bad_examples")


# ---- 1. registration ----

def _kind_modules() -> set[str]:
    pkg = Path(seqc.ops.__file__).parent
    return {p.stem for p in pkg.glob("*.py") if not p.stem.startswith("_")} - NOT_KINDS


def test_every_module_is_imported_and_registers_one_kind():
    pkg = Path(seqc.ops.__file__).parent
    tree = ast.parse((pkg / "__init__.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.level == 1 and n.module is None for a in n.names}
    modules = _kind_modules()
    assert modules - imported == set(), "modules missing from seqc/ops/__init__.py"
    per_module = Counter(type(op).__module__ for op in REGISTRY.values())
    for m in modules:
        assert per_module[f"seqc.ops.{m}"] == 1, f"seqc/ops/{m}.py must register one kind"
    assert set(per_module) == {f"seqc.ops.{m}" for m in modules}
    for kind, op in REGISTRY.items():
        assert op.kind == kind


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_kind_is_documented_with_examples(kind):
    op = REGISTRY[kind]
    assert len(op.examples) >= 1 and len(op.bad_examples) >= 1
    assert op.category in CATEGORIES
    assert op.summary and "\n" not in op.summary
    # The module docstring carries the formula, the ONNX mapping and the shape rule.
    assert (sys.modules[type(op).__module__].__doc__ or "").strip()


# ---- 2. config round trip ----

def _attrs(op, config):
    config = copy.deepcopy(config)
    if op.splits_activation:
        config.pop("activation", None)
    return op.parse_attrs(config)


@pytest.mark.parametrize("kind,ex", EXAMPLES)
def test_config_round_trip(kind, ex):
    op = REGISTRY[kind]
    attrs = _attrs(op, ex.config)
    config = op.attrs_to_config(attrs)
    text = json.dumps(config)  # JSON-serialisable
    again = op.parse_attrs(json.loads(text))
    assert again == attrs
    assert hash(again) == hash(attrs)
    assert op.attrs_to_config(again) == config


# ---- 3. shape rule vs forward ----

@pytest.mark.parametrize("kind,ex", EXAMPLES)
def test_shape_rule_matches_forward(kind, ex):
    rng = np.random.default_rng(0)
    graph = build(kind, ex)
    params = make_params(graph, rng)
    x = make_input(ex, rng)
    mask = make_mask(ex, x)
    for training in (False, ex.training):
        y, _ = forward(graph, params, x, training=training, mask=mask)
        out = graph.output_type
        assert out.matches(y), f"forward gave {y.shape}, shape rule {out}"
        assert y.dtype == np.dtype(out.dtype)
    # With every variable dimension made concrete the rule must give the exact shape.
    fixed = build(kind, ex, shape=[concrete(s) for s in ex.shapes] if multi(ex)
                  else concrete(ex.input_shape))
    assert (BATCH, *fixed.output_type.shape[1:]) == y.shape
    assert fixed.param_specs == {k: s for k, s in graph.param_specs.items()}


# ---- 4. backward vs central differences, float64 ----

@pytest.mark.parametrize("kind,ex", EXAMPLES)
def test_backward_matches_finite_differences(kind, ex):
    rng = np.random.default_rng(1)
    graph = build(kind, ex)
    params = make_params(graph, rng, dtype=np.float64)
    x = make_input(ex, rng, dtype=np.float64 if is_float(ex.input_dtype) else None)
    training = ex.training
    mask = make_mask(ex, x)  # fixed: a perturbation must not move the mask
    y, caches = forward(graph, params, x, training=training, mask=mask)
    if is_float(ex.input_dtype) and is_float(graph.output_type.dtype):
        assert y.dtype == np.float64, "facets must preserve float64"
    g = rng.normal(size=y.shape).astype(y.dtype)
    dx, grads = backward(graph, params, caches, g)

    def loss() -> float:
        return float((forward(graph, params, x, training=training, mask=mask)[0] * g).sum())

    for xi, dxi in zip(x, dx) if multi(ex) else [(x, dx)]:  # every input's gradient
        if is_float(ex.input_dtype) and dxi is None:
            # No gradient flows to the input (Embedding's float-held ids): the output must
            # be locally constant in it.
            np.testing.assert_array_equal(numeric_grad(loss, xi), 0.0,
                                          err_msg="input gradient")
        elif is_float(ex.input_dtype):
            assert dxi.shape == xi.shape and dxi.dtype == np.float64
            np.testing.assert_allclose(dxi, numeric_grad(loss, xi), rtol=1e-5, atol=1e-6,
                                       err_msg="input gradient")
    trainable = {k for k, s in graph.param_specs.items() if s.trainable}
    assert trainable <= set(grads), "backward must return every trainable parameter's gradient"
    for key, grad in grads.items():
        p = params[key]
        assert grad.shape == p.shape and grad.dtype == np.float64, key
        np.testing.assert_allclose(grad, numeric_grad(loss, p), rtol=1e-5, atol=1e-6,
                                   err_msg=f"gradient of {key}")


# ---- 5. ONNX lowering vs NumPy forward ----

def _reference_can_run(model) -> bool:
    from seqc.runtime.runners import reference_evaluator_limits

    return reference_evaluator_limits(model) is None


def _run_onnx(model, x):
    """[(runtime, output)]; `x` is one array, or a list in the model's input order."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    feed = dict(zip([i.name for i in model.graph.input], x if isinstance(x, list) else [x]))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = [("onnxruntime", sess.run(None, feed)[0])]
    if _reference_can_run(model):
        results.append(("onnx.reference", ReferenceEvaluator(model).run(None, feed)[0]))
    return results


@pytest.mark.parametrize("kind,ex", EXAMPLES)
def test_lowering_matches_forward(kind, ex):
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    rng = np.random.default_rng(2)
    # A masked example runs behind Masking(0.0), its masked steps zeroed: the ONNX mask is
    # then computed in the graph, as in a real model.
    masked = ex.mask_lengths is not None
    graph = build_masked(kind, ex) if masked else build(kind, ex)
    params = make_params(graph, rng)
    model = to_onnx(graph, params, opset=17)
    for batch in (BATCH, 1):  # the batch must stay dynamic in the exported graph
        x = make_input(ex, rng, batch=batch)
        x = masked_input(ex, x, make_mask(ex, x))
        want, _ = forward(graph, params, x, training=False)
        for runtime, got in _run_onnx(model, x):
            assert got.shape == want.shape, runtime
            assert got.dtype == want.dtype, runtime
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4, err_msg=runtime)


SPATIAL_EXAMPLES = [c for c in EXAMPLES if len(c.values[1].input_shape) >= 2
                    and not multi(c.values[1])
                    and is_float(c.values[1].input_dtype)
                    and None not in c.values[1].input_shape]


@pytest.mark.parametrize("kind,ex", SPATIAL_EXAMPLES)
def test_lowering_with_channels_first_input(kind, ex):
    """With input_layout="channels_first" the graph input is (N, C, *spatial) with no
    Transpose in front; whatever layout each kind asks for, results match the NumPy forward
    (a channels-first spatial output is compared transposed back)."""
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    rng = np.random.default_rng(4)
    graph = build(kind, ex)
    params = make_params(graph, rng)
    model = to_onnx(graph, params, opset=17, input_layout="channels_first")
    props = {p.key: p.value for p in model.metadata_props}
    assert props["seqc.input_layout"] == "channels_first"
    if REGISTRY[kind].export_layout(graph.nodes[-1].attrs) in ("channels_first", "agnostic"):
        assert not any(n.op_type == "Transpose" and n.input[0] == "input"
                       for n in model.graph.node), "channels-first input must not be transposed"
    x = make_input(ex, rng)
    want, _ = forward(graph, params, x, training=False)
    for runtime, got in _run_onnx(model, np.ascontiguousarray(np.moveaxis(x, -1, 1))):
        if props["seqc.output_layout"] == "channels_first":
            got = np.moveaxis(got, 1, -1)
        assert got.shape == want.shape, runtime
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4, err_msg=runtime)


# ---- 6. bad examples ----

@pytest.mark.parametrize("kind,bad", BAD_EXAMPLES)
def test_bad_example_raises_definition_error(kind, bad):
    with pytest.raises(DefinitionError) as info:
        build(kind, bad)
    text = str(info.value)
    assert "Received:" in text
    assert bad.match in text


# ---- 7. the inference_identity facet ----

def _inference_passes_input_through(kind: str, ex) -> bool:
    """Whether the kind's inference forward returns its input object itself on `ex`."""
    from seqc.ops.base import RunContext

    rng = np.random.default_rng(5)
    graph = build(kind, ex)
    node = graph.nodes[-1]
    own = node_params(node, make_params(graph, rng))
    x = make_input(ex, rng)
    ys, _ = REGISTRY[kind].forward(node.attrs, own, x if multi(ex) else [x],
                                   RunContext(training=False, rng=np.random.default_rng(0)))
    return ys[0] is x


IDENTITY_EXAMPLES = [c for c in EXAMPLES if REGISTRY[c.values[0]].inference_identity]


@pytest.mark.parametrize("kind,ex", IDENTITY_EXAMPLES)
def test_inference_identity_kind_passes_input_and_lowers_to_nothing(kind, ex):
    from seqc.export.emitter import Emitter

    assert _inference_passes_input_through(kind, ex), \
        f"{kind} has inference_identity but its inference forward changes the input"
    graph = build(kind, ex)
    node = graph.nodes[-1]
    em = Emitter(17)
    em.declare("x", graph.types[node.inputs[0]])
    em.begin(node.name)
    out = REGISTRY[kind].lower(node.attrs, {}, ["x"], em)
    assert out == ["x"] and not em.nodes and not em.initializers, \
        f"{kind} has inference_identity but its lowering emits nodes"


def test_inference_identity_facet_is_set_where_it_holds():
    """A kind whose inference forward returns its input object on every example is the
    identity at inference, and must say so (runtimes and the preprocessing fold read it)."""
    missing = [kind for kind, op in sorted(REGISTRY.items())
               if not op.inference_identity and op.examples
               and all(_inference_passes_input_through(kind, ex) for ex in op.examples)]
    assert missing == [], f"set inference_identity = True on {missing}"


# ---- 8. the optional affine and id facets, on every kind that declares them ----

@pytest.mark.parametrize("kind,ex", facet_cases("fold_affine"))
def test_fold_affine_equals_forward_times_scale_plus_shift(kind, ex):
    """`fold_affine` (what BatchNormalization folding uses): attrs and parameters computing
    `y * scale + shift` per output channel, refused (None) only for channels-first attrs."""
    from seqc.ops.base import RunContext

    op = REGISTRY[kind]
    rng = np.random.default_rng(5)
    graph = build(kind, ex)
    node = graph.nodes[0]
    params = node_params(node, make_params(graph, rng, dtype=np.float64))
    x = make_input(ex, rng, dtype=np.float64)
    (y,), _ = op.forward(node.attrs, params, [x], RunContext())
    channels = y.shape[-1]
    scale, shift = rng.uniform(0.5, 2, channels), rng.normal(size=channels)
    folded = op.fold_affine(node.attrs, copy.deepcopy(params), scale, shift)
    if getattr(node.attrs, "data_format", "channels_last") == "channels_first":
        assert folded is None
        return
    attrs, new = folded
    assert attrs.use_bias and set(new) == {s.name for s in op.params(attrs, [graph.input_type])}
    for s in op.params(attrs, [graph.input_type]):
        assert new[s.name].shape == s.shape and new[s.name].dtype == np.float64
    (y2,), _ = op.forward(attrs, new, [x], RunContext())
    np.testing.assert_allclose(y2, y * scale + shift, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind,ex", facet_cases("affine"))
def test_affine_facet_is_the_inference_forward(kind, ex):
    """`affine(attrs, params, in_type) -> (scale, shift)`, which the folding passes merge into a
    neighbour: float64 arrays broadcasting against the input, and the kind's inference output
    is `x * scale + shift`."""
    from seqc.ops.base import RunContext

    op = REGISTRY[kind]
    rng = np.random.default_rng(6)
    graph = build(kind, ex)
    node = graph.nodes[-1]
    params = node_params(node, make_params(graph, rng))
    x = make_input(ex, rng)
    (y,), _ = op.forward(node.attrs, params, [x], RunContext(training=False))
    scale, shift = op.affine(node.attrs, params, graph.types[node.inputs[0]])
    for v in (scale, shift):
        assert np.asarray(v).dtype == np.float64
        assert np.broadcast_shapes(np.shape(v), x.shape) == x.shape
    np.testing.assert_allclose(y, x * scale + shift, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,ex", facet_cases("id_count"))
def test_id_count_bounds_the_ids_and_is_exported(kind, ex):
    """`id_count(attrs)`: the size of the table the input indexes. Ids 0 and count - 1 run,
    count and -1 are a DataError (never a wrap-around), and the exported model records the
    count for its input (metadata seqc.token_ids), since onnxruntime's Gather wraps."""
    op = REGISTRY[kind]
    rng = np.random.default_rng(7)
    graph = build(kind, ex)
    node = graph.nodes[-1]
    count = op.id_count(node.attrs)
    assert isinstance(count, int) and count >= 1
    params = make_params(graph, rng)
    x = make_input(ex, rng)
    for ok in (0, count - 1):
        forward(graph, params, np.full_like(x, ok), training=False)
    for bad in (count, -1):
        with pytest.raises(DataError):
            forward(graph, params, np.full_like(x, bad), training=False)
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    props = {p.key: p.value for p in to_onnx(graph, params, opset=17).metadata_props}
    assert json.loads(props["seqc.token_ids"])["count"] == count

"""The layer-kind contract and the registry.

Every kind is one `OpDef` subclass in its own file, registered with `@register`. Its facets:

- `Attrs`: a frozen dataclass whose fields and defaults are Keras' arguments (the schema).
- `check(attrs)`: constraints on attributes alone (positive units, rate in [0, 1)).
- `infer(attrs, in_types) -> out_types`: the shape rule; raises on impossible inputs.
- `params(attrs, in_types) -> [ParamSpec]`: parameters in Keras' order and layouts.
- `forward(attrs, params, xs, ctx) -> (ys, cache)` and, right under it,
  `backward(attrs, params, cache, dys) -> (dxs, grads)`: pure, float32 or float64 alike.
- `lower(attrs, params, xs, em) -> ys`: ONNX lowering through the exporter's emitter
  (`seqc.export.emitter.Emitter`); `ops` never imports onnx itself.
- `adapt(attrs, x) -> params` (optional): statistics learnt from data before training.
- `export_layout(attrs)`: which physical layout `lower` wants its inputs in (see LAYOUTS).
- `fold_affine(attrs, params, scale, shift)` / `fold_input_affine(...)` (optional): absorb
  `y * scale + shift` per output channel, or `x * scale + shift` per input channel, into the
  kind's own weights; `affine(attrs, params, in_type)` (optional): the kind is such an affine;
  `commutes_affine(...)` (optional): such an affine may move past the kind. The folding passes
  (seqc.ir.passes) use them.
- `loss_fusion(attrs, rank)` (optional): "softmax" (last axis) or "sigmoid" when the kind
  computes one, so fit fuses a following loss with it.
- `promotes_integers(attrs)` (optional): True when an integer input is cast to float32 first,
  as Keras' ops promote it against float32 weights (Dense); ops/_promote.py applies it.
- `inference_identity` (default False): True when the kind's inference forward returns its
  input unchanged and its lowering emits nothing (Dropout, noise, augmentation, Identity).
- Masks (Keras' timestep masks, bool (N, T)): `supports_masking`, `output_masked`,
  `compute_mask`, `lower_mask`; a forward reads its input's mask from `ctx.mask`.
- `examples` / `bad_examples`: picked up by the contract tests in tests/ops.
- Several inputs (the merge kinds): `multi_input = True` and `arity = (min, max or None)`.
  Their `infer`/`forward`/`lower` take one entry per input in `in_types`/`xs`, `backward`
  returns one dx per input, and the mask facets take one entry per input: `output_masked`
  a tuple of bools, `compute_mask`/`lower_mask` a list of masks (None where unmasked), and
  a forward reads `ctx.masks`. One-input kinds are unchanged.

Facets raise `DefinitionError(..., field=..., received=...)`; the caller adds file and layer.
Attribute parsing and the argument checks the kinds share (`positive_int`, `in_range`, ...)
are attrs.py's; base.py re-exports them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import DefinitionError, did_you_mean
from ..ir.types import ParamSpec, TensorType
from ._affine import fold_input_kernel  # noqa: F401 (the kinds import it from base.py)
from .attrs import (  # noqa: F401 (the kinds import these from base.py as well)
    FLOAT32_RANGE,
    FrozenDict,
    Initializer,
    UInt64,
    coerce,
    expect_rank,
    float32_value,
    freeze,
    in_range,
    known_axes,
    parse_attrs,
    positive_int,
    to_json,
)
from .emitter_api import Emitter

Array = np.ndarray


@dataclass
class RunContext:
    """What a forward pass may depend on besides its inputs."""

    training: bool = False
    rng: np.random.Generator | None = None
    # Set by the executor when no backward will follow, so ops may skip building caches.
    need_grad: bool = True
    # Set per node by the executor: False when the node reads only the graph input, whose
    # gradient nobody needs, so backward may skip the dx computation (for the first Dense of an
    # MLP that is a third of its backward FLOPs). Ops that honour it return None for dx.
    input_grad: bool = True
    # Set per node by the executor: the node's name (for `update`) and whether the layer is
    # trainable (Keras runs a non-trainable BatchNormalization in inference mode).
    scope: str = ""
    node_trainable: bool = True
    # Non-trainable state a training forward computed (BatchNormalization's moving statistics),
    # keyed by parameter table key; the fit loop writes them into the model after the step.
    updates: dict[str, Array] = field(default_factory=dict)
    # Set per node by the executor: the timestep mask (bool (N, T)) its input carries, or None.
    mask: Array | None = None
    # Set per node by the executor: one mask (or None) per input, for `multi_input` kinds.
    masks: list[Array | None] = field(default_factory=list)
    # The carried states of stateful recurrent layers (Keras' stateful=True), keyed by node
    # scope: a layer starts from its entry and writes its final state back. None (the
    # default: validation, export checks, a stateless model) means every call starts from zero.
    states: dict[str, tuple[Array, ...]] | None = None

    def update(self, local_name: str, value: Array) -> None:
        """Record a new value for the current node's parameter `local_name`."""
        key = f"{self.scope}/{local_name}" if self.scope else local_name
        self.updates[key] = value


@dataclass(frozen=True)
class Example:
    """A valid configuration with the per-sample input shape it is tested on; a kind with
    several inputs gives `input_shapes` (one per input, as Keras' run_layer_test does) and
    leaves `input_shape`, which then answers the first."""

    config: dict
    input_shape: tuple[int | None, ...] | None = None
    input_dtype: str = "float32"
    # Range the contract tests draw inputs from (ids for Embedding, away-from-kink values...).
    input_range: tuple[float, float] = (-2.0, 2.0)
    # Some kinds (Dropout) are random in training; gradcheck then runs in inference mode.
    training: bool = True
    # Per-sample valid lengths of a timestep mask the input carries (cycled over the batch),
    # or None for no mask. The contract tests feed it as `ctx.mask` and, for the lowering,
    # put a Masking layer in front with the masked steps set to 0.
    mask_lengths: tuple[int, ...] | None = None
    # False for a seqc extension Keras has no argument for (LSTM recurrent_bias): the Keras
    # parity tests leave it out; its own test compares with the framework it comes from.
    keras: bool = True
    # Several inputs: one per-sample shape each. With `mask_lengths`, `masked_inputs` says
    # which inputs carry that mask (default: all of rank >= 2 per sample).
    input_shapes: tuple[tuple[int | None, ...], ...] | None = None
    masked_inputs: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        _first_shape(self)

    @property
    def shapes(self) -> tuple[tuple[int | None, ...], ...]:
        """Every input's per-sample shape (one entry for a one-input kind)."""
        return self.input_shapes or (self.input_shape,)


@dataclass(frozen=True)
class BadExample:
    """An invalid configuration (or input) that must raise DefinitionError with `Received:`."""

    config: dict
    input_shape: tuple[int | None, ...] | None = None
    match: str = ""
    input_shapes: tuple[tuple[int | None, ...], ...] | None = None

    def __post_init__(self) -> None:
        _first_shape(self)

    @property
    def shapes(self) -> tuple[tuple[int | None, ...], ...]:
        return self.input_shapes or (self.input_shape,)


def _first_shape(ex: Any) -> None:
    if ex.input_shapes is not None:
        object.__setattr__(ex, "input_shapes", tuple(tuple(s) for s in ex.input_shapes))
        if ex.input_shape is None:
            object.__setattr__(ex, "input_shape", ex.input_shapes[0])
    elif ex.input_shape is None:
        raise TypeError("an example needs input_shape or input_shapes")


# How the exporter feeds a kind's `lower` (tensors are channels-last in the IR; ONNX's spatial
# operators are channels-first). The exporter tracks each ONNX value's physical layout and
# inserts a conversion only where a consumer needs one, so a conv stack has one Transpose at
# the input and none inside:
# - "canonical": inputs arrive in the IR's own (Keras) layout; outputs are in it too. Safe
#   default for any kind.
# - "agnostic": elementwise kinds; inputs arrive in whatever layout they have, and the
#   outputs are declared to have the same one.
# - "channels_first": inputs of rank >= 3 arrive as (N, C, *spatial) (rank 2 as they are); the
#   lowering must produce (N, C, *spatial) outputs for rank >= 3 results. `em.type_of` still
#   answers the IR's (channels-last) type.
# - "custom": inputs arrive as they are; the lowering asks `em.layout_of(x)`, converts with
#   `em.canonical(x)` / `em.channels_first(x)` and declares outputs with `em.set_layout`.
LAYOUTS = ("canonical", "agnostic", "channels_first", "custom")


class OpDef:
    kind: ClassVar[str]
    Attrs: ClassVar[type]
    # Alternative argument names, e.g. LeakyReLU's `alpha` for `negative_slope`.
    aliases: ClassVar[dict[str, str]] = {}
    # True when a Keras `activation=` argument becomes a separate Activation node.
    splits_activation: ClassVar[bool] = False
    # Where `activation` sits among Keras' positional arguments (Dense: 1, after units;
    # Conv2D: 7, after groups), for seqc.layers' positional constructors.
    activation_index: ClassVar[int] = 1
    category: ClassVar[str] = "core"
    summary: ClassVar[str] = ""
    examples: ClassVar[list[Example]] = []
    bad_examples: ClassVar[list[BadExample]] = []
    layout: ClassVar[str] = "canonical"
    # Kinds taking several inputs (the merge layers): see the module docstring. `arity` is
    # (fewest, most or None) inputs; the builder checks it, naming the node.
    multi_input: ClassVar[bool] = False
    arity: ClassVar[tuple[int, int | None]] = (1, 1)

    # Keras' `<x>_regularizer` / `<x>_constraint` arguments of the kind, as {x: the local
    # parameter it acts on}: Dense {"kernel": "kernel", "bias": "bias"}. They are training-only
    # settings kept beside the attrs (Node.training_args), not attrs; every kind but
    # InputLayer also takes Keras' base-Layer `activity_regularizer` (seqc.ir.weight_args).
    weight_args: ClassVar[dict[str, str]] = {}
    # Wrappers: {attr holding a wrapped layer: (prefix of its parameters, the attr whose
    # layer it copies when left out, or None)}; the wrapped layer's own `weight_args` apply.
    wrapped_weights: ClassVar[dict[str, tuple[str, str | None]]] = {}
    # Optional facet: `activity_penalty(attrs) -> regularizer spec | None`, for a kind whose
    # own arguments are an activity regularizer (ActivityRegularization's l1, l2).
    activity_penalty: ClassVar[Callable[..., Any] | None] = None

    # ---- masks (Keras semantics) ----
    # A value may carry a timestep mask, bool (N, T), True = a valid step. Embedding(mask_zero)
    # and Masking create one; a kind with `supports_masking` passes it on unchanged (Dense, the
    # activations, Dropout); a recurrent layer reads it and passes it on only with
    # return_sequences; any other kind drops it, as Keras does. Kinds Keras lets read a mask in
    # ways seqc does not implement raise from `output_masked` instead of silently differing.
    supports_masking: ClassVar[bool] = False

    def output_masked(self, attrs: Any, in_masked: bool) -> bool:
        """Whether the output carries a mask, given whether the input does (build time)."""
        return in_masked and self.supports_masking

    def refuse_mask(self, in_masked: bool, why: str, hint: str | None = None) -> bool:
        """For `output_masked` of kinds whose Keras call reads a mask in a way seqc does not
        implement: an error when a mask arrives, never a silently different result."""
        if in_masked:
            raise DefinitionError(
                f"{self.kind} receives a timestep mask (from Embedding(mask_zero=True) or "
                f"Masking upstream), and {why}", field="input", received="a masked input",
                hint=hint or "put the layer before the masking layer, or after a layer that "
                             "consumes the mask (an RNN without return_sequences)")
        return False

    def compute_mask(self, attrs: Any, xs: list[Array], mask: Array | None) -> Array | None:
        """The output's mask (NumPy), called only when `output_masked` said yes."""
        return mask

    def lower_mask(self, attrs: Any, xs: list[str], mask: str | None, em: Emitter) -> str | None:
        """The output mask's ONNX value (bool (N, T)), called only when `output_masked` said
        yes; `xs` are the node's inputs in the IR's layout, `mask` the input mask's value."""
        return mask

    def export_layout(self, attrs: Any) -> str:
        """The layout mode of `lower` for these attrs (one of LAYOUTS); default `layout`."""
        return self.layout

    def check(self, attrs: Any) -> None:
        """Constraints on attributes alone. Default: none beyond their types."""

    def infer(self, attrs: Any, in_types: list[TensorType]) -> list[TensorType]:
        raise NotImplementedError

    def params(self, attrs: Any, in_types: list[TensorType]) -> list[ParamSpec]:
        return []

    def forward(
        self, attrs: Any, params: dict[str, Array], xs: list[Array], ctx: RunContext
    ) -> tuple[list[Array], Any]:
        raise NotImplementedError

    def backward(
        self, attrs: Any, params: dict[str, Array], cache: Any, dys: list[Array]
    ) -> tuple[list[Array], dict[str, Array]]:
        raise NotImplementedError

    def lower(self, attrs: Any, params: dict[str, Array], xs: list[str], em: Emitter) -> list[str]:
        raise NotImplementedError

    # Optional facet: kinds with state learnt from data before training (Normalization) return
    # their non-trainable parameters computed from the layer's input batch `x`; the fit loop
    # calls it once, on the training data, before the first epoch.
    adapt: ClassVar[Callable[..., dict[str, Array]] | None] = None

    # Optional facet: `fold_affine(attrs, params, scale, shift) -> (attrs, params) | None`.
    # Returns attrs and parameters computing `y * scale + shift` (per output channel, the last
    # axis) in place of `y`, or None when these attrs cannot absorb it. Kinds whose output is
    # linear in their weights (Dense, the convolutions) define it.
    fold_affine: ClassVar[Callable[..., Any] | None] = None

    # Optional facet: `fold_input_affine(attrs, params, scale, shift) -> (attrs, params) | None`,
    # the same on the input side: the kind's output for `x * scale + shift` (per input channel)
    # from raw `x`. Kinds linear in their input (Dense, convolutions, recurrent) define it.
    fold_input_affine: ClassVar[Callable[..., Any] | None] = None

    # Optional facet: `affine(attrs, params, in_type) -> (scale, shift)`. Kinds computing
    # `x * scale + shift` elementwise at inference (Rescaling, (Batch)Normalization) return both
    # as float64 arrays broadcasting against the input (batch axis included) for the folding.
    affine: ClassVar[Callable[..., Any] | None] = None

    # Parameters Keras keeps in the layer's config, not among its weights (Discretization's
    # adapted `bin_boundaries`): a `.keras` file seqc writes carries them as config arguments.
    config_params: ClassVar[tuple[str, ...]] = ()

    # Optional facet: `commutes_affine(attrs, in_type, scale, shift) -> bool`. Whether the
    # kind's inference output for `x * scale + shift` (per channel, the last axis) is its output
    # for x scaled and shifted alike (resampling whose weights sum to 1), so the folding pass
    # may move a Rescaling or Normalization past it. `inference_identity` kinds commute anyway.
    commutes_affine: ClassVar[Callable[..., bool] | None] = None

    # True when the kind's inference output is its input unchanged (the same object) and its
    # lowering emits nothing (Dropout, noise, augmentation at inference, Identity). Runtimes and
    # passes read it; tests/ops/test_contract.py checks it both ways.
    inference_identity: ClassVar[bool] = False

    # Optional facet: `id_count(attrs) -> int`. Kinds whose input indexes a table (Embedding)
    # give its size: valid ids are [0, count). The exporter records it for the ONNX model's
    # input (metadata `seqc.token_ids`), since onnxruntime's Gather wraps negative ids.
    id_count: ClassVar[Callable[..., int] | None] = None

    # Optional facet (see the module docstring): a node ending the model whose kind answers
    # here starts backward at its input with the loss's fused gradient (training/loss_heads).
    loss_fusion: ClassVar[Callable[..., str | None] | None] = None
    # Optional facet (see the module docstring): an integer input is cast to float32 first.
    promotes_integers: ClassVar[Callable[..., bool] | None] = None

    # ---- generic attribute handling (shared by every kind) ----

    def parse_attrs(self, config: dict) -> Any:
        """Keras-style config dict -> canonical, fully defaulted Attrs. Unknown keys are errors."""
        return parse_attrs(self.Attrs, config, aliases=self.aliases)

    def attrs_to_config(self, attrs: Any) -> dict:
        return {f.name: to_json(getattr(attrs, f.name)) for f in dataclasses.fields(attrs)}


class PassThrough(OpDef):
    """A kind whose value is its input, in training and at inference (Identity,
    ActivityRegularization, InputLayer): y = x, dy passes back, nothing lowered."""

    inference_identity = True
    layout = "agnostic"

    def infer(self, attrs: Any, in_types: list[TensorType]) -> list[TensorType]:
        return [in_types[0]]

    def forward(self, attrs, params, xs, ctx):
        return [xs[0]], None

    def backward(self, attrs, params, cache, dys):
        return [dys[0]], {}

    def lower(self, attrs, params, xs, em):
        return [xs[0]]


REGISTRY: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: add one instance of the kind to REGISTRY under its Keras name."""
    if cls.kind in REGISTRY:
        raise RuntimeError(f"layer kind {cls.kind} registered twice")
    REGISTRY[cls.kind] = cls()
    return cls


# Other names Keras 3 exports for the same layer classes (keras.layers.MaxPool2D is
# MaxPooling2D); configs and specs may use either, the IR always holds the canonical kind.
KIND_ALIASES = {
    **{f"MaxPool{d}D": f"MaxPooling{d}D" for d in (1, 2, 3)},
    **{f"AvgPool{d}D": f"AveragePooling{d}D" for d in (1, 2, 3)},
    **{f"GlobalMaxPool{d}D": f"GlobalMaxPooling{d}D" for d in (1, 2, 3)},
    **{f"GlobalAvgPool{d}D": f"GlobalAveragePooling{d}D" for d in (1, 2, 3)},
    **{f"Convolution{d}D": f"Conv{d}D" for d in (1, 2, 3)},
    **{f"Convolution{d}DTranspose": f"Conv{d}DTranspose" for d in (1, 2, 3)},
    **{f"SeparableConvolution{d}D": f"SeparableConv{d}D" for d in (1, 2)},
}


# Keras layers that take string tensors. seqc's tensors (and the ONNX models it exports for
# plain onnxruntime) are numeric; string operators need onnxruntime-extensions, an extra
# runtime library production would have to load. So they are refused with what to do instead
# (docs/keras.md, "String inputs").
STRING_LAYERS = {
    "StringLookup": "maps strings to vocabulary indices",
    "TextVectorization": "splits and looks up text",
}


def string_layer_error(kind: str) -> DefinitionError | None:
    """The refusal of a Keras layer that takes strings, or None for any other kind."""
    if kind not in STRING_LAYERS:
        return None
    return DefinitionError(
        f"{kind} {STRING_LAYERS[kind]}: it takes string tensors, and seqc models (and the ONNX "
        "models they export) take numbers", field="type", received=f"type={kind!r}",
        hint=STRING_HINT)


STRING_HINT = ("tokenize before seqc and feed integer ids: map the strings to ids in the data "
               "pipeline (e.g. with the adapted layer's get_vocabulary()), start the model at "
               "the ids (Embedding for ids in [0, n), IntegerLookup for any integer vocabulary)")


def get_op(kind: str) -> OpDef:
    refusal = string_layer_error(kind)
    if refusal is not None:
        raise refusal
    try:
        return REGISTRY[KIND_ALIASES.get(kind, kind)]
    except KeyError:
        raise DefinitionError(
            f"unknown layer type '{kind}'",
            field="type",
            received=repr(kind),
            hint=did_you_mean(kind, REGISTRY) or "run `seqc ops` for the supported layer types",
        ) from None


class LayerSpec:
    """Annotation for a wrapped layer (Bidirectional's `layer`, TimeDistributed's `layer`):
    Keras' serialized form `{"class_name": K, "config": {...}}` or the spec form
    `{"type": K, ...arguments}`. Normalised to `{"class_name": canonical kind, "config":
    fully defaulted arguments}`, so two spellings of one layer give equal attrs. Keras'
    bookkeeping keys (name, trainable, dtype, module, registered_name) are dropped."""

    description = "a layer: {\"class_name\": K, \"config\": {...}} or {\"type\": K, ...}"
    IGNORED = ("name", "trainable", "dtype", "module", "registered_name", "build_config")

    @staticmethod
    def coerce(value: Any, name: str) -> Any:
        if isinstance(value, dict) and isinstance(value.get("class_name"), str):
            kind, config = value["class_name"], value.get("config") or {}
        elif isinstance(value, dict) and isinstance(value.get("type"), str):
            kind = value["type"]
            config = {k: v for k, v in value.items() if k != "type"}
        else:
            raise DefinitionError(f"'{name}' must be {LayerSpec.description}", field=name,
                                  received=f"{name}={value!r}")
        if not isinstance(config, dict):
            raise DefinitionError(f"'{name}.config' must be an object", field=f"{name}.config",
                                  received=f"config={config!r}")
        config = {k: v for k, v in config.items() if k not in LayerSpec.IGNORED}
        try:
            op = get_op(kind)
            attrs = op.parse_attrs(config)
            op.check(attrs)
        except DefinitionError as e:
            e.field = f"{name}.{e.field}" if e.field else name
            raise
        return freeze({"class_name": op.kind, "config": op.attrs_to_config(attrs)})


def wrapped(spec: Any) -> tuple[OpDef, Any]:
    """The (kind, attrs) of a LayerSpec value."""
    op = REGISTRY[spec["class_name"]]
    return op, op.parse_attrs(dict(spec["config"]))

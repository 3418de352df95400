"""Shared engine of the recurrent kinds (SimpleRNN, LSTM, GRU): Keras 3 attributes, the shape
rule, parameters, masks, dropout and the time loop around each kind's cell maths (the step
machinery it runs on, activations, masked matmuls and step masks, is in _recurrent_steps.py).

Input (N, T, F) -> (N, T, units) with return_sequences, else (N, units); with return_state
the final state follows as outputs 1 (h) and 2 (an LSTM's c), each (N, units), and inputs
after the sequence are the initial state (Keras' initial_state, same order), which gradients
reach. ONNX: native RNN / LSTM / GRU through `_recurrent_onnx.lower_recurrent` (Y_h, Y_c,
initial_h, initial_c). Parameters are Keras' own: `kernel`
(F, k*units), `recurrent_kernel` (units, k*units), `bias`; gates in Keras' order.

How the NumPy kernels run (the cells in simple_rnn.py, lstm.py, gru.py):
- time-major internally: the input, with a column of ones, is projected for all steps with
  one matmul ([x, 1] @ [kernel; bias]), and only the recurrent matmul runs per step, writing
  into preallocated (T, N, ...) buffers with `out=`;
- a kind may reorder its gate columns internally (LSTM: o, i, f, c, so the three sigmoid gates
  are one block; GRU: h, z, r) and lays a step's gates out as (gates, N, units) blocks
  (NumPy's elementwise kernels run 2-3x slower on column slices of an (N, k*units) row);
  gradients are put back in Keras' order at the end;
- sigmoid is computed as 0.5 * tanh(z / 2) + 0.5 with the 1/2 folded into the weights of the
  sigmoid columns: one tanh call over all gates, no overflow for large |z|;
- backward keeps one loop over steps; the activations' derivatives, and every factor of the
  gate gradients that does not depend on the recursion, are computed for all steps at once
  before it (masks folded in: a masked step gets zero gate gradients and passes dh on), and
  the weight gradients are single matmuls over the stacked steps.
Masks (Keras semantics): a masked step keeps the previous state, so its output is the previous
output (zeros before the first valid step), or zero with zero_output_for_mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._promote import always as promote_always
from ._recurrent_steps import Act, MaskedMatmul, Steps, check_activation
from .activation import ActivationSpec
from .base import Initializer, OpDef, ParamSpec, fold_input_kernel, in_range, positive_int
from .dropout import inverted_mask

Array = np.ndarray


# ---- attributes: Keras 3 arguments in Keras' order (regularizers and constraints are
# training-only arguments kept beside the attrs, see OpDef.weight_args) ----

@dataclass(frozen=True)
class SimpleRNNAttrs:
    units: int
    activation: ActivationSpec = "tanh"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False  # accepted; seqc never unrolls
    seed: int | None = None
    zero_output_for_mask: bool = False  # Keras' RNN argument (Bidirectional sets it)
    # seqc's, not Keras': PyTorch's b_hh beside b_ih (as LSTMAttrs.recurrent_bias), so an
    # nn.RNN keeps its parameters; `bias` is then (2, units)
    recurrent_bias: bool = False


@dataclass(frozen=True)
class LSTMAttrs:
    units: int
    activation: ActivationSpec = "tanh"
    recurrent_activation: ActivationSpec = "sigmoid"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    unit_forget_bias: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int | None = None
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False
    use_cudnn: Literal["auto", True, False] = "auto"  # accepted; no effect on CPU maths
    zero_output_for_mask: bool = False
    # seqc's, not Keras': a second bias row on the recurrent side, PyTorch's b_hh beside
    # b_ih, so a PyTorch LSTM keeps its parameters and its training (each row gets the
    # gates' bias gradient). `bias` is then (2, 4 * units); ONNX's B is exactly [Wb; Rb].
    recurrent_bias: bool = False


@dataclass(frozen=True)
class GRUAttrs:
    units: int
    activation: ActivationSpec = "tanh"
    recurrent_activation: ActivationSpec = "sigmoid"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int | None = None
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False
    reset_after: bool = True
    use_cudnn: Literal["auto", True, False] = "auto"
    zero_output_for_mask: bool = False


# ---- the base kind ----

class RecurrentBase(OpDef):
    weight_args = {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}
    category = "recurrent"
    layout = "canonical"
    promotes_integers = promote_always  # Keras' input projection makes ints float32
    gates: int = 1  # k: kernel is (F, k * units)
    # Internal gate order (indices into Keras' order); identity unless a kind reorders.
    gate_order: tuple[int, ...] = (0,)
    # Internal gates rec_gate_start .. rec_gate_start + rec_gates - 1 use recurrent_activation
    # (the rest use activation).
    rec_gates: int = 0
    rec_gate_start: int = 0
    has_recurrent_activation = True
    # The state tensors (LSTM: h and c): what return_state adds to the outputs and what
    # initial_state gives as extra inputs, after the sequence (Node.inputs[1:]).
    n_states: int = 1
    arity = (1, 2)

    # -- attributes and shapes --

    def check(self, a: Any) -> None:
        positive_int(a, "units")
        for name in ("dropout", "recurrent_dropout"):
            in_range(a, name, 0.0, 1.0)
        check_activation(a, "activation")
        if self.has_recurrent_activation:
            check_activation(a, "recurrent_activation")

    def infer(self, a: Any, in_types: list[TensorType]) -> list[TensorType]:
        x, states = in_types[0], in_types[1:]
        if x.rank != 3 or x.shape[2] is None:
            raise DefinitionError(
                f"{self.kind} needs an input of shape (batch, timesteps, features) with a "
                "known number of features", field="input", received=f"input {x}",
                hint=("if a recurrent layer feeds it, give that layer return_sequences=True; "
                      "otherwise add a Reshape to (timesteps, features) before it, e.g. [T, 1] "
                      "for a univariate series, or remove the Flatten in front of it")
                if x.rank == 2 else "add a Reshape to (timesteps, features) before it"
                if x.rank != 3 else "give the input a fixed last dimension")
        n, t, _ = x.shape
        if a.stateful and n is None:
            # Keras: "When using `stateful=True` in a RNN, the batch size must be static."
            raise DefinitionError(
                f"{self.kind}(stateful=True) needs a fixed batch size: its state holds one row "
                "per sample of a batch", field="stateful", received=f"input {x}",
                hint="give the model's input a batch size: batch_input_shape=(batch, T, F) or "
                     "keras.Input(batch_shape=(batch, T, F))")
        self._check_initial_state(a, x, states)
        out = [x.with_shape((n, t, a.units) if a.return_sequences else (n, a.units))]
        # return_state: the final state after the output, Keras' order ([h, c] for an LSTM)
        return out + [x.with_shape((n, a.units))] * (self.n_states if a.return_state else 0)

    def _check_initial_state(self, a: Any, x: TensorType, states: list[TensorType]) -> None:
        """The initial_state inputs (Keras' `layer(x, initial_state=[...])`): none, or one
        (N, units) tensor per state, in Keras' order."""
        if not states:
            return
        names = "[h, c]" if self.n_states == 2 else "[h]"
        got = ", ".join(str(t) for t in states)
        if len(states) != self.n_states:
            raise DefinitionError(
                f"{self.kind}'s initial_state is {names}: {self.n_states} tensor(s), and "
                f"{len(states)} are given", field="initial_state", received=f"initial_state {got}")
        if a.stateful:
            raise DefinitionError(
                f"{self.kind}(stateful=True) with an initial_state is not supported by seqc",
                field="initial_state", received="stateful=True and initial_state",
                hint="a stateful layer starts from the state it carries; drop initial_state "
                     "or stateful")
        for st in states:
            if st.rank != 2 or st.shape[1] != a.units or st.dtype != x.dtype:
                raise DefinitionError(
                    f"{self.kind}'s initial_state tensors are (batch, units={a.units}) of the "
                    f"input's dtype {x.dtype}", field="initial_state",
                    received=f"initial_state {got}")
            if None not in (st.shape[0], x.shape[0]) and st.shape[0] != x.shape[0]:
                raise DefinitionError(
                    f"{self.kind}'s initial_state has another batch size than its input",
                    field="initial_state", received=f"input {x}, initial_state {got}")

    def bias_shape(self, a: Any) -> tuple[int, ...]:
        # recurrent_bias (LSTM, SimpleRNN): PyTorch's b_ih and b_hh as two rows
        k = self.gates * a.units
        return (2, k) if getattr(a, "recurrent_bias", False) else (k,)

    def bias_initializer(self, a: Any) -> Any:
        return a.bias_initializer

    def params(self, a: Any, in_types: list[TensorType]) -> list[ParamSpec]:
        f, k = in_types[0].shape[2], self.gates * a.units
        specs = [ParamSpec("kernel", (f, k), a.kernel_initializer),
                 ParamSpec("recurrent_kernel", (a.units, k), a.recurrent_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", self.bias_shape(a), self.bias_initializer(a)))
        return specs

    def output_masked(self, a: Any, in_masked: bool) -> bool:
        return in_masked and a.return_sequences

    def fold_input_affine(self, a, params, scale, shift):
        # Every step projects its input through `kernel`: the affine folds into that
        # projection and its (input-side) bias, whatever the cell does after it.
        return fold_input_kernel(a, params, scale, shift, self.bias_shape(a))

    # -- cell hooks (each kind) --

    def split_bias(self, a: Any, b: Array | None, k: int) -> tuple[Array | None, Array | None]:
        """(input-side bias (k,), recurrent-side bias (k,) or None), Keras gate order. The
        two rows of a recurrent_bias are seen summed, as PyTorch's b_ih + b_hh."""
        if b is not None and getattr(a, "recurrent_bias", False):
            return b[0] + b[1], None
        return b, None

    def join_bias(self, a: Any, db_in: Array, db_rec: Array | None) -> Array:
        # each row of a recurrent_bias gets the whole bias gradient, as b_ih and b_hh do
        return np.stack([db_in, db_in]) if getattr(a, "recurrent_bias", False) else db_in

    def scan(self, a, acts, xp, rec, b_rec, s: Steps):  # pragma: no cover - per kind
        """Run the steps: xp (T, N, k*units) input pre-activations (bias included); returns
        (hs (T + 1, N, units) with hs[0] = 0, tape)."""
        raise NotImplementedError

    def final_state(self, hs: Array, tape: Any) -> tuple[Array, ...]:
        """The state after the last step, Keras' order (LSTM overrides: (h, c))."""
        return (hs[-1].copy(),)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):  # pragma: no cover
        """(dxp (T, N, k*units), dW_rec (units, k*units), db_rec (k*units,) or None): dxp is
        the gradient of the unscaled pre-activations; dhs the output gradient per step
        (T, N, units) or None, dh_last the last step's (or None)."""
        raise NotImplementedError

    # -- the engine --

    def _perm(self, units: int) -> Array | None:
        if self.gate_order == tuple(range(self.gates)):
            return None
        return np.concatenate([np.arange(g * units, (g + 1) * units) for g in self.gate_order])

    def _acts(self, a: Any) -> list[Act]:
        act = Act(a.activation)
        if not self.has_recurrent_activation:
            return [act]
        return [Act(a.recurrent_activation, prescaled=True), act]

    def _scale(self, a: Any, acts: list[Act], dtype) -> Array | None:
        u = a.units
        if not self.has_recurrent_activation or acts[0].scale == 1.0:
            return None
        s = np.ones(self.gates * u, dtype)
        s[self.rec_gate_start * u:(self.rec_gate_start + self.rec_gates) * u] = acts[0].scale
        return s

    def _dropout_masks(self, a, ctx, n, f, dtype):
        """Keras: one mask per call shared by every step; per gate when recurrent_dropout > 0
        for LSTM/GRU (implementation 1), one for all gates otherwise."""
        if not ctx.training:
            return None, None
        per_gate = self.gates > 1 and a.recurrent_dropout > 0
        lead = (self.gates,) if per_gate else ()
        dm = rm = None
        if 0 < a.dropout < 1:
            dm = inverted_mask(ctx, a.seed, (*lead, n, f), a.dropout, dtype)
        if 0 < a.recurrent_dropout < 1:
            rm = inverted_mask(ctx, a.seed, (*lead, n, a.units), a.recurrent_dropout, dtype)
        if per_gate and self._perm(a.units) is not None:
            order = list(self.gate_order)
            dm = None if dm is None else dm[order]
            rm = None if rm is None else rm[order]
        return dm, rm

    def _weights(self, a: Any, params: dict, f: int, dtype) -> tuple[Array, Array, Array | None]:
        """(w_in (F + 1, k): the kernel with the input-side bias as its last row, w_rec,
        recurrent-side bias or None), in the internal gate order, unscaled."""
        k = self.gates * a.units
        perm = self._perm(a.units)
        cols = slice(None) if perm is None else perm
        b_in, b_rec = self.split_bias(a, params.get("bias") if a.use_bias else None, k)
        w_in = np.empty((f + 1, k), dtype)
        w_in[:f] = params["kernel"][:, cols]
        w_in[f] = 0 if b_in is None else b_in[cols]
        return (w_in, params["recurrent_kernel"][:, cols],
                None if b_rec is None else b_rec[cols])

    def forward(self, a, params, xs, ctx):
        x, init_in = xs[0], xs[1:]
        n, t, f = x.shape
        dtype = x.dtype
        if t == 0:
            raise DefinitionError(f"{self.kind} needs at least one timestep", field="input",
                                  received=f"input shape {x.shape}")
        mask = ctx.mask
        if a.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        # [x, 1], time-major (T, N, F + 1): one matmul projects every step and adds the
        # input-side bias, and backward gets the kernel and bias gradients from one matmul.
        xa = np.empty((t, n, f + 1), dtype)
        xa[..., :f] = x.transpose(1, 0, 2)
        xa[..., f] = 1
        valid = None if mask is None else np.ascontiguousarray(mask.T)[:, :, None]
        init = self._initial(init_in, n, dtype) if init_in else self._carried(a, ctx, n, dtype)
        s = Steps.of(valid, dtype, ctx.need_grad, a.units, init)

        acts = self._acts(a)
        scale = self._scale(a, acts, dtype)
        w_in, w_rec, b_rec = self._weights(a, params, f, dtype)
        dm, rm = self._dropout_masks(a, ctx, n, f, dtype)
        if dm is not None:  # the bias column is never dropped
            dm = np.concatenate([dm, np.ones((*dm.shape[:-1], 1), dtype)], axis=-1)
        if scale is not None:
            xp = MaskedMatmul(w_in * scale, dm).fwd(xa)  # (T, N, k*units), bias included
            rec = MaskedMatmul(w_rec * scale, rm)
            b_rec = None if b_rec is None else b_rec * scale
        else:
            xp = MaskedMatmul(w_in, dm).fwd(xa)
            rec = MaskedMatmul(w_rec, rm)
        hs, tape = self.scan(a, acts, xp, rec, b_rec, s)
        final = self.final_state(hs, tape) if a.return_state or a.stateful else ()
        if a.stateful and ctx.states is not None:
            ctx.states[ctx.scope] = final  # the next batch starts here

        out = hs[1:] if a.return_sequences else hs[t]
        if a.zero_output_for_mask and valid is not None:
            out = out * (valid if a.return_sequences else valid[-1])
        if init is not None and valid is not None:
            seen = np.logical_or.accumulate(valid, axis=0)
            if not seen.all():
                s.seen = seen.astype(dtype)
                out = out * (s.seen if a.return_sequences else s.seen[-1])
        y = np.ascontiguousarray(out.transpose(1, 0, 2)) if a.return_sequences else out.copy()
        ys = [y, *(v.copy() for v in final)] if a.return_state else [y]
        if not ctx.need_grad:
            return ys, None
        s.init_grad = bool(init_in)
        return ys, (xa, dm, rm, s, tape, ctx.input_grad, w_in, w_rec)

    def _initial(self, init_in: list[Array], n: int, dtype: Any) -> tuple[Array, ...]:
        """The initial_state inputs, checked against the batch (a DataError, never a
        broadcast)."""
        for v in init_in:
            if v.shape != (n, v.shape[-1]):
                from ..errors import DataError

                raise DataError(
                    f"{self.kind}'s initial_state has {v.shape[0]} rows; its input has {n}",
                    field="initial_state", received=f"initial_state of shape {v.shape}",
                    hint="give one state row per sample")
        return tuple(np.ascontiguousarray(v, dtype) for v in init_in)

    def _carried(self, a: Any, ctx: Any, n: int, dtype: Any) -> tuple[Array, ...] | None:
        """A stateful layer's carried state (None: zeros, the first batch or after a reset).
        Keras refuses a batch of another size than the state's."""
        if not a.stateful or ctx.states is None or ctx.scope not in ctx.states:
            return None
        st = ctx.states[ctx.scope]
        if st[0].shape[0] != n:
            from ..errors import DataError

            raise DataError(
                f"{self.kind}(stateful=True) carries a state of {st[0].shape[0]} rows; this "
                f"batch has {n}", field="batch_size", received=f"a batch of {n} rows",
                hint="a stateful model runs on batches of its fixed batch size only (Keras "
                     "refuses the others too); give a number of rows that the batch size "
                     "divides, or reset the states")
        return tuple(np.asarray(v, dtype) for v in st)

    def backward(self, a, params, cache, dys):
        xa, dm, rm, s, tape, input_grad, w_in, w_rec = cache
        dy, dstate = dys[0], list(dys[1:]) + [None] * (self.n_states - len(dys) + 1)
        u = a.units
        dtype = xa.dtype
        t_steps, n, f = xa.shape[0], xa.shape[1], xa.shape[-1] - 1
        if dy is None:  # only the returned state is read
            dy = np.zeros((n, t_steps, u) if a.return_sequences else (n, u), dtype)
        dhs, dh_last = None, None
        if a.return_sequences:
            dhs = dy.transpose(1, 0, 2).copy()  # a copy: the state gradient is added in
            if a.zero_output_for_mask and s.valid is not None:
                dhs *= s.valid
            if s.seen is not None:
                dhs *= s.seen
        else:
            dh_last = dy.astype(dtype, copy=True)
            if a.zero_output_for_mask and s.valid is not None:
                dh_last *= s.valid[-1]
            if s.seen is not None:
                dh_last *= s.seen[-1]
        if dstate[0] is not None:  # return_state's h is the last step's state
            (dh_last if dhs is None else dhs[-1])[...] += dstate[0]
        s.dc_last = dstate[1] if self.n_states == 2 else None
        dxp, drk, db_rec = self.scan_back(a, self._acts(a), tape, dhs, dh_last, s,
                                          MaskedMatmul(w_rec, rm))
        proj = MaskedMatmul(w_in, dm)
        dw_in = proj.wgrad(xa, dxp)  # (F + 1, k): kernel rows, then the input-side bias
        dx = None
        if input_grad:  # without the bias row: its column of the product is not needed
            px = MaskedMatmul(w_in[:f], None if dm is None else dm[..., :f])
            dx = px.bwd(dxp).transpose(1, 0, 2)  # (N, T, F)
            dx = np.ascontiguousarray(dx[:, ::-1] if a.go_backwards else dx)
        perm = self._perm(u)
        inv = slice(None) if perm is None else np.argsort(perm)
        grads = {"kernel": dw_in[:f, inv], "recurrent_kernel": drk[:, inv]}
        if a.use_bias:
            grads["bias"] = self.join_bias(a, dw_in[f, inv],
                                           None if db_rec is None else db_rec[inv])
        d_init = [np.ascontiguousarray(v, dtype=dtype) for v in s.d_init or ()]
        return [dx, *d_init], {k: np.ascontiguousarray(v, dtype=dtype) for k, v in grads.items()}

    def lower(self, a, params, xs, em):
        from ._recurrent_onnx import lower_recurrent  # noqa: PLC0415 - written alongside

        states: list[str] | None = [] if a.return_state else None
        y = lower_recurrent(em, xs[0], em.mask, [(self, a, params, "")], initial=xs[1:],
                            states=states)
        return [y, *(states or ())]

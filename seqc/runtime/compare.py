"""Comparing a runtime's outputs with a reference: `compare` (np.allclose's rule, with max abs
and rel errors and argmax agreement), `tolerance` by dtype and `model_precision` of an ONNX
model. Shared by validate.py, bisect.py and vectors.py.

Tolerances per dtype (`TOLERANCES`, used when atol/rtol are not given). A comparison takes
the loosest entry among the two outputs' dtypes and, for an ONNX runtime, the lowest float
precision inside the ONNX model (a float16 export with float32 I/O computes in float16):
- float32 (and float64): atol 1e-5, rtol 1e-4. Runtimes sum in different orders and fuse
  kernels; 1e-4 relative (~800 float32 ulps) absorbs that through deep stacks and long
  recurrences, while a changed weight or a wrong lowering moves outputs by far more. float64
  keeps float32's: the ONNX export stores float32 weights and the cross-check frameworks compute
  in float32, so a float64 output is no proof of float64 arithmetic.
- float16: atol 1e-2, rtol 1e-2, about 10 float16 machine epsilons (2**-10): every op rounds
  to 11 significant bits, so a few layers accumulate several ulps; atol covers outputs near 0
  (probabilities, cancelling sums) whose error follows the size of the summands.
- bfloat16: atol 8e-2, rtol 8e-2, the same 10 epsilons (2**-7).
- integer and bool outputs (class ids, masks): exact.
User-given atol/rtol replace the table's for every comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# (atol, rtol) by dtype; see the module docstring for why each.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-5, 1e-4),
    "float32": (1e-5, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (8e-2, 8e-2),
    "exact": (0.0, 0.0),  # integer and bool outputs
}
# From the most to the least precise: a comparison uses the last one involved.
_PRECISION = ("exact", "float64", "float32", "float16", "bfloat16")


def _dtype_key(d: Any) -> str | None:
    if d is None:
        return None
    name = d if isinstance(d, str) else np.dtype(d).name
    if name in TOLERANCES:
        return name
    return "exact" if name.startswith(("int", "uint", "bool")) else None


def tolerance(atol: float | None, rtol: float | None, *dtypes: Any) -> tuple[float, float]:
    """(atol, rtol) for comparing values of these dtypes (numpy dtypes or names such as
    "bfloat16"; None entries are skipped): the loosest TOLERANCES entry, replaced by the
    user's atol/rtol where given.

    >>> tolerance(None, None, np.float32, np.float16)
    (0.01, 0.01)
    """
    keys = [k for k in map(_dtype_key, dtypes) if k is not None]
    key = max(keys, key=_PRECISION.index) if keys else "float32"
    if key == "exact" and any(k != "exact" for k in keys):
        key = "float32"
    a, r = TOLERANCES[key]
    return (a if atol is None else float(atol)), (r if rtol is None else float(rtol))


def model_precision(proto: Any) -> str | None:
    """The least precise float type an ONNX model computes in, from its initializers, Cast
    targets and graph inputs/outputs ("float16" for a float16 export); None when none is."""
    from onnx import TensorProto

    names = {TensorProto.DOUBLE: "float64", TensorProto.FLOAT: "float32",
             TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16"}
    g = proto.graph
    types = {t.data_type for t in g.initializer}
    types |= {vi.type.tensor_type.elem_type for vi in (*g.input, *g.output)}
    types |= {a.i for n in g.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"}
    found = [names[t] for t in types if t in names]
    return max(found, key=_PRECISION.index) if found else None


def compare(y: np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> dict[str, Any]:
    """Errors of `y` against `ref`; ok as np.allclose (NaN only matches NaN)."""
    if y.shape != ref.shape:
        return {"ok": False, "error": f"output shape {y.shape} differs from the reference's "
                                      f"{ref.shape}"}
    y64, r64 = y.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(y64 - r64)
    both_nan = np.isnan(y64) & np.isnan(r64)
    diff = np.where(both_nan, 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only is a mismatch
    rel = diff / np.maximum(np.abs(r64), atol) if atol > 0 else diff / np.abs(r64)
    ok = bool(np.all(diff <= atol + rtol * np.abs(np.nan_to_num(r64))))
    agree = None
    if ref.ndim == 2 and ref.shape[1] > 1:
        agree = float(np.mean(np.argmax(y, axis=1) == np.argmax(ref, axis=1)))
    return {"ok": ok, "max_abs_error": float(diff.max(initial=0.0)),
            "max_rel_error": float(np.nan_to_num(rel, nan=0.0).max(initial=0.0)),
            "argmax_agreement": agree}

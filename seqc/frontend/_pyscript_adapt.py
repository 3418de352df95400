"""`layer.adapt(data)` on the data given: a Normalization's statistics, a Discretization's
bin boundaries and an IntegerLookup's vocabulary, computed as Keras' adapt computes them.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_values import Layer

# Layers whose `adapt(data)` the script reader runs, each with the argument that gives what
# adapt would learn (Keras refuses to adapt a layer given it).
ADAPTABLE = {"Normalization": "mean", "Discretization": "bin_boundaries",
             "IntegerLookup": "vocabulary"}


class AdaptStatements:
    """`adapt()` calls on preprocessing layers (a mixin of `pyscript.Reader`)."""

    def adapt(self, lay: Layer, args: list, kwargs: dict, node: ast.Call) -> Any:
        """`normalizer.adapt(train_features)` on bound data: Keras' statistics (mean and
        population variance over every axis but the layer's `axis`, and the row count) become
        the layer's adapted weights, as after Keras' adapt (fit does not adapt again)."""
        import numpy as np

        from ._pyscript_data import DataArr

        data = args[0] if args else kwargs.get("data")
        if not isinstance(data, DataArr) or data.values is None or data.values.size == 0:
            return self.refuse(lay, node, f"{self.seg(node)} computes the layer's statistics "
                                          "from data seqc does not have", field="adapt",
                               received=self.seg(node),
                               hint="give the data with --x X.npy (or --data FILE), or pass "
                                    + ("mean= and variance=" if lay.cls == "Normalization"
                                       else f"{ADAPTABLE[lay.cls]}=") + f" to {lay.cls}")
        if lay.cls != "Normalization":
            return self.adapt_lookup(lay, data.values, node)
        axis = lay.kwargs.get("axis", -1)
        keep = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        x = np.asarray(data.values, np.float64)
        if x.ndim == 1:
            x = x[:, None]  # Keras adapts a 1-D array as one feature per row
        if not all(isinstance(k, int) and -x.ndim <= k < x.ndim for k in keep):
            return self.refuse(lay, node, f"{self.seg(node)}: axis {axis} does not fit the "
                                          f"data of shape {list(x.shape)}", field="axis")
        keep = tuple(sorted(k % x.ndim for k in keep))
        red = tuple(i for i in range(x.ndim) if i not in keep)
        if not isinstance(lay.kwargs.get("name"), str):
            lay.kwargs["name"] = lay.auto_name  # to find its weights in the built model
        self.adapted[lay.kwargs["name"]] = {"mean": x.mean(axis=red), "variance": x.var(
            axis=red), "count": np.asarray(int(np.prod([x.shape[i] for i in red])))}
        self.note(node, f"{self.seg(node)}: the statistics of the {len(x)} rows given are the "
                        "layer's mean and variance")
        return None

    def adapt_lookup(self, lay: Layer, values: Any, node: ast.Call) -> Any:
        """`Discretization(num_bins=...).adapt(x)`: Keras' quantile boundaries become the
        layer's adapted weights. `IntegerLookup().adapt(x)`: Keras' vocabulary (and idf
        weights) become its arguments, as the size of the vocabulary shapes the model."""
        import dataclasses

        import numpy as np

        from ..errors import DataError, DefinitionError
        from ..ops import REGISTRY
        from ..ops.integer_lookup import adapted_vocabulary

        op = REGISTRY[lay.cls]
        fields = {f.name for f in dataclasses.fields(op.Attrs)}
        given = ADAPTABLE[lay.cls]
        if lay.kwargs.get(given) is not None:
            return self.refuse(lay, node, f"{self.seg(node)}: Keras cannot adapt a "
                                          f"{lay.cls} given `{given}`", field="adapt",
                               received=self.seg(node), hint=f"remove `{given}` or the adapt")
        try:
            attrs = op.parse_attrs({k: v for k, v in lay.kwargs.items()
                                    if k in fields and k != given})
            if lay.cls == "Discretization":
                op.check(attrs)
                learnt = op.adapt(attrs, np.asarray(values))
            else:
                lay.kwargs.update(adapted_vocabulary(attrs, values))
        except (DefinitionError, DataError) as e:
            return self.refuse(lay, node, f"{self.seg(node)}: {e.message}", field=e.field,
                               received=e.received, hint=e.hint)
        if lay.cls == "Discretization":
            if not isinstance(lay.kwargs.get("name"), str):
                lay.kwargs["name"] = lay.auto_name  # to find its weights in the built model
            self.adapted[lay.kwargs["name"]] = learnt
        self.note(node, f"{self.seg(node)}: adapted on the {len(values)} rows given, as Keras "
                        "adapts it")
        return None


"""Keras 2's HDF5 weight layout (`save_weights` `.h5`, a legacy `.h5`'s `model_weights`) read
into a seqc parameter table: attribute `layer_names`, one group per layer name, attribute
`weight_names` giving dataset paths in order; layers matched by name, else by position. The
layer plan and the dataset checks made before any data is read are _keras_h5.py's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from ._keras_h5 import PlannedLayer, check_dataset, child, listing, read_checked


def is_keras2(h5: Any) -> bool:
    return "layer_names" in h5.attrs


def _strings(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(values)
            .ravel().tolist()]


def _by_outer(plan: list[PlannedLayer]) -> list[PlannedLayer]:
    """A nested model's layers as one layer named after the model: Keras 2's layout keeps
    its weights in one group, in the nested model's weight order."""
    out: list[PlannedLayer] = []
    merged: dict[str, PlannedLayer] = {}
    for pl in plan:
        if pl.outer is None:
            out.append(pl)
            continue
        m = merged.get(pl.outer)
        if m is None:
            m = merged[pl.outer] = PlannedLayer(pl.outer, "Model", pl.outer, [("", [])], {})
            out.append(m)
        m.groups[0][1].extend(pl.param_keys)
        m.specs.update(pl.specs)
    return out


def read_keras2(h5py: Any, h5: Any, plan: list[PlannedLayer], *, file: str) -> dict:
    """Keras 2's layout: layers matched by name (Keras' own load_weights matches weighted
    layers by position; names agree whenever the weights and config come from one model, and
    position is the fallback when none of them do)."""
    plan = _by_outer(plan)
    layer_names = _strings(h5.attrs["layer_names"])
    weight_names: dict[str, list[str]] = {}
    for ln in layer_names:
        g = child(h5py, h5, ln, what="group", file=file, layer=f"layer '{ln}'")
        if g is None:
            raise DefinitionError(
                f"layer_names lists '{ln}' but the file has no such group", file=file,
                layer=f"layer '{ln}'", field="layer_names", received=f"groups {listing(h5)}")
        weight_names[ln] = _strings(g.attrs.get("weight_names", []))
    weighted_file = [ln for ln in layer_names if weight_names[ln]]
    weighted_plan = [pl for pl in plan if pl.param_keys]
    if all(pl.name in weight_names for pl in weighted_plan):
        pairs = [(pl, pl.name) for pl in weighted_plan]
    elif len(weighted_file) == len(weighted_plan):
        pairs = list(zip(weighted_plan, weighted_file))
    else:
        pl = next(p for p in weighted_plan if p.name not in weight_names)
        raise DefinitionError(
            "the weights file has no weights for this layer", file=file, layer=pl.label,
            field="layer_names", received=f"layer_names {layer_names}",
            hint="the weights come from a model with different layers")
    pending = []
    used = set()
    for pl, ln in pairs:
        used.add(ln)
        keys, wn = pl.param_keys, weight_names[ln]
        if len(wn) != len(keys):
            raise DefinitionError(
                f"the weights file holds {len(wn)} weights for this layer, expected "
                f"{len(keys)} ({', '.join(k.split('/', 1)[1] for k in keys)})", file=file,
                layer=pl.label, field=f"{ln}.weight_names", received=f"weight_names {wn}")
        g = h5[ln]
        for k, name in zip(keys, wn):
            local = k.split("/", 1)[1]
            ds = child(h5py, g, name, what="dataset", file=file, layer=pl.label)
            if ds is None:
                raise DefinitionError(
                    f"weight_names lists '{name}' but the group has no such dataset",
                    file=file, layer=pl.label, field=f"{ln}/{name}",
                    received=f"weight_names {wn}")
            check_dataset(h5py, ds, pl.specs[k], file=file, layer=pl.label,
                          weight=f"{local} ({ln}/{name})")
            pending.append((k, ds, pl.specs[k]))
    extra = [ln for ln in weighted_file if ln not in used]
    if extra:
        raise DefinitionError(
            "the weights file has weights for layers the model does not have", file=file,
            field="layer_names", received=f"layers {extra}",
            hint="the weights come from a model with more layers")
    return read_checked(pending, file)

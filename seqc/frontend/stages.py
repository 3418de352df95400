"""A definition's `stages`: training in order, each stage with the layers it freezes, its
compile and its fit (transfer learning: train, freeze the feature layers, compile, train
again). Checked here against the model; run by seqc.training.stages.

A stage with a `head` trains another model that shares this one's layers: the model with its
last `drop` layers replaced by the head's layers (the source model of transfer learning,
trained before its layers are reused, as Hands-On ML's `Sequential(model_A.layers[:-1])`).
Only the shared layers' weights carry over; the replaced layers keep their initial weights.
"""

from __future__ import annotations

from typing import Any

from ..errors import DefinitionError


def stage_section(doc: dict, graph: Any, compile_cfg: dict | None, fit: dict | None,
                  file: str, first_index: int, sequential: bool,
                  built: tuple | None = None) -> list[dict] | None:
    """The stages with defaults filled in and every frozen layer as its name: a stage's
    `compile` and `fit` default to the top-level ones, `frozen` to the layers whose own
    `trainable` is false. A frozen entry is a layer name, or (a sequential spec) a position
    in `layers`. The layers' own `trainable` is the state after the last stage (what summary
    counts), so the last stage freezes exactly those layers. `built` is (the layer docs the
    model was built from, its input type, the function that makes a layer's config), for a
    stage's `head`."""
    stages = doc.get("stages")
    if stages is None:
        return None
    names = list(dict.fromkeys(n.layer or n.name for n in graph.nodes))
    weighted = {n.layer or n.name for n in graph.nodes if n.params}
    own = sorted({n.layer or n.name for n in graph.nodes if not n.trainable} & weighted)
    out = []
    for i, st in enumerate(stages):
        where = f"stages[{i}]"
        frozen = []
        head = None
        if "head" in st:
            head = head_graph(st["head"], graph, built, file, where, sequential,
                              last=i == len(stages) - 1)
            names_i, weighted_i = head["names"], head["weighted"]
        else:
            names_i, weighted_i = names, weighted
        for j, ref in enumerate(st.get("frozen", [] if head else own)):
            if isinstance(ref, int) and not isinstance(ref, bool) and head:
                k = ref - first_index  # a position among the shared layers and the head's
                if not 0 <= k < len(names_i) or len(names_i) != len(
                        doc["layers"]) - first_index - head["drop"] + len(head["layers"]):
                    raise DefinitionError(
                        f"{where}.frozen[{j}]: {ref} is not a position in the head stage's "
                        "layers", file=file, field=f"{where}.frozen", received=repr(ref),
                        hint="name the layer (the name summary shows)")
                ref = names_i[k]
            elif isinstance(ref, int) and not isinstance(ref, bool):
                k = ref - first_index
                if not sequential or len(names) != len(doc["layers"]) - first_index or not (
                        0 <= k < len(names)):
                    raise DefinitionError(
                        f"{where}.frozen[{j}]: {ref} is not a position in layers",
                        file=file, field=f"{where}.frozen", received=repr(ref),
                        hint="name the layer (its \"name\", or the name summary shows)")
                ref = names[k]
            if ref not in names_i:
                raise DefinitionError(f"{where}.frozen[{j}]: the model has no layer {ref!r}",
                                      file=file, field=f"{where}.frozen", received=repr(ref),
                                      hint=f"layers: {', '.join(names_i[:12])}")
            if ref in weighted_i:
                frozen.append(ref)
        c = st.get("compile", compile_cfg)
        if not c:
            raise DefinitionError(f"{where} has no compile settings, nor has the definition",
                                  file=file, field=f"{where}.compile",
                                  hint="give each stage a compile, or a top-level compile")
        out.append({"frozen": sorted(set(frozen)), "compile": dict(c),
                    "fit": dict(st.get("fit", fit or {})), **({"head": head} if head else {})})
    if out and out[-1]["frozen"] != own:
        raise DefinitionError(
            "the last stage's frozen layers are not the layers marked trainable: false; the "
            "model after training is the last stage's", file=file,
            field=f"stages[{len(out) - 1}].frozen", received=f"{out[-1]['frozen']} != {own}",
            hint="mark the layers the last stage freezes with \"trainable\": false")
    return out


def head_graph(head: dict, graph: Any, built: tuple | None, file: str, where: str,
               sequential: bool, last: bool) -> dict:
    """A stage's `head`: the graph of the model's layers but the last `drop`, followed by the
    head's layers, and the names of the layers shared with the model (their weights carry
    over). {"drop", "layers", "graph", "shared", "names", "weighted"}."""
    from ..ir.build import build_graph

    field = f"{where}.head"
    if last:
        raise DefinitionError(f"{field}: the last stage trains the model itself, not another "
                              "model sharing its layers", file=file, field=field,
                              hint="end with a stage without a head")
    docs = built[0] if built is not None and sequential else None
    config = built[2] if built is not None else None  # spec._layer_config
    if docs is None or any("type" not in d for d in docs):
        raise DefinitionError(f"{field} is read for a sequential list of layers only",
                              file=file, field=field)
    drop = head["drop"]
    if not 0 <= drop < len(docs):
        raise DefinitionError(f"{field}.drop: {drop} is not between 0 and the {len(docs)} "
                              "layers less one (at least one layer is shared)", file=file,
                              field=f"{field}.drop", received=repr(drop))
    keep = docs[:len(docs) - drop]
    shared_graph = build_graph(graph.name, built[1], [config(d) for d in keep],
                               file=file)
    shared = list(dict.fromkeys(n.layer or n.name for n in shared_graph.nodes))
    mine = list(dict.fromkeys(n.layer or n.name for n in graph.nodes))
    if shared != mine[:len(shared)]:
        raise DefinitionError(f"{field}: the shared layers do not match the model's",
                              file=file, field=field, received=", ".join(shared[:8]))
    try:
        g = build_graph(f"{graph.name}_head", built[1], [config(d) for d in [
            *keep, *head["layers"]]], file=file, first_index=0)
    except DefinitionError as e:
        e.field = f"{field}.{e.field}" if e.field else field
        e.args = (e.format(),)
        raise
    names = list(dict.fromkeys(n.layer or n.name for n in g.nodes))
    if names[:len(shared)] != shared:
        raise DefinitionError(f"{field}: a head layer takes the name of a shared layer",
                              file=file, field=f"{field}.layers",
                              received=", ".join(names[len(shared):][:8]))
    return {"drop": drop, "layers": list(head["layers"]), "graph": g,
            "shared": [n for n in shared if any(
                m.params for m in shared_graph.nodes if (m.layer or m.name) == n)],
            "names": names, "weighted": {n.layer or n.name for n in g.nodes if n.params}}

"""A definition's `stages`: training in order, each stage with the layers it freezes, its
compile and its fit (transfer learning: train, freeze the feature layers, compile, train
again). Checked here against the model; run by seqc.training.stages.
"""

from __future__ import annotations

from typing import Any

from ..errors import DefinitionError


def stage_section(doc: dict, graph: Any, compile_cfg: dict | None, fit: dict | None,
                  file: str, first_index: int, sequential: bool) -> list[dict] | None:
    """The stages with defaults filled in and every frozen layer as its name: a stage's
    `compile` and `fit` default to the top-level ones, `frozen` to the layers whose own
    `trainable` is false. A frozen entry is a layer name, or (a sequential spec) a position
    in `layers`. The layers' own `trainable` is the state after the last stage (what summary
    counts), so the last stage freezes exactly those layers."""
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
        for j, ref in enumerate(st.get("frozen", own)):
            if isinstance(ref, int) and not isinstance(ref, bool):
                k = ref - first_index
                if not sequential or len(names) != len(doc["layers"]) - first_index or not (
                        0 <= k < len(names)):
                    raise DefinitionError(
                        f"{where}.frozen[{j}]: {ref} is not a position in layers",
                        file=file, field=f"{where}.frozen", received=repr(ref),
                        hint="name the layer (its \"name\", or the name summary shows)")
                ref = names[k]
            if ref not in names:
                raise DefinitionError(f"{where}.frozen[{j}]: the model has no layer {ref!r}",
                                      file=file, field=f"{where}.frozen", received=repr(ref),
                                      hint=f"layers: {', '.join(names[:12])}")
            if ref in weighted:
                frozen.append(ref)
        c = st.get("compile", compile_cfg)
        if not c:
            raise DefinitionError(f"{where} has no compile settings, nor has the definition",
                                  file=file, field=f"{where}.compile",
                                  hint="give each stage a compile, or a top-level compile")
        out.append({"frozen": sorted(set(frozen)), "compile": dict(c),
                    "fit": dict(st.get("fit", fit or {}))})
    if out and out[-1]["frozen"] != own:
        raise DefinitionError(
            "the last stage's frozen layers are not the layers marked trainable: false; the "
            "model after training is the last stage's", file=file,
            field=f"stages[{len(out) - 1}].frozen", received=f"{out[-1]['frozen']} != {own}",
            hint="mark the layers the last stage freezes with \"trainable\": false")
    return out

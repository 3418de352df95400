"""Training in stages (a definition's `stages`): fit, freeze some layers, compile, fit again,
as transfer-learning tutorials do. Each stage sets which layers train, compiles (a new
optimizer: Keras' recompile resets its state, and trainable changes take effect at compile)
and calls the ordinary fit once. A stage with a `head` trains another model that shares the
model's first layers (the source model of transfer learning); those layers' weights carry
over, the rest of that model is dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def set_frozen(model: Any, frozen: set[str]) -> None:
    """Every layer named in `frozen` does not train (nor, a BatchNormalization, update its
    statistics); every other layer does. Layers are the graph nodes' `layer` names."""
    g = model.graph
    nodes = tuple(n.replace(trainable=(n.layer or n.name) not in frozen) for n in g.nodes)
    model._graph = dataclasses.replace(g, nodes=nodes)


def shared_keys(graph: Any, head: dict) -> list[str]:
    """The weights of `graph` (a head stage's model) that belong to the shared layers."""
    shared = set(head["shared"])
    return [n.param_key(p) for n in graph.nodes if (n.layer or n.name) in shared
            for p in n.params]


def head_model(model: Any, head: dict) -> Any:
    """The model a head stage trains (seqc.frontend.stages.head_graph): the shared layers
    start from `model`'s current weights, the head's from their initializers (or from
    head["model"], a Model given with its weights, as a test that matches Keras does)."""
    from ..model import Model

    other = head.get("model") or Model(head["graph"], name=head["graph"].name,
                                       seed=model.seed, max_memory=model.max_memory,
                                       source=model.source)
    for k in shared_keys(other.graph, head):
        if model.params[k].shape != other.params[k].shape:
            raise ValueError(f"head stage: {k} has shape {other.params[k].shape}, the "
                             f"model's {model.params[k].shape}")
        other.params[k] = model.params[k].copy()
    return other


def last_stage_data(staged: list[tuple], dataset: Any) -> tuple[Any, Any]:
    """(the training Dataset, the validation Dataset or None) of the last stage of a script
    whose stages train on their own arrays (`staged`: (x, y, val_x, val_y) each, evaluated
    from the data given): the model after training is checked on what its last stage saw."""
    from .data import Dataset

    x, y, vx, vy = staged[-1]
    val = Dataset(vx, vy) if vx is not None and vy is not None else None
    return Dataset(x, y, source=dataset.source), val


def fit_stages(model: Any, stages: list[dict], x: Any, y: Any, base_fit: dict,
               flags: dict, extra_callbacks: list, data: list[tuple] | None = None,
               **fit_kwargs: Any) -> tuple[dict, dict, list[dict]]:
    """Run the stages in order on the same data: (the histories concatenated, the last
    stage's fit settings, one report entry per stage with its own history). `flags` (the
    command line's epochs, batch size, seed) override every stage's fit; `extra_callbacks`
    (--tensorboard's) run in every stage. `data`, where given, holds each stage's own
    (x, y, val_x, val_y) (val_x None: no validation_data), in place of x and y."""
    history: dict[str, list[float]] = {}
    runs: list[dict] = []
    cfg: dict = {}
    for i, stage in enumerate(stages):
        trains = head_model(model, stage["head"]) if stage.get("head") else model
        set_frozen(trains, set(stage["frozen"]))
        trains.compile(**stage["compile"])
        cfg = {**stage["fit"], **flags}
        if extra_callbacks:
            cfg["callbacks"] = [*(cfg.get("callbacks") or []), *extra_callbacks]
        sx, sy = x, y
        if data:
            sx, sy, vx, vy = data[i]
            cfg.pop("validation_data", None)
            if vx is not None and vy is not None:
                cfg["validation_data"] = (vx, vy)
        hist = trains.fit(sx, sy, **{**cfg, **fit_kwargs})
        if trains is not model:  # the shared layers' weights carry over (BatchNorm's too)
            model.adapted = model.adapted or trains.adapted
            model.params.update({k: trains.params[k] for k in shared_keys(trains.graph,
                                                                          stage["head"])})
        got = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
        for k, vs in got.items():
            history.setdefault(k, []).extend(vs)
        from ..ir.summary import parameter_counts

        runs.append({"stage": i + 1, "frozen": sorted(stage["frozen"]),
                     **({"head": {"drop": stage["head"]["drop"], "layers": [
                         d.get("type") for d in stage["head"]["layers"]]}}
                        if trains is not model else {}),
                     "parameters": parameter_counts(trains.graph),
                     "epochs": len(next(iter(got.values()), [])), "history": got,
                     "events": list(getattr(hist, "events", []))})
    return history, cfg, runs

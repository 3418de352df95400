"""Training in stages (a definition's `stages`): fit, freeze some layers, compile, fit again,
as transfer-learning tutorials do. Each stage sets which layers train, compiles (a new
optimizer: Keras' recompile resets its state, and trainable changes take effect at compile)
and calls the ordinary fit once.
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
        set_frozen(model, set(stage["frozen"]))
        model.compile(**stage["compile"])
        cfg = {**stage["fit"], **flags}
        if extra_callbacks:
            cfg["callbacks"] = [*(cfg.get("callbacks") or []), *extra_callbacks]
        sx, sy = x, y
        if data:
            sx, sy, vx, vy = data[i]
            cfg.pop("validation_data", None)
            if vx is not None and vy is not None:
                cfg["validation_data"] = (vx, vy)
        hist = model.fit(sx, sy, **{**cfg, **fit_kwargs})
        got = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
        for k, vs in got.items():
            history.setdefault(k, []).extend(vs)
        from ..ir.summary import parameter_counts

        runs.append({"stage": i + 1, "frozen": sorted(stage["frozen"]),
                     "parameters": parameter_counts(model.graph),
                     "epochs": len(next(iter(got.values()), [])), "history": got,
                     "events": list(getattr(hist, "events", []))})
    return history, cfg, runs

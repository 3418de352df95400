"""Check the reference figures of the Keras tutorial corpus against real Keras 3.

Each ``ref/<id>.py`` defines ``build()`` returning a built Keras model (a minimal
reproduction of the corpus script's model-building code).  Subclassed models
(whose ``output_shape`` Keras 3 does not record) also define ``BUILD_SHAPE``,
the input shape (batch dim None) used to get the output shape symbolically.

    KERAS_BACKEND=torch python check_refs.py        # check every manifest entry
"""
import importlib.util
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(ref_path):
    name = "corpus_ref_" + os.path.splitext(os.path.basename(ref_path))[0]
    spec = importlib.util.spec_from_file_location(name, ref_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _shape_list(shape):
    return [None if d is None else int(d) for d in shape]


def reference_figures(ref_path):
    """Build the reference model of ``ref_path``; return its figures.

    Returns {"total": count_params(), "trainable": sum of trainable weight
    sizes, "output_shape": list with None for unknown dims}.
    """
    import numpy as np
    import keras

    mod = _load(ref_path)
    keras.utils.clear_session()
    model = mod.build()
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    try:
        out = model.output_shape
    except (AttributeError, ValueError):
        spec = model.compute_output_spec(keras.KerasTensor(mod.BUILD_SHAPE))
        out = spec.shape
    if isinstance(out, list):  # several outputs
        out = [_shape_list(o) for o in out]
    else:
        out = _shape_list(out)
    return {"total": int(model.count_params()), "trainable": trainable, "output_shape": out}


def check_all(ids=None, verbose=True):
    with open(os.path.join(HERE, "manifest.json")) as f:
        manifest = json.load(f)
    failures = []
    for entry in manifest:
        if ids and entry["id"] not in ids:
            continue
        got = reference_figures(os.path.join(HERE, "ref", entry["id"] + ".py"))
        exp = entry["expected"]
        ok = all(got[k] == exp[k] for k in ("total", "trainable", "output_shape"))
        if verbose:
            print(("ok  " if ok else "FAIL"), entry["id"], got if not ok else "")
        if not ok:
            failures.append((entry["id"], exp, got))
    return failures


if __name__ == "__main__":
    fails = check_all(sys.argv[1:] or None)
    if fails:
        for f in fails:
            print("MISMATCH", *f)
        sys.exit(1)
    print("all reference figures match")

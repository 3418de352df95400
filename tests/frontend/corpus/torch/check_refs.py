"""Check the reference figures of the PyTorch tutorial corpus.

For every entry of manifest.json this imports ref/<id>.py, calls its
``build()`` -> (model, example_input), runs the example input through the
model (eval mode, no grad) and compares parameter counts and output shape
with ``expected`` in the manifest.

Conventions:
  * total     = sum(p.numel() for p in model.parameters())
  * trainable = same, over parameters with requires_grad
  * output_shape = shape of the forward output with dim 0 (batch) as None;
    when forward returns a tuple/list, the shape of its first element and
    ``output_tuple_len`` gives the number of tensors in it, nested tuples flattened
    (what torch.onnx.export makes outputs of: (out, (h, c)) counts 3).
  * an example_input that is a tuple is passed as positional arguments.

Usage:  python check_refs.py            (check all entries)
        python check_refs.py ID [ID...] (check some)
"""
import importlib.util
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(ref_path):
    name = "corpus_torch_ref_" + os.path.splitext(os.path.basename(ref_path))[0]
    spec = importlib.util.spec_from_file_location(name, ref_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tensors(v):
    if isinstance(v, (tuple, list)):
        return [t for e in v for t in _tensors(e)]
    return [v]


def reference_figures(ref_path):
    """Build the reference model of ``ref_path`` and measure it.

    Returns {"total", "trainable", "output_shape", "output_tuple_len"}
    (output_tuple_len is None when forward returns a single tensor).
    """
    mod = _load(ref_path)
    model, example = mod.build()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.eval()
    args = example if isinstance(example, tuple) else (example,)
    with torch.no_grad():
        out = model(*args)
    tuple_len = None
    if isinstance(out, (tuple, list)):
        # the flattened tensors, as torch.onnx.export gives them as outputs: (out, (h, c))
        # is 3 (out, h_n, c_n), not the Python tuple's 2
        flat = _tensors(out)
        tuple_len = len(flat)
        out = flat[0]
    shape = list(out.shape)
    if shape:
        shape[0] = None
    return {"total": total, "trainable": trainable, "output_shape": shape,
            "output_tuple_len": tuple_len}


def load_manifest():
    with open(os.path.join(HERE, "manifest.json")) as f:
        return json.load(f)


def check_entry(entry):
    got = reference_figures(os.path.join(HERE, "ref", entry["id"] + ".py"))
    exp = entry["expected"]
    problems = []
    for key in ("total", "trainable", "output_shape"):
        if got[key] != exp[key]:
            problems.append(f"{key}: expected {exp[key]!r}, got {got[key]!r}")
    if exp.get("output_tuple_len") != got["output_tuple_len"]:
        problems.append(f"output_tuple_len: expected {exp.get('output_tuple_len')!r}, "
                        f"got {got['output_tuple_len']!r}")
    return got, problems


def main(argv):
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    entries = load_manifest()
    if argv:
        entries = [e for e in entries if e["id"] in argv]
    failed = 0
    for e in entries:
        assert os.path.exists(os.path.join(HERE, e["file"])), e["file"]
        try:
            got, problems = check_entry(e)
        except Exception as exc:  # report and keep going
            got, problems = None, [f"{type(exc).__name__}: {exc}"]
        status = "ok" if not problems else "FAIL"
        print(f"{status:4} {e['id']:48} total={e['expected']['total']} "
              f"trainable={e['expected']['trainable']} out={e['expected']['output_shape']}")
        for p in problems:
            print("       ", p)
        failed += bool(problems)
    print(f"{len(entries) - failed}/{len(entries)} entries match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

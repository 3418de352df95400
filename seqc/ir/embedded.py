"""The IR carried inside model.onnx ("seqc.ir" metadata), its weights read from the graph.

The entry holds the graph (the `model.ir.json` form), the export options, and for each
parameter where its values lie in the ONNX initializers: `{"init": name, "start": s, "axes":
[t0, t1, ...]}` says element (i0, i1, ...) of the parameter is element `s + t0[i0] + t1[i1] +
...` of the flattened initializer, where each `tk` is a step (an int: `step * i`) or a list of
offsets. Transposes, reshapes, stacking and gate reordering (LSTM's i,f,c,o -> ONNX's i,o,f,c)
all have that form. The mapping is found, not written by hand per kind: the exporter lowers
the graph a second time with every parameter element replaced by a distinct integer code, and
reads where each code landed (`locate`; past 2**24 elements, which float32 cannot number,
two lowerings carry two digits of each index). A kernel an IR pass scaled (a folded
BatchNormalization) is read from its unfolded place with the scale and an XOR residual
(`scaled`); what survives neither way is stored inline, as raw little-endian bytes in base64
(`{"dtype", "data"}`). Every entry is checked bit for bit against the parameters before it is
written (`mapping`).
"""

from __future__ import annotations

import base64
import json
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import DefinitionError

KEY = "seqc.ir"
FORMAT = "seqc-ir-onnx"
VERSION = 1
# float32 holds every integer up to 2**24 exactly: codes 1..MAX_CODES, 0 and non-integers
# meaning "no parameter element". Past that many elements, two lowerings carry each element's
# index in two digits of base LOW (high digit, low digit), up to MAX_CODES * LOW elements.
MAX_CODES = 2**24 - 1
LOW = 4096


def weights_digest(params: dict[str, np.ndarray]) -> str:
    """sha256 over the parameters (names, dtypes, shapes, bytes), in table order."""
    import hashlib

    h = hashlib.sha256()
    for k, w in params.items():
        w = np.ascontiguousarray(w)
        h.update(f"{k}:{w.dtype.str}:{list(w.shape)}\n".encode())
        h.update(w.tobytes())
    return h.hexdigest()


# Elements of a coded initializer read at a time by `locate`.
LOCATE_CHUNK = 1 << 20


def code_table(params: dict[str, np.ndarray]) -> dict[str, tuple[int, int]]:
    """{key: (offset, size)}: the float parameters' elements numbered one after another.
    (Integer parameters, lookup tables, are stored inline.)"""
    table, used = {}, 0
    for k, w in params.items():
        if w.dtype.kind == "f" and w.size:
            table[k] = (used, int(w.size))
            used += int(w.size)
    return table


def coded_runs(params: dict[str, np.ndarray],
               table: dict[str, tuple[int, int]]) -> Iterator[dict[str, np.ndarray]]:
    """The parameter sets to lower, made one at a time (only one set of coded copies is alive
    while it is lowered): every element of `table` replaced by its index + 1 (one run), or
    past MAX_CODES elements by the index's two digits in base LOW (two runs); none when there
    are more elements than two digits can number."""
    total = sum(n for _, n in table.values())
    if not total or total > MAX_CODES * LOW:
        return
    digits = [lambda i: i + 1] if total <= MAX_CODES else [lambda i: i // LOW + 1,
                                                         lambda i: i % LOW + 1]
    for digit in digits:
        run = dict(params)
        for k, (off, n) in table.items():
            w = params[k]
            run[k] = digit(np.arange(off, off + n, dtype=np.int64)).astype(w.dtype).reshape(
                w.shape)
        yield run


def locate(table: dict[str, tuple[int, int]], shapes: dict[str, tuple],
           coded: list[tuple[str, list[np.ndarray]]]) -> dict[str, dict[str, Any]]:
    """For each parameter of `table`, the first coded initializer holding all of its
    elements, as an entry {"init", "start", "axes"}; absent when none holds them all or the
    positions are not additive over the parameter's axes. `coded`: (initializer name, its
    array in each of the `coded_runs`)."""
    keys = list(table)
    ends = np.array([table[k][0] + table[k][1] for k in keys], np.int64)
    found: dict[str, dict[str, Any]] = {}
    for name, arrays in coded:  # an iterable: each initializer's arrays made when reached
        top = [MAX_CODES] if len(arrays) == 1 else [MAX_CODES, LOW]
        sources = [np.asarray(a).reshape(-1) for a in arrays]
        if len(sources) != len(top) or len({f.size for f in sources}) != 1:
            continue
        wheres: dict[int, np.ndarray] = {}  # parameter index -> initializer position of each
        # Chunk by chunk, so the float64/int64 temporaries stay a few MB whatever the model's
        # size (the --max-memory estimate counts the export's copies, not these).
        for s in range(0, sources[0].size, LOCATE_CHUNK):
            flats = [f[s:s + LOCATE_CHUNK].astype(np.float64) for f in sources]
            ok = np.ones(flats[0].size, bool)
            with np.errstate(invalid="ignore"):
                for f, hi in zip(flats, top):
                    ok &= (f >= 1) & (f <= hi) & (f == np.round(f))
            pos = np.flatnonzero(ok)
            if not len(pos):
                continue
            digits = [f[pos].astype(np.int64) - 1 for f in flats]
            codes = digits[0] if len(digits) == 1 else digits[0] * LOW + digits[1]
            keep = codes < ends[-1]
            pos, codes = pos[keep] + s, codes[keep]
            owner = np.searchsorted(ends, codes, side="right")
            for i in np.unique(owner):
                if keys[i] in found:
                    continue
                off, n = table[keys[i]]
                if i not in wheres:
                    wheres[i] = np.full(n, -1, np.int64)
                mine = owner == i
                wheres[i][codes[mine] - off] = pos[mine]
        for i, where in wheres.items():
            k = keys[i]
            if k in found or (where < 0).any():
                continue
            entry = _additive(name, where.reshape(shapes[k]))
            if entry is not None:
                found[k] = entry
    return found


def _additive(init: str, pos: np.ndarray) -> dict[str, Any] | None:
    start = int(pos.flat[0]) if pos.size else 0
    axes: list[Any] = []
    for ax in range(pos.ndim):
        idx = [0] * pos.ndim
        idx[ax] = slice(None)
        t = pos[tuple(idx)] - start
        steps = np.diff(t)
        axes.append(int(steps[0]) if len(t) > 1 and (steps == steps[0]).all() else
                    0 if len(t) <= 1 else [int(v) for v in t])
    entry = {"init": init, "start": start, "axes": axes}
    if pos.ndim < 2:
        return entry if np.array_equal(_positions(entry, pos.shape), pos) else None
    # Checked one slice of the first axis at a time: no second int64 copy of a big kernel.
    first = entry["axes"][0]
    rest = {**entry, "axes": entry["axes"][1:]}
    for i in range(pos.shape[0]):
        offset = i * first if isinstance(first, int) else first[i]
        rest["start"] = start + offset
        if not np.array_equal(_positions(rest, pos.shape[1:]), pos[i]):
            return None
    return entry


def _positions(entry: dict[str, Any], shape: tuple) -> np.ndarray:
    total = np.full((), int(entry["start"]), np.int64)
    for ax, (t, n) in enumerate(zip(entry["axes"], shape)):
        vec = np.arange(n, dtype=np.int64) * t if isinstance(t, int) else np.asarray(t, np.int64)
        if vec.shape != (n,):
            raise ValueError(f"axis {ax} table has {vec.size} entries for a dimension of {n}")
        total = np.add.outer(total, vec)
    return total.reshape(shape)


def scaled(w: np.ndarray, base: np.ndarray, where: dict[str, Any]) -> dict[str, Any] | None:
    """An entry for a float32 parameter an IR pass scaled along one axis (a kernel with a
    BatchNormalization or a Rescaling folded into it): `base` is what the initializer holds
    at the parameter's place (`where`), w ~ base / s. Stored: s, and the bits the division
    gets wrong (XOR, zlib-compressed: mostly zeros). None when that is not smaller than the
    values themselves."""
    if w.dtype != np.float32 or base.shape != w.shape or not w.size:
        return None
    with np.errstate(all="ignore"):
        ratio = base.astype(np.float64) / w.astype(np.float64)
    ratio[~np.isfinite(ratio) | (ratio == 0)] = np.nan
    best, best_exact = None, -1
    for axis in (None, *range(w.ndim)):
        moved = ratio.reshape(1, -1) if axis is None else np.moveaxis(ratio, axis, 0).reshape(
            w.shape[axis], -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row: an all-zero one
            div = np.nan_to_num(np.nanmedian(moved, axis=1), nan=1.0).astype(np.float32)
        div_entry = {"axis": axis, **inline(div)}
        exact = int(np.count_nonzero(_divide(base, div_entry, w.shape) == w))
        if exact > best_exact:
            best, best_exact = div_entry, exact
    pred = _divide(base, best, w.shape)
    xor = w.view(np.uint32) ^ pred.view(np.uint32)
    entry = {**where, "div": best,
             "residual": base64.b64encode(zlib.compress(xor.astype("<u4").tobytes())).decode()}
    if len(entry["residual"]) * 2 > len(inline(w)["data"]):
        return None
    return entry


def _divide(base: np.ndarray, div: dict[str, Any], shape: tuple) -> np.ndarray:
    s = _raw(div, (-1,)).astype(np.float32)
    axis = div["axis"]
    if axis is not None:
        s = s.reshape([-1 if k == axis else 1 for k in range(len(shape))])
    with np.errstate(all="ignore"):
        return np.ascontiguousarray((base.astype(np.float32) / s).astype(np.float32))


def _raw(entry: dict[str, Any], shape: tuple) -> np.ndarray:
    return np.frombuffer(base64.b64decode(entry["data"], validate=True),
                         np.dtype(entry["dtype"])).reshape(shape)


def inline(w: np.ndarray) -> dict[str, Any]:
    """Raw little-endian bytes in base64: {"dtype", "data"}."""
    w = np.ascontiguousarray(w)
    return {"dtype": w.dtype.newbyteorder("<").str,
            "data": base64.b64encode(w.astype(w.dtype.newbyteorder("<")).tobytes()).decode()}


def read_param(entry: Any, shape: tuple, dtype: str,
               initializer: Callable[[str], np.ndarray]) -> np.ndarray:
    """One parameter from its entry; `initializer(name)` gives an initializer's array. A
    ValueError when the entry does not fit (sizes are checked before anything is allocated:
    the entry may come from a hostile file)."""
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if "data" in entry:
        return np.array(_raw(entry, shape), dtype=dtype)
    arr = initializer(entry["init"]).ravel()
    if size > arr.size or len(entry["axes"]) != len(shape):
        raise ValueError(f"a parameter of shape {shape} does not fit initializer "
                         f"{entry['init']!r} of {arr.size} elements")
    pos = _positions(entry, shape)
    if pos.size and (pos.min() < 0 or pos.max() >= arr.size):
        raise ValueError(f"positions outside initializer {entry['init']!r}")
    w = arr[pos]
    if "div" in entry:
        pred = _divide(w, entry["div"], shape)
        z = zlib.decompressobj()
        raw = z.decompress(base64.b64decode(entry["residual"], validate=True), 4 * size + 1)
        xor = np.frombuffer(raw, "<u4").reshape(shape)  # a wrong size fails here
        w = (pred.view(np.uint32) ^ xor).view(np.float32)
    return np.array(w, dtype=dtype)


def _reads_back(entry: dict[str, Any], w: np.ndarray,
                initializer: Callable[[str], np.ndarray]) -> bool:
    try:
        back = read_param(entry, w.shape, w.dtype.name, initializer)
    except (KeyError, ValueError, TypeError, zlib.error):
        return False
    return back.tobytes() == np.asarray(w, order="C").tobytes()


def mapping(params: dict[str, np.ndarray], located: dict[str, dict[str, Any]],
            initializer: Callable[[str], np.ndarray],
            unfolded: Callable[[], dict[str, dict[str, Any]]] | None = None
            ) -> dict[str, dict[str, Any]]:
    """Every parameter's entry: the located one when it reads back bit for bit from the real
    initializers; else a `scaled` entry at that place, or at the one `unfolded()` (a
    lowering without the folding passes, called once when needed) gives; else inline."""
    out = {}
    places: dict[str, dict[str, Any]] | None = None
    for k, w in params.items():
        w = np.asarray(w, order="C")  # (not ascontiguousarray, which makes a scalar 1-d)
        entry = located.get(k)
        if entry is not None and _reads_back(entry, w, initializer):
            out[k] = entry
            continue
        if entry is None and unfolded is not None:
            places = unfolded() if places is None else places
            entry = places.get(k)
        out[k] = inline(w)
        if entry is not None:
            try:
                base = read_param(entry, w.shape, w.dtype.name, initializer)
            except (KeyError, ValueError, TypeError):
                continue
            entry = scaled(w, base, entry)
            if entry is not None and _reads_back(entry, w, initializer):
                out[k] = entry
    return out


MAX_BODY = 256 * 2**20  # bytes a body may inflate to: a hostile file cannot exhaust memory


def document(graph_json: dict[str, Any], weights: dict[str, Any],
             export: dict[str, Any]) -> str:
    """The "seqc.ir" value: a readable header, and the graph, weights and export options as
    zlib-compressed JSON (the graph's JSON shrinks 3 to 6 times) in base64."""
    body = json.dumps({"graph": graph_json, "weights": weights, "export": export},
                      separators=(",", ":")).encode()
    return json.dumps({"format": FORMAT, "version": VERSION, "encoding": "zlib+base64",
                       "body": base64.b64encode(zlib.compress(body)).decode()},
                      separators=(",", ":"))


def encode(doc: dict[str, Any]) -> str:
    """A parsed document written back (after an edit of its weights)."""
    return document(doc["graph"], doc["weights"], doc.get("export") or {})


def _body(doc: dict[str, Any], file: str | None) -> dict[str, Any]:
    try:
        z = zlib.decompressobj()
        raw = z.decompress(base64.b64decode(doc["body"], validate=True), MAX_BODY)
        if z.unconsumed_tail:
            raise ValueError(f"the body inflates past {MAX_BODY} bytes")
        body = json.loads(raw)
    except (KeyError, TypeError, ValueError, zlib.error, RecursionError) as e:
        raise DefinitionError(f"the embedded seqc IR cannot be decoded ({e})", file=file,
                              field=KEY, received=type(e).__name__,
                              hint="re-export the model with seqc") from None
    return body if isinstance(body, dict) else {}


def parse(text: str, file: str | None) -> dict[str, Any]:
    """The "seqc.ir" entry's body {"graph", "weights", "export"}; a DefinitionError naming
    the key when malformed."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise DefinitionError(f"the embedded seqc IR is not valid JSON ({e})", file=file,
                              field=KEY, received=text[:60]) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        what = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise DefinitionError("the embedded seqc IR is malformed", file=file, field=KEY,
                              received=f"format={what!r}", hint="re-export the model with seqc")
    if doc.get("version") != VERSION:
        raise DefinitionError(f"the embedded seqc IR has version {doc.get('version')!r}; this "
                              f"seqc reads version {VERSION}", file=file, field=KEY,
                              received=f"version={doc.get('version')!r}",
                              hint="load it with the seqc version that wrote it")
    body = _body(doc, file)
    if not isinstance(body.get("graph"), dict) or not isinstance(body.get("weights"), dict):
        raise DefinitionError("the embedded seqc IR is malformed", file=file, field=KEY,
                              received=f"body keys {sorted(body)}",
                              hint="re-export the model with seqc")
    return body


# Metadata the exporter writes from the graph itself; every other entry of a loaded model's
# file is carried along when it is exported again.
GENERATED = ("seqc.version", "seqc.input_layout", "seqc.output_layout", "seqc.values",
             "seqc.parameters", "seqc.token_ids", KEY)

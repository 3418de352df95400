"""Reading JSON definitions: parse errors with line and column, duplicate keys refused, and
JSON Schema violations turned into one located message (`layers[1].name: must be a string`)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from ..errors import DefinitionError, did_you_mean, layer_label

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "spec.schema.json"


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DefinitionError("the definition file does not exist", file=path, field="path",
                              received=repr(path)) from None
    except IsADirectoryError:
        raise DefinitionError("expected a file, found a folder", file=path, field="path",
                              received=repr(path)) from None
    except OSError as e:
        raise DefinitionError(f"cannot read the definition: {e.strerror}", file=path,
                              field="path", received=repr(path)) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    # json.loads would silently keep the last of two equal keys; a duplicated "units" is a
    # typo the user wants to hear about.
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k, pairs)
        out[k] = v
    return out


class _Duplicate(Exception):
    def __init__(self, key: str, pairs: list) -> None:
        self.key = key
        self.pairs = pairs


# Nesting deeper than this is refused before anything walks the document (Python's recursion
# limit is 1000 frames, and each level costs several in the readers and the schema check); a
# real model, even Keras models nested in one another, stays far below it.
MAX_DEPTH = 100
# Longer integer literals are refused (Python's own limit, 4300 digits, raises a bare
# ValueError; no float32 or int64 field can hold even 40 digits).
MAX_DIGITS = 400


class _HugeInt(Exception):
    def __init__(self, digits: str) -> None:
        self.digits = digits


def _parse_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_DIGITS:
        raise _HugeInt(s)
    return int(s)


def _text_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, strings skipped (for a document too deep
    for json.loads itself)."""
    depth = deepest = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        c = m.group()
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _doc_depth(doc: Any) -> int:
    """The nesting depth of a parsed document, walked without recursion."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def _too_deep(file: str, depth: int) -> DefinitionError:
    return DefinitionError(
        f"the JSON is nested {depth} levels deep; seqc reads at most {MAX_DEPTH}", file=file,
        field="json", received=f"nesting depth {depth}",
        hint="a model definition is a few levels deep; this file is damaged or not a model")


def parse_json(raw: bytes, file: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DefinitionError("the file is not UTF-8 text", file=file,
                              received=f"byte 0x{raw[e.start]:02x} at offset {e.start}") from None
    if not text.strip():
        raise DefinitionError(
            "the file is empty", file=file, field="json", received=f"{len(raw)} bytes",
            hint='a model file is a JSON object, e.g. {"input_shape": [4], "layers": '
                 '[{"type": "Dense", "units": 1}]}')
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_parse_int)
    except RecursionError:
        raise _too_deep(file, _text_depth(text)) from None
    except _HugeInt as h:
        at = text.find(h.digits)
        before = text[:at]
        keys = re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', before)
        where = f"'{keys[-1]}'" if keys else "a value"
        raise DefinitionError(
            f"the integer in {where} at line {before.count(chr(10)) + 1} has "
            f"{len(h.digits.lstrip('-'))} digits; seqc reads integers of at most {MAX_DIGITS}",
            file=file, field=keys[-1] if keys else "json", received=f"{h.digits[:20]}...",
            hint="no field takes a number this large; the file is damaged or not a model"
        ) from None
    except json.JSONDecodeError as e:
        lines = text.splitlines() or [""]
        line = lines[min(e.lineno, len(lines)) - 1]
        raise DefinitionError(
            f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", file=file,
            field="json", received=f"line {e.lineno}: {line.strip()[:120]!r}",
            hint=_json_hint(e.msg, line)) from None
    except _Duplicate as d:
        keys = ", ".join(repr(k) for k, _ in d.pairs)
        raise DefinitionError(f"key '{d.key}' appears twice in one object", file=file,
                              field=d.key, received=f"object with keys {keys}",
                              hint="keep one of the two entries") from None
    depth = _doc_depth(doc)
    if depth > MAX_DEPTH:
        raise _too_deep(file, depth)
    return doc


def _json_hint(msg: str, line: str) -> str | None:
    if "'" in line and '"' not in line:
        return "JSON strings use double quotes"
    if msg.startswith("Expecting property name") or msg.startswith("Expecting value"):
        return "look for a trailing comma or a missing value just before this position"
    if msg.startswith("Expecting ',' delimiter"):
        return "a comma is missing between two items"
    return None


@functools.lru_cache(maxsize=1)
def spec_validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_schema(doc: Any, file: str) -> None:
    """Raise one DefinitionError for the most relevant schema violation, if any."""
    from jsonschema.exceptions import best_match

    error = best_match(spec_validator().iter_errors(doc))
    if error is not None:
        raise schema_error(error, doc, file)


def json_path(path: Any) -> str:
    """deque(['layers', 1, 'units']) -> 'layers[1].units'."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_TYPES = {"integer": "an integer", "number": "a number", "string": "a string",
          "boolean": "true or false", "array": "a list", "object": "an object",
          "null": "null"}


def _expected_type(t: Any) -> str:
    ts = t if isinstance(t, list) else [t]
    return " or ".join(_TYPES.get(x, x) for x in ts)


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def schema_error(e: Any, doc: Any, file: str) -> DefinitionError:
    path = list(e.absolute_path)
    where = json_path(path) or "the spec"
    field = str(path[-1]) if path else None
    if path and isinstance(path[-1], int):
        received = f"{where}={_short(e.instance)}"
    else:
        received = f"{field}={_short(e.instance)}" if field else _short(e.instance)
    hint = None
    kind, value, schema = e.validator, e.validator_value, e.schema

    if kind == "type":
        expected = f"must be {_expected_type(value)}"
    elif kind == "required":
        missing = [k for k in value if k not in e.instance]
        expected = f"missing required key '{missing[0]}'"
        received = f"keys {sorted(e.instance)}"
        if missing[0] == "layers":
            hint = 'add "layers": [{"type": "Dense", "units": 1}, ...]'
    elif kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in e.instance if k not in allowed]
        key = extra[0]
        what = f"unknown key '{key}' in the {where} section" if path else \
            f"unknown top-level key '{key}'"
        expected = (f"{what}. Valid keys: "
                    f"{', '.join(k for k in allowed if not k.startswith('$'))}")
        received = f"{key}={_short(e.instance[key])}"
        field = key
        hint = did_you_mean(key, allowed) or _section_hint(key, path)
    elif kind == "enum":
        expected = "must be one of " + ", ".join(_short(v) for v in value)
        if isinstance(e.instance, str):
            hint = did_you_mean(e.instance, [str(v) for v in value])
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
              "exclusiveMaximum": "<"}[kind]
        expected = f"must be {op} {value}"
    elif kind == "minItems":
        expected = f"must hold at least {value} item{'s' if value != 1 else ''}"
    elif kind == "minLength":
        expected = "must not be empty"
    elif kind == "pattern":
        expected = (f"must match the pattern {value}"
                    + (f" ({schema['description']})" if "description" in schema else ""))
        if field == "name":
            hint = "use letters, digits, '_', '.' and '-' (no '/')"
    elif kind == "dependentRequired":
        have = [k for k in value if k in e.instance]
        need = [n for k in have for n in value[k] if n not in e.instance]
        expected = f"'{have[0]}' needs '{need[0]}' as well" if have and need else e.message
        received = f"keys {sorted(e.instance)}"
    elif kind in ("anyOf", "oneOf") and "description" in schema:
        expected = f"must be {schema['description']}"
    else:
        expected = e.message
    layer = _layer_of(path, doc)
    # The layer label already locates an error on the layer object itself; deeper ones (and
    # errors outside layers) also name their JSON path, e.g. `layers[1].name`.
    text = expected if (layer and len(path) == 2) or not path else f"{where}: {expected}"
    if not path and kind == "type":
        text = f"the spec {expected}"
    return DefinitionError(text, file=file, layer=layer, field=field,
                           received=received, hint=hint)


def _layer_of(path: list, doc: Any) -> str | None:
    """`layers[2] 'conv' (Conv2D)` when the error sits inside a layer object."""
    if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
        try:
            layer = doc["layers"][path[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(layer, dict):
            name = layer.get("name") if isinstance(layer.get("name"), str) else None
            kind = layer.get("type") if isinstance(layer.get("type"), str) else None
            return layer_label(path[1], name, kind)
        return layer_label(path[1], None, None)
    return None


def _section_hint(key: str, path: list) -> str | None:
    if path:
        return None
    props = spec_validator().schema["$defs"]
    for section in ("fit", "compile", "data"):
        if key in props[section].get("properties", {}):
            return f"'{key}' belongs in the \"{section}\" section"
    return None

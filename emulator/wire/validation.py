"""Server-side constraint checks for modeled input, with AWS Coral-style messages.

botocore only checks ``required``, types and ``min`` on the client, so everything else
(``max``, ``pattern``, ``enum``, numeric ranges, unions) reaches the server and must be
rejected here with a ``ValidationException`` whose message reads like the real service's::

    1 validation error detected: Value 'fast' at 'performanceConfig.latency' failed to satisfy
    constraint: Member must satisfy enum value set: [standard, optimized]
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

from botocore.model import Shape, StructureShape

_SCALARS = {"string", "integer", "long", "float", "double", "boolean", "blob", "timestamp"}
_NUMBERS = {"integer", "long", "float", "double"}
# Echoing a 25 MB value back would be silly; Coral's own messages stay readable too.
_MAX_ECHO = 256

_TYPE_PHRASES = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "blob": "a base64-encoded string",
    "timestamp": "a timestamp",
    "structure": "an object",
    "map": "an object",
    "list": "a list",
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_int,
    "long": _is_int,
    "float": _is_number,
    "double": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "blob": lambda v: isinstance(v, bytes | bytearray | str),
    "timestamp": lambda v: isinstance(v, datetime | str) or _is_number(v),
    "structure": lambda v: isinstance(v, dict),
    "map": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list | tuple),
}


def join_path(path: str, member_name: str) -> str:
    """``inferenceConfig`` + ``maxTokens`` -> ``inferenceConfig.maxTokens`` (lowerCamel, as AWS prints)."""
    name = member_name[:1].lower() + member_name[1:]
    return f"{path}.{name}" if path else name


def list_item_path(path: str, index: int) -> str:
    """AWS numbers list items from 1: ``messages.1.member``."""
    return f"{path}.{index}.member"


def type_problem(path: str, shape: Shape) -> str:
    phrase = _TYPE_PHRASES.get(shape.type_name, f"of type {shape.type_name}")
    return f"Value at '{path}' failed to satisfy constraint: Member must be {phrase}"


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # The model's patterns are Java regexes matched with Matcher.matches(), i.e. against the
    # whole value; every pattern in bedrock-runtime's model is also valid Python syntax.
    return re.compile(pattern)


def _fmt_number(n: float | int) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _render(value: Any) -> str:
    # Java toString() style, which is what Coral echoes for collections.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    return str(value)


def _prefix(value: Any, path: str, shape: Shape, sensitive: bool) -> str:
    # Coral leaves sensitive values (and raw blobs) out of the message: "Value at 'x' ...".
    if sensitive or shape.type_name == "blob":
        return f"Value at '{path}'"
    text = _render(value)
    if len(text) > _MAX_ECHO:
        text = text[:_MAX_ECHO] + "..."
    return f"Value '{text}' at '{path}'"


def _constraints(shape: Shape, value: Any) -> list[str]:
    """The constraint texts that ``value`` (already of the right type) violates."""
    meta, kind, out = shape.metadata, shape.type_name, []
    if kind in ("string", "blob", "list", "map"):
        size = len(value.encode("utf-8")) if kind == "blob" and isinstance(value, str) else len(value)
        if "max" in meta and size > meta["max"]:
            out.append(f"Member must have length less than or equal to {_fmt_number(meta['max'])}")
        if "min" in meta and size < meta["min"]:
            out.append(f"Member must have length greater than or equal to {_fmt_number(meta['min'])}")
    elif kind in _NUMBERS:
        if "max" in meta and value > meta["max"]:
            out.append(f"Member must have value less than or equal to {_fmt_number(meta['max'])}")
        if "min" in meta and value < meta["min"]:
            out.append(f"Member must have value greater than or equal to {_fmt_number(meta['min'])}")
    if kind == "string":
        if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
            out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if "enum" in meta and value not in meta["enum"]:
            out.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    return out


def _check(shape: Shape, value: Any, path: str, problems: list[str], sensitive: bool) -> None:
    sensitive = sensitive or bool(shape.metadata.get("sensitive"))
    if value is None:
        problems.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")
        return
    if shape.metadata.get("document"):
        return  # free-form JSON: nothing modeled to check
    if not _TYPE_CHECKS.get(shape.type_name, lambda v: True)(value):
        problems.append(type_problem(path, shape))
        return
    violated = _constraints(shape, value)
    # The echoed value is rendered only when there is something to report (the common path is clean).
    prefix = _prefix(value, path, shape, sensitive) if violated or shape.type_name == "map" else ""
    problems.extend(f"{prefix} failed to satisfy constraint: {c}" for c in violated)
    if shape.type_name == "structure":
        _check_structure(shape, value, path, problems, sensitive)
    elif shape.type_name == "list":
        for index, item in enumerate(value, 1):
            _check(shape.member, item, list_item_path(path, index), problems, sensitive)
    elif shape.type_name == "map":
        _check_map(shape, value, path, problems, sensitive, prefix)


def _check_structure(shape: Shape, value: dict, path: str, problems: list[str], sensitive: bool) -> None:
    if shape.metadata.get("union"):
        chosen = [name for name in shape.members if value.get(name) is not None]
        if len(chosen) != 1:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have exactly one of "
                f"[{', '.join(shape.members)}] set, but {len(chosen)} were set"
            )
    required = shape.metadata.get("required", [])
    for name, member in shape.members.items():
        if value.get(name) is not None or name in required:
            _check(member, value.get(name), join_path(path, name), problems, sensitive)


def _check_map(
    shape: Shape, value: dict, path: str, problems: list[str], sensitive: bool, prefix: str
) -> None:
    # Coral reports scalar key/value violations once, at the map's own path:
    # "... at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [...]".
    bad_keys: list[str] = []
    for key in value:
        bad_keys += [c for c in _constraints(shape.key, key) if c not in bad_keys]
    if bad_keys:
        problems.append(
            f"{prefix} failed to satisfy constraint: Map keys must satisfy constraint: "
            f"[{', '.join(bad_keys)}]"
        )
    bad_values: list[str] = []
    for key, item in value.items():
        scalar_ok = shape.value.type_name in _SCALARS and item is not None
        if scalar_ok and _TYPE_CHECKS[shape.value.type_name](item):
            bad_values += [c for c in _constraints(shape.value, item) if c not in bad_values]
        else:
            _check(shape.value, item, f"{path}.{key}", problems, sensitive)
    if bad_values:
        problems.append(
            f"{prefix} failed to satisfy constraint: Map value must satisfy constraint: "
            f"[{', '.join(bad_values)}]"
        )


def validate_params(shape: StructureShape, params: dict) -> list[str]:
    """Every constraint violation in ``params`` (an operation's input), in model member order."""
    problems: list[str] = []
    if not isinstance(params, dict):
        return [type_problem("input", shape)]
    _check_structure(shape, params, "", problems, bool(shape.metadata.get("sensitive")))
    return problems


def validation_message(problems: list[str]) -> str:
    """The ``ValidationException`` message AWS builds from the problems list."""
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: {'; '.join(problems)}"

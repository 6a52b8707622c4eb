"""Seeded tool calls: which tool the model calls, its id, and an input that fits the tool's schema.

The input is generated when the engine dispatches the attempt, not lazily like text: the output
tokens of a tool call are the tokens of its JSON input, and the engine needs that count to time
the answer. Schemas are small, so this is cheap.

The instance generator covers the JSON Schema that tool definitions use in practice: ``type``
(also a list of types), ``properties``/``required``, ``enum``/``const``, ``default``,
``items``/``prefixItems``/``minItems``/``maxItems``/``uniqueItems``, ``minLength``/``maxLength``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/``multipleOf``, ``format``,
``anyOf``/``oneOf``/``allOf`` and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``).
``pattern`` is not generated against (no regex inversion): a string of the right length is.

Generation is bounded, since it runs under the engine lock: a node takes at most ``_MAX_CHARS``
characters, ``_MAX_ITEMS`` items or ``_MAX_PROPERTIES`` properties, and the whole input spends
from a token budget (the request's max tokens, less the call's name and framing). Every node is
charged a lower bound of the tokens it adds to the JSON, so generation stops as soon as the call
cannot fit; a schema whose lower bounds pass the clamps cannot fit either. Such a call is returned
with more tokens than max tokens, and the engine answers with text cut at max tokens instead.
"""

from __future__ import annotations

import json
import math
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulator.engine.tokens import count_tokens

# Output tokens a tool call costs beyond its JSON input: the name and the call's framing.
TOOL_CALL_FRAMING = 4
_ID_ALPHABET = string.ascii_letters + string.digits
_MAX_DEPTH = 6  # recursive schemas ($ref cycles) bottom out here
_DEFAULT_P = 0.3  # how often a property with a ``default`` takes it
# Per-node clamps: lower bounds above them make the call too long to fit any max tokens.
_MAX_CHARS = 1000
_MAX_ITEMS = 200
_MAX_PROPERTIES = 200
# The token budget of an input generated without a request's max tokens (above any model's).
DEFAULT_BUDGET = 200_000

_WORDS = (
    "alpha bravo cedar delta ember falcon granite harbor island juniper kestrel lumen meadow "
    "nimbus orbit prairie quartz river summit tundra umber valley willow zephyr north south "
    "east west red green blue amber silver report order invoice ticket user account region "
    "paris london tokyo berlin lisbon oslo quebec sydney cairo lima"
).split()


@dataclass(frozen=True, eq=False)
class ToolDef:
    """A tool offered to the model, whatever the wire format it came in."""

    name: str
    description: str = ""
    input_schema: Any = field(default_factory=dict)
    # The max tokens of the request offering the tool (the budget of a call's input), if known.
    max_tokens: int | None = None

    def prompt_text(self) -> str:
        """What the definition adds to the prompt (billed as input tokens)."""
        return f"{self.name}\n{self.description}\n{json.dumps(self.input_schema, sort_keys=True)}"


@dataclass(frozen=True)
class ToolCall:
    """One call the model makes: the codecs add their own id prefix to ``id_suffix``."""

    name: str
    id_suffix: str
    input: Any
    input_json: str  # what the stream's deltas concatenate to
    tokens: int  # output tokens of the call


def new_id_suffix(rng: random.Random, length: int = 22) -> str:
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(length))


def make_call(tool: ToolDef, rng: random.Random, max_tokens: int | None = None) -> ToolCall:
    """A call of ``tool`` with a seeded input that conforms to its input schema.

    ``max_tokens`` (default: the tool's own, else ``DEFAULT_BUDGET``) bounds the work: once the
    input cannot fit, generation stops and the call returned has ``max_tokens + 1`` tokens.
    """
    limit = max_tokens if max_tokens is not None else tool.max_tokens
    limit = DEFAULT_BUDGET if limit is None else limit
    overhead = count_tokens(tool.name) + TOOL_CALL_FRAMING
    try:
        value = instance(tool.input_schema, rng, budget=max(0, limit - overhead))
    except OverBudget:
        return ToolCall(tool.name, new_id_suffix(rng), {}, "{}", limit + 1)
    except (RecursionError, OverflowError, ValueError, TypeError, ZeroDivisionError):
        # A pathological schema (self-referencing allOf, astronomical bounds) must not take the
        # engine down; the model answers with an empty input, as a confused model would.
        value = {}
    if not isinstance(value, dict):  # a tool's input is always an object on the wire
        value = {}
    text = json.dumps(value, ensure_ascii=False)
    tokens = count_tokens(text) + count_tokens(tool.name) + TOOL_CALL_FRAMING
    return ToolCall(tool.name, new_id_suffix(rng), value, text, tokens)


# -- JSON Schema instances --------------------------------------------------------------------------


class OverBudget(Exception):
    """The instance being generated cannot fit its token budget (or passes the per-node clamps)."""


def instance(schema: Any, rng: random.Random, budget: int = DEFAULT_BUDGET) -> Any:
    """A seeded value that validates against ``schema`` (see the module docstring for coverage).

    Raises ``OverBudget`` once the value's JSON would take more than ``budget`` tokens.
    """
    return _Gen(schema, rng, budget).value(schema, 0)


class _Gen:
    def __init__(self, root: Any, rng: random.Random, budget: int = DEFAULT_BUDGET) -> None:
        self.root = root
        self.rng = rng
        self.budget = budget
        self.spent = 0  # a lower bound on the tokens of what has been generated so far

    def _spend(self, tokens: int) -> None:
        self.spent += tokens
        if self.spent > self.budget:
            raise OverBudget

    def value(self, schema: Any, depth: int) -> Any:
        if schema is True or not isinstance(schema, dict) or depth > 4 * _MAX_DEPTH:
            return self._word()
        if "$ref" in schema:
            target = self._resolve(schema["$ref"])
            if target is not None and depth < _MAX_DEPTH:
                return self.value(target, depth + 1)
            if depth >= _MAX_DEPTH:
                self._spend(2)
                return {}
            return self._word()
        if "const" in schema:
            self._spend(1)
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            self._spend(1)
            return self.rng.choice(schema["enum"])
        if "default" in schema and self.rng.random() < _DEFAULT_P:
            self._spend(1)
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # Prefer a non-null branch: Optional[X] schemas should usually carry an X.
                real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
                base = {k: v for k, v in schema.items() if k != key}
                return self.value({**base, **_as_dict(self.rng.choice(real or options))}, depth + 1)
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = _merge(merged, _as_dict(self._deref(part)))
            return self.value(merged, depth + 1)
        kind = self._type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            self._spend(1)
            return self.rng.random() < 0.5
        if kind == "null":
            self._spend(1)
            return None
        return self._string(schema)

    # -- helpers -------------------------------------------------------------------------------
    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None  # remote refs are not fetched
        node = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _deref(self, schema: Any) -> Any:
        if isinstance(schema, dict) and "$ref" in schema:
            return self._resolve(schema["$ref"]) or {}
        return schema

    def _type(self, schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if isinstance(k, str)]
            real = [k for k in kinds if k != "null"]
            kind = self.rng.choice(real or kinds) if kinds else None
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
        return "string"

    def _word(self) -> str:
        self._spend(1)
        return self.rng.choice(_WORDS)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)] if isinstance(
            schema.get("required"), list) else []
        lo = _int(schema.get("minProperties"), 0)
        if lo > _MAX_PROPERTIES:
            raise OverBudget
        out: dict[str, Any] = {}
        self._spend(2)
        if depth >= _MAX_DEPTH:  # deep recursion: only what is required, as simply as possible
            for name in required:
                self._spend(1)
                out[name] = self._word()
            return out
        for name, sub in props.items():
            if name in required or self.rng.random() < 0.5:
                self._spend(1)
                out[name] = self.value(sub, depth + 1)
        for name in required:  # required but not described: any value will do
            if name not in out:
                self._spend(1)
                out[name] = self._word()
        if len(out) < lo:
            self._fill_properties(schema, props, out, lo, depth)
        return out

    def _fill_properties(
        self, schema: dict[str, Any], props: dict[str, Any], out: dict[str, Any], lo: int, depth: int
    ) -> None:
        """Up to ``minProperties``: the described properties left out, then additional ones."""
        for name, sub in props.items():
            if len(out) >= lo:
                return
            if name not in out:
                self._spend(1)
                out[name] = self.value(sub, depth + 1)
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return  # unsatisfiable with the properties described: as many as there are
        i = 0
        while len(out) < lo:
            name = f"{_WORDS[i % len(_WORDS)]}_{i}"
            i += 1
            if name in out:
                continue
            self._spend(1)
            out[name] = self.value(extra, depth + 1) if isinstance(extra, dict) else self._word()

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        lo = _int(schema.get("minItems"), 0)
        if lo > _MAX_ITEMS:
            raise OverBudget
        hi = min(_int(schema.get("maxItems"), max(lo, 1) + 2), _MAX_ITEMS)
        if hi < lo:
            hi = lo
        self._spend(2)
        n = self.rng.randint(max(lo, min(1, hi)), hi)
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", {})
        if isinstance(items, list):  # draft-07 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        out: list[Any] = []
        unique = bool(schema.get("uniqueItems"))
        for i in range(n):
            sub = prefix[i] if i < len(prefix) else items
            if depth >= _MAX_DEPTH:
                break
            for _attempt in range(8):
                value = self.value(sub, depth + 1)
                if not unique or value not in out:
                    break
            else:
                if len(out) >= lo:
                    break
            out.append(value)
        return out

    def _integer(self, schema: dict[str, Any]) -> int:
        self._spend(1)
        lo, hi = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first, last = math.ceil(lo / step), math.floor(hi / step)
            if first <= last:
                return self.rng.randint(first, last) * step
        return self.rng.randint(lo, hi)

    def _number(self, schema: dict[str, Any]) -> float | int:
        self._spend(1)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            lo, hi = _bounds(schema, integer=False)
            first, last = math.ceil(lo / step), math.floor(hi / step)
            if first <= last:
                value = self.rng.randint(first, last) * step
                return int(value) if float(value).is_integer() else value
        lo, hi = _bounds(schema, integer=False)
        value = round(self.rng.uniform(lo, hi), 2)
        if not lo <= value <= hi or value in _exclusive(schema):
            value = (lo + hi) / 2
        return value

    def _string(self, schema: dict[str, Any]) -> str:
        fmt = schema.get("format")
        text = _FORMATS[fmt](self.rng) if fmt in _FORMATS else self._words_text()
        lo = _int(schema.get("minLength"), 0)
        if lo > _MAX_CHARS or self.spent + 2 + lo // 4 > self.budget:  # a letter run: a token per 4
            raise OverBudget
        hi = _int(schema.get("maxLength"), max(lo, len(text)))
        if len(text) < lo:
            text += "".join(self.rng.choice(string.ascii_lowercase) for _ in range(lo - len(text)))
        if len(text) > hi:
            text = text[:hi].rstrip() if len(text[:hi].rstrip()) >= lo else text[:hi]
        self._spend(2 + count_tokens(text))  # the quotes, then the text's own pieces
        return text

    def _words_text(self) -> str:
        # Not ``_word``: the string is charged as a whole once it is complete.
        return " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(1, 3)))


def _as_dict(schema: Any) -> dict[str, Any]:
    return schema if isinstance(schema, dict) else {}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key == "properties" and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = list(dict.fromkeys(out[key] + value))
        else:
            out.setdefault(key, value)
    return out


def _int(value: Any, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value) if math.isfinite(value) else 2**63  # infinity: past every clamp
    return default


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _exclusive(schema: dict[str, Any]) -> set[float]:
    return {v for v in (_num(schema.get("exclusiveMinimum")), _num(schema.get("exclusiveMaximum"))) if v is not None}


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[Any, Any]:
    """The closed range a value may take, with a realistic default span when unbounded."""
    lo, hi = _num(schema.get("minimum")), _num(schema.get("maximum"))
    xlo, xhi = _num(schema.get("exclusiveMinimum")), _num(schema.get("exclusiveMaximum"))
    if isinstance(schema.get("exclusiveMinimum"), bool) and schema["exclusiveMinimum"] and lo is not None:
        xlo, lo = lo, None  # draft-04 boolean form
    if isinstance(schema.get("exclusiveMaximum"), bool) and schema["exclusiveMaximum"] and hi is not None:
        xhi, hi = hi, None
    nudge = 1 if integer else 0.01
    if xlo is not None:
        lo = max(lo, xlo + nudge) if lo is not None else xlo + nudge
    if xhi is not None:
        hi = min(hi, xhi - nudge) if hi is not None else xhi - nudge
    if lo is None and hi is None:
        lo, hi = 0, 100
    elif lo is None:
        lo = hi - 100
    elif hi is None:
        hi = lo + 100
    if integer:
        lo, hi = math.ceil(lo), math.floor(hi)
    if hi < lo:  # an unsatisfiable range: stay at its lower edge
        hi = lo
    return lo, hi


def _date(rng: random.Random) -> str:
    return f"20{rng.randint(20, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


_FORMATS = {
    "date": _date,
    "date-time": lambda r: f"{_date(r)}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00",
    "email": lambda r: f"{r.choice(_WORDS)}.{r.choice(_WORDS)}@example.com",
    "uri": lambda r: f"https://example.com/{r.choice(_WORDS)}/{r.randint(1, 999)}",
    "url": lambda r: f"https://example.com/{r.choice(_WORDS)}/{r.randint(1, 999)}",
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "ipv4": lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4)),
    "hostname": lambda r: f"{r.choice(_WORDS)}.example.com",
}

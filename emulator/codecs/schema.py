"""JSON-schema checks of native InvokeModel bodies, worded as Bedrock words them.

Bedrock validates model bodies with a JSON-schema library whose messages look like
``#: required key [prompt] not found`` and ``#/max_tokens: expected type: Integer, found: String``
(bedrock-wire.md sections 1.1 and 6). jsonschema finds the violations; this module words them.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from emulator.wire.errors import BedrockError
from emulator.wire.request_parser import reject_constant

_TYPE_NAMES = {
    "integer": "Integer",
    "number": "Number",
    "string": "String",
    "boolean": "Boolean",
    "object": "JSONObject",
    "array": "JSONArray",
    "null": "Null",
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    if isinstance(value, dict):
        return "JSONObject"
    return "Null"


def _pointer(error: ValidationError) -> str:
    return "#" + "".join(f"/{p}" for p in error.absolute_path)


def _word(error: ValidationError) -> list[str]:
    where = _pointer(error)
    v = error.validator
    if v == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"{where}: required key [{k}] not found" for k in missing]
    if v == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [f"{where}: extraneous key [{k}] is not permitted" for k in extra]
    if v == "type":
        wanted = error.validator_value
        wanted = wanted if isinstance(wanted, str) else wanted[0]
        return [f"{where}: expected type: {_TYPE_NAMES.get(wanted, wanted)}, found: {_type_of(error.instance)}"]
    if v == "minimum":
        return [f"{where}: {error.instance} is not greater or equal to {error.validator_value}"]
    if v == "maximum":
        return [f"{where}: {error.instance} is not less or equal to {error.validator_value}"]
    if v == "enum":
        return [f"{where}: {error.instance} is not a valid enum value"]
    if v == "pattern":
        return [f"{where}: string [{error.instance}] does not match pattern {error.validator_value}"]
    if v == "minItems":
        return [f"{where}: expected minimum item count: {error.validator_value}, found: {len(error.instance)}"]
    if v == "maxItems":
        return [f"{where}: expected maximum item count: {error.validator_value}, found: {len(error.instance)}"]
    if v == "minLength":
        return [f"{where}: expected minLength: {error.validator_value}, actual: {len(error.instance)}"]
    if v in ("anyOf", "oneOf"):
        return [f"{where}: #: no subschema matched out of the total {len(error.validator_value)} subschemas"]
    return [f"{where}: {error.message}"]


def malformed(violations: list[str]) -> BedrockError:
    if len(violations) == 1:
        detail = violations[0]
    else:
        detail = f"{len(violations)} schema violations found"
    return BedrockError(
        "ValidationException",
        f"Malformed input request: {detail}, please reformat your input and try again.",
    )


def load_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or Bedrock's error for anything else."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=reject_constant) if raw else None
    except (UnicodeDecodeError, ValueError):  # not JSON, or NaN / Infinity in it
        raise malformed(["#: expected type: JSONObject, found: String"]) from None
    if not isinstance(body, dict):
        raise malformed([f"#: expected type: JSONObject, found: {_type_of(body)}"])
    return body


class BodySchema:
    def __init__(self, schema: dict[str, Any]) -> None:
        Draft7Validator.check_schema(schema)
        self._validator = Draft7Validator(schema)

    def check(self, body: dict[str, Any]) -> None:
        errors = sorted(self._validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        violations = [line for e in errors for line in _word(e)]
        if violations:
            raise malformed(violations)

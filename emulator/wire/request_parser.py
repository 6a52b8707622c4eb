"""Server side of botocore's rest-json request serializer: an HTTP request back to boto3 ``params``.

This is the inverse of ``botocore.serialize.RestJSONSerializer``. Members bound to the URI, headers
or query string come from there; the rest come from the body, which is either the raw bytes of a
blob ``payload`` member (InvokeModel's ``body``) or a JSON object. Only shapes are decoded here
(base64 blobs, timestamps, wrong JSON types); constraints are ``validation.validate_params``' job.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.utils import parse_timestamp

from emulator.wire.validation import join_path, list_item_path, type_problem

_FLOAT_WORDS = {"NaN", "Infinity", "-Infinity"}  # how botocore sends non-finite floats in JSON


class RequestParseError(Exception):
    """The request could not be decoded; upstream answers ``ValidationException`` (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _type_error(path: str, shape: Shape) -> RequestParseError:
    return RequestParseError(type_problem(path, shape))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _b64(text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestParseError(
            f"Value at '{path}' failed to satisfy constraint: Member must be a valid base64-encoded string"
        ) from None


def _from_text(shape: Shape, text: str, path: str) -> Any:
    """A URI label, query value or header value, typed the way botocore wrote it."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
        if kind == "timestamp":  # rfc822 in headers, iso8601 in queries; parse_timestamp reads both
            return _aware(parse_timestamp(text))
        if kind == "blob":
            return _b64(text, path)
        if shape.serialization.get("jsonvalue"):  # base64 of compact JSON (botocore's jsonvalue headers)
            return json.loads(base64.b64decode(text))
    # botocore's parse_timestamp raises RuntimeError for years it cannot place in a timezone.
    except (ValueError, TypeError, OverflowError, RuntimeError, binascii.Error):
        raise _type_error(path, shape) from None
    return text


def _from_json(shape: Shape, value: Any, path: str) -> Any:
    """One decoded JSON value back to the Python value a boto3 caller would have passed."""
    kind = shape.type_name
    if shape.metadata.get("document"):
        return value
    if kind == "structure":  # unions too: kept as a dict, validation counts the members set
        if not isinstance(value, dict):
            raise _type_error(path, shape)
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if value.get(wire) is not None:  # JSON null == member not set; unknown keys are ignored
                out[name] = _from_json(member, value[wire], join_path(path, name))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _type_error(path, shape)
        return [
            None if item is None else _from_json(shape.member, item, list_item_path(path, i))
            for i, item in enumerate(value, 1)
        ]
    if kind == "map":
        if not isinstance(value, dict):
            raise _type_error(path, shape)
        return {k: None if v is None else _from_json(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if kind == "blob":
        if not isinstance(value, str):
            raise _type_error(path, shape)
        return _b64(value, path)
    if kind == "timestamp":  # rest-json default is epoch seconds; accept iso8601 strings as well
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.fromtimestamp(value, UTC)
            if isinstance(value, str):
                return _aware(parse_timestamp(value))
        except (ValueError, TypeError, OverflowError, OSError):
            pass
        raise _type_error(path, shape)
    if kind in ("float", "double"):
        if isinstance(value, str) and value in _FLOAT_WORDS:
            return float(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _type_error(path, shape)
        return float(value)
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _type_error(path, shape)
    return value


def reject_constant(name: str) -> Any:
    """``json.loads`` hook: NaN and Infinity are not JSON, and NaN would slip past every range check."""
    raise ValueError(f"{name} is not a valid JSON number")


def _load_json_object(body: bytes) -> dict:
    try:
        doc = json.loads(body, parse_constant=reject_constant)
    except UnicodeDecodeError as e:
        raise RequestParseError(f"Malformed request body: not valid UTF-8 ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise RequestParseError(
            f"Malformed request body: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except ValueError as e:
        raise RequestParseError(f"Malformed request body: {e}") from None
    if not isinstance(doc, dict):
        raise RequestParseError(f"Malformed request body: expected a JSON object, got {type(doc).__name__}")
    return doc


def _query_members(shape: Shape, name: str, member: Shape, query: Mapping[str, list[str]]) -> Any:
    wire = member.serialization.get("name", name)
    path = join_path("", name)
    if member.type_name == "map":  # botocore merges a map member straight into the query string
        named = {
            m.serialization.get("name", n)
            for n, m in shape.members.items()
            if m.serialization.get("location") == "querystring" and m.type_name != "map"
        }
        many = member.value.type_name == "list"
        found = {k: list(v) if many else v[0] for k, v in query.items() if k not in named and v}
        return found or None
    values = query.get(wire)
    if not values:
        return None
    if member.type_name == "list":
        return [_from_text(member.member, v, list_item_path(path, i)) for i, v in enumerate(values, 1)]
    return _from_text(member, values[0], path)


def parse_request(
    operation_model: OperationModel,
    labels: dict[str, str],
    headers: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: bytes,
) -> dict:
    """Rebuild the ``params`` a boto3 caller passed from the (percent-decoded) request parts."""
    shape = operation_model.input_shape
    if shape is None:
        return {}
    lowered = {k.lower(): v for k, v in headers.items()}  # HTTP header names are case-insensitive
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        value: Any = None
        if location == "uri" and wire in labels:
            value = _from_text(member, labels[wire], join_path("", name))
        elif location == "header" and wire.lower() in lowered:
            raw = lowered[wire.lower()]
            if member.type_name == "list":  # RFC 7230 comma-joined, as botocore's parser splits it
                value = [_from_text(member.member, p.strip(), join_path("", name)) for p in raw.split(",")]
            else:
                value = _from_text(member, raw, join_path("", name))
        elif location == "headers":  # a prefix, e.g. x-amz-meta-: the rest of the name is the key
            prefix = wire.lower()
            value = {k[len(prefix) :]: v for k, v in headers.items() if k.lower().startswith(prefix)} or None
        elif location == "querystring":
            value = _query_members(shape, name, member, query)
        if value is not None:
            params[name] = value

    payload = shape.serialization.get("payload")
    if payload is not None:
        member = shape.members[payload]
        if member.type_name == "blob" or member.serialization.get("eventstream"):
            params[payload] = bytes(body)  # raw bytes; event-stream frames are left to the transport
        elif member.type_name == "string":
            params[payload] = body.decode("utf-8", errors="replace")
        elif body.strip():
            params[payload] = _from_json(member, _load_json_object(body), join_path("", payload))
        return params

    if body.strip():
        doc = _load_json_object(body)
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if "location" not in member.serialization and doc.get(wire) is not None:
                params[name] = _from_json(member, doc[wire], join_path("", name))
    return params

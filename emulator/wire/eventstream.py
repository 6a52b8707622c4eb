"""AWS event-stream frames (the binary framing botocore's ``EventStreamBuffer`` reads).

Layout, all integers big-endian::

    total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32

Bedrock only uses string-typed (7) headers, so that is all the encoder writes.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from typing import Any

_STRING = 7


def _encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One complete event-stream message."""
    raw_headers = _encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def event_frame(event_type: str, body: dict[str, Any]) -> bytes:
    """A modeled event, e.g. ``contentBlockDelta`` or ``chunk``."""
    return encode_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        _json(body),
    )


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modeled exception; ``exception_type`` is the lowerCamel union member name."""
    return encode_frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        _json({"message": message}),
    )


def error_frame(code: str, message: str) -> bytes:
    """An unmodeled error: botocore surfaces it as ``EventStreamError`` with this code."""
    return encode_frame(
        {":error-code": code, ":error-message": message, ":message-type": "error"}, b""
    )

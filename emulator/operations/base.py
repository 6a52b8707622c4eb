"""What every operation hands back, and the response shapes they share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.engine.engine import Call
from emulator.wire.errors import BedrockError
from emulator.wire.exchange import WireResponse


@dataclass
class Exchange:
    """A request in flight: ``render()`` is valid once ``ready``."""

    call: Call | None
    render: Callable[[], WireResponse]

    @property
    def ready(self) -> bool:
        return self.call is None or self.call.decided


def base_headers(request_id: str) -> list[tuple[str, str]]:
    return [("x-amzn-RequestId", request_id)]


def json_response(request_id: str, body: dict[str, Any], at: float, status: int = 200) -> WireResponse:
    data = json.dumps(body).encode("utf-8")
    headers = base_headers(request_id) + [("Content-Type", "application/json")]
    return WireResponse(status, headers, data, ready_at=at)


def error_response(error: BedrockError, request_id: str, at: float) -> WireResponse:
    return WireResponse(error.status, base_headers(request_id) + error.headers(), error.body(), ready_at=at)

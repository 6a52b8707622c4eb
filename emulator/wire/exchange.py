"""Transport-neutral request and response: what every door hands the emulator and gets back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class Headers(dict):
    """Case-insensitive header lookup (keys are stored lowercased)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        super().__init__((k.lower(), v) for k, v in pairs)

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class WireRequest:
    method: str
    path: str  # raw, still percent-encoded
    headers: Headers
    body: bytes = b""
    query: dict[str, list[str]] = field(default_factory=dict)
    # Filled in as the emulator learns them, so a refusal can still be recorded properly.
    operation: str = "Unknown"
    model_id: str = ""


@dataclass
class Frame:
    """One event-stream frame, due at engine time ``at`` (seconds)."""

    at: float
    data: bytes


@dataclass
class WireResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # For event streams: frames in order, each with the engine time it is due.
    frames: list[Frame] | None = None
    # Engine time at which a non-streaming body is complete (the response is sent then).
    ready_at: float = 0.0

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

"""Stream events before framing: what goes out, and how far generation has got when it does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.engine.generator import phrase_pieces
from emulator.engine.tokens import piece_tokens


@dataclass
class StreamEvent:
    tokens: int  # output tokens generated when this event goes out (decides its time)
    event_type: str  # the union member name: ``contentBlockDelta``, ``chunk``, ...
    payload: dict[str, Any]
    content: bool = False  # carries generated text: counts towards a mid-stream break


def deltas(pieces: list[str], per_delta: int = 2) -> list[tuple[str, int]]:
    """Group text pieces into deltas: (text, output tokens generated once it is sent)."""
    out: list[tuple[str, int]] = []
    done = 0
    for i in range(0, len(pieces), per_delta):
        group = pieces[i : i + per_delta]
        done += sum(piece_tokens(p.strip()) for p in group)
        out.append(("".join(group), done))
    return out


def json_deltas(text: str, start: int, per_delta: int = 4) -> list[tuple[str, int]]:
    """A tool call's JSON input as partial-JSON deltas: (piece, output tokens generated once it is
    sent), counting on from ``start``. The pieces concatenate to ``text`` exactly."""
    return [(piece, start + done) for piece, done in deltas(phrase_pieces(text), per_delta)]

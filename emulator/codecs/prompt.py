"""The neutral request every codec produces, and what the engine sees of it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from emulator.engine.tokens import PER_MESSAGE_OVERHEAD, PER_REQUEST_OVERHEAD, count_tokens

# An image costs about (width * height) / 750 tokens on Claude; a typical 1092x1092 upload ~1,600.
IMAGE_TOKENS = 1600


@dataclass
class Prompt:
    system: list[str] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, flattened text)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: list[str] = field(default_factory=list)
    extra_input_tokens: int = 0  # images and other non-text input

    def input_tokens(self) -> int:
        total = PER_REQUEST_OVERHEAD + self.extra_input_tokens
        total += sum(count_tokens(s) for s in self.system)
        total += sum(PER_MESSAGE_OVERHEAD + count_tokens(text) for _, text in self.turns)
        return total

    def digest(self) -> bytes:
        """Identifies the prompt (same prompt at temperature 0: same answer)."""
        blob = json.dumps([self.system, self.turns], separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).digest()


def alternation_problem(roles: list[str]) -> str | None:
    """'start' if the first turn is not the user's, 'alternate' if two turns share a role."""
    if not roles or roles[0] != "user":
        return "start"
    for a, b in zip(roles, roles[1:], strict=False):
        if a == b:
            return "alternate"
    return None

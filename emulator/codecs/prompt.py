"""The neutral request every codec produces, and what the engine sees of it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from emulator.engine.tokens import PER_MESSAGE_OVERHEAD, PER_REQUEST_OVERHEAD, count_tokens
from emulator.engine.toolgen import ToolDef

# An image costs about (width * height) / 750 tokens on Claude; a typical 1092x1092 upload ~1,600.
IMAGE_TOKENS = 1600
# Offering tools adds a tool-use system prompt; Anthropic documents 159-346 tokens by model and choice.
TOOL_USE_SYSTEM_TOKENS = 300
# Bedrock's answer to a prompt longer than the model's context window (client reports, Claude).
INPUT_TOO_LONG = "Input is too long for requested model."


@dataclass
class Prompt:
    system: list[str] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, flattened text)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: list[str] = field(default_factory=list)
    extra_input_tokens: int = 0  # images and other non-text input
    # Tools offered, and how the model may use them: auto | any | tool (tool_name) | none.
    tools: list[ToolDef] = field(default_factory=list)
    tool_choice: str = "auto"
    tool_name: str | None = None
    after_tool_result: bool = False  # the last user turn carries tool results
    _counted: int | None = field(default=None, init=False, repr=False, compare=False)

    def input_tokens(self) -> int:
        if self._counted is not None:
            return self._counted
        total = PER_REQUEST_OVERHEAD + self.extra_input_tokens
        total += sum(count_tokens(s) for s in self.system)
        total += sum(PER_MESSAGE_OVERHEAD + count_tokens(text) for _, text in self.turns)
        if self.tools:
            total += TOOL_USE_SYSTEM_TOKENS + sum(count_tokens(t.prompt_text()) for t in self.tools)
        return total

    def exceeds(self, limit: int) -> bool:
        """Whether the prompt is longer than ``limit`` tokens. Call it once the prompt is complete:
        the count is kept for ``input_tokens``.

        Every piece costs at least a quarter of its characters, so a prompt far too long is known
        from its size alone, without a tokenizer pass (seconds for a 25 MB prompt).
        """
        texts = [*self.system, *(text for _, text in self.turns)]
        if sum(len(t) for t in texts) > 4 * limit:
            if sum(len("".join(t.split())) for t in texts) > 4 * limit:
                return True
        self._counted = None
        self._counted = self.input_tokens()
        return self._counted > limit

    def digest(self) -> bytes:
        """Identifies the prompt (same prompt at temperature 0: same answer)."""
        parts: list = [self.system, self.turns]
        if self.tools:  # tools change the answer; prompts without them keep their old digest
            parts.append([[t.name, t.description, t.input_schema] for t in self.tools])
            parts.append([self.tool_choice, self.tool_name])
        blob = json.dumps(parts, separators=(",", ":"), ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).digest()


def alternation_problem(roles: list[str]) -> str | None:
    """'start' if the first turn is not the user's, 'alternate' if two turns share a role."""
    if not roles or roles[0] != "user":
        return "start"
    for a, b in zip(roles, roles[1:], strict=False):
        if a == b:
            return "alternate"
    return None


def stop_or_length(stop_reason: str) -> str:
    """The ``stop`` / ``length`` vocabulary of Llama and Mistral: a stop sequence is a ``stop``."""
    return "length" if stop_reason == "max_tokens" else "stop"

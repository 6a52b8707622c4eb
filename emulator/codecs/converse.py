"""Converse and ConverseStream: the model-agnostic message API."""

from __future__ import annotations

import base64
import json
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.prompt import IMAGE_TOKENS, Prompt, alternation_problem
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call
from emulator.wire.errors import validation

# Messages as Bedrock words them (seen in client reports; not in any spec).
MUST_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts "
    "with a user message."
)
MUST_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation "
    "alternates between user and assistant roles and try again."
)


def max_tokens_exceeded(limit: int) -> str:
    return (
        f"The maximum tokens you requested exceeds the model limit of {limit}. "
        f"Try again with a maximum tokens value that is lower than {limit}."
    )


def _block_text(block: dict[str, Any]) -> tuple[str, int]:
    """The text a content block contributes to the prompt, and its non-text token cost."""
    if "text" in block:
        return block["text"], 0
    if "image" in block or "video" in block:
        return "", IMAGE_TOKENS
    if "document" in block:
        source = block["document"].get("source", {})
        raw = source.get("bytes", b"")
        if isinstance(raw, str):
            raw = base64.b64decode(raw)
        return raw.decode("utf-8", "replace") if source.get("text") is None else source["text"], 0
    if "toolUse" in block:
        return json.dumps(block["toolUse"].get("input", {})), 0
    if "toolResult" in block:
        parts = [_block_text(c)[0] if "json" not in c else json.dumps(c["json"])
                 for c in block["toolResult"].get("content", [])]
        return " ".join(parts), 0
    return "", 0


def to_prompt(messages: list[dict[str, Any]], system: list[dict[str, Any]] | None) -> Prompt:
    prompt = Prompt()
    for block in system or []:
        if "text" in block:
            prompt.system.append(block["text"])
    for message in messages:
        texts = []
        for block in message.get("content", []):
            text, extra = _block_text(block)
            texts.append(text)
            prompt.extra_input_tokens += extra
        prompt.turns.append((message.get("role", ""), "\n".join(t for t in texts if t)))
    return prompt


def parse(params: dict[str, Any], model: ModelSpec) -> Prompt:
    """A validated Converse request (botocore params) -> Prompt, after the body rules."""
    messages = params.get("messages")
    if messages is None:
        raise validation("Value null at 'messages' failed to satisfy constraint: Member must not be null")
    problem = alternation_problem([m.get("role") for m in messages])
    if problem == "start":
        raise validation(MUST_START_WITH_USER)
    if problem == "alternate":
        raise validation(MUST_ALTERNATE)
    prompt = to_prompt(messages, params.get("system"))
    config = params.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and max_tokens > model.max_output_tokens:
        raise validation(max_tokens_exceeded(model.max_output_tokens))
    prompt.max_tokens = max_tokens or model.max_output_tokens
    prompt.temperature = config.get("temperature")
    prompt.top_p = config.get("topP")
    prompt.stop_sequences = list(config.get("stopSequences") or [])
    return prompt


def count_input(converse_input: dict[str, Any]) -> int:
    """CountTokens' ``converse`` input kind: the same count Converse bills."""
    return to_prompt(converse_input.get("messages") or [], converse_input.get("system")).input_tokens()


def _usage(call: Call) -> dict[str, int]:
    i, o = call.record.input_tokens, call.outcome.output_tokens  # type: ignore[union-attr]
    return {"inputTokens": i, "outputTokens": o, "totalTokens": i + o}


def _latency_ms(call: Call) -> int:
    return max(1, round(call.record.latency_s * 1000))


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": outcome.text}]}},
        "stopReason": outcome.stop_reason,
        "usage": _usage(call),
        "metrics": {"latencyMs": _latency_ms(call)},
    }


def stream_events(call: Call) -> list[StreamEvent]:
    outcome = call.outcome
    assert outcome is not None
    total = outcome.output_tokens
    events = [StreamEvent(0, "messageStart", {"role": "assistant"})]
    for text, done in deltas(outcome.pieces()):
        events.append(
            StreamEvent(done, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}, True)
        )
    events.append(StreamEvent(total, "contentBlockStop", {"contentBlockIndex": 0}))
    events.append(StreamEvent(total, "messageStop", {"stopReason": outcome.stop_reason}))
    events.append(
        StreamEvent(total, "metadata", {"usage": _usage(call), "metrics": {"latencyMs": _latency_ms(call)}})
    )
    return events

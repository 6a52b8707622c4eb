"""Amazon Nova ``messages-v1`` bodies for InvokeModel and its stream."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.converse import MUST_ALTERNATE, MUST_START_WITH_USER
from emulator.codecs.prompt import IMAGE_TOKENS, INPUT_TOO_LONG, Prompt, alternation_problem
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call
from emulator.wire.errors import validation

_BLOCK_KINDS = ("text", "image", "video", "document", "toolUse", "toolResult", "reasoningContent", "cachePoint")
_BLOCK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {kind: {"type": "string" if kind == "text" else "object"} for kind in _BLOCK_KINDS},
}
_SYSTEM_BLOCK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"text": {"type": "string"}, "cachePoint": {"type": "object"}},
}


@lru_cache(maxsize=8)
def schema(max_tokens: int) -> BodySchema:
    # AWS sample code uses both the camelCase keys of the Nova docs and snake_case ones
    # (max_new_tokens, top_p, top_k); which the service treats as canonical is UNCONFIRMED
    # (bedrock-wire.md 6.3), so both are accepted.
    tokens = {"type": "integer", "minimum": 1, "maximum": max_tokens}
    unit = {"type": "number", "minimum": 0, "maximum": 1}
    top_k = {"type": "integer", "minimum": 0}
    return BodySchema(
        {
            "type": "object",
            "required": ["messages"],
            "additionalProperties": False,
            "properties": {
                "schemaVersion": {"type": "string", "enum": ["messages-v1"]},
                "system": {"type": "array", "items": _SYSTEM_BLOCK},
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["role", "content"],
                        "additionalProperties": False,
                        "properties": {
                            "role": {"type": "string", "enum": ["user", "assistant"]},
                            "content": {"type": "array", "items": _BLOCK},
                        },
                    },
                },
                "inferenceConfig": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "maxTokens": tokens,
                        "max_new_tokens": tokens,
                        "temperature": unit,
                        "topP": unit,
                        "top_p": unit,
                        "topK": top_k,
                        "top_k": top_k,
                        "stopSequences": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "toolConfig": {"type": "object"},
            },
        }
    )


def _block_text(block: dict[str, Any]) -> tuple[str, int]:
    """Text a content block adds to the prompt, and its non-text token cost."""
    if "text" in block:
        return block["text"], 0
    if "image" in block or "video" in block:
        return "", IMAGE_TOKENS
    for kind in ("toolUse", "toolResult", "document"):
        if kind in block:
            # Structure counts as its JSON; base64 payloads are not decoded (they may be anything).
            return json.dumps(block[kind], ensure_ascii=False), 0
    return "", 0


def parse(raw: bytes, model: ModelSpec) -> Prompt:
    """A Nova ``messages-v1`` body -> Prompt, or the error Bedrock gives for it."""
    body = load_body(raw)
    schema(model.max_output_tokens).check(body)
    messages = body["messages"]
    problem = alternation_problem([m["role"] for m in messages])
    # Nova behind InvokeModel is the Converse runtime; it words turn-order errors the same way.
    if problem == "start":
        raise validation(MUST_START_WITH_USER)
    if problem == "alternate":
        raise validation(MUST_ALTERNATE)
    config = body.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens", config.get("max_new_tokens"))
    prompt = Prompt(
        max_tokens=max_tokens or model.max_output_tokens,
        temperature=config.get("temperature"),
        top_p=config.get("topP", config.get("top_p")),
    )
    prompt.system.extend(block["text"] for block in body.get("system") or [] if "text" in block)
    for message in messages:
        texts = []
        for block in message["content"]:
            text, extra = _block_text(block)
            texts.append(text)
            prompt.extra_input_tokens += extra
        prompt.turns.append((message["role"], "\n".join(t for t in texts if t)))
    prompt.stop_sequences = list(config.get("stopSequences") or [])
    if prompt.exceeds(model.context_window):
        raise validation(INPUT_TOO_LONG)
    return prompt


def _usage(call: Call) -> dict[str, int]:
    i, o = call.record.input_tokens, call.outcome.output_tokens  # type: ignore[union-attr]
    return {"inputTokens": i, "outputTokens": o, "totalTokens": i + o}


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    # Cache counters as named in the Nova response schema docs (UNCONFIRMED against a capture).
    usage = {**_usage(call), "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0}
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": outcome.text}]}},
        "stopReason": outcome.stop_reason,
        "usage": usage,
    }


def stream_chunks(call: Call) -> list[StreamEvent]:
    """Converse-like events, each wrapped by its name in its own chunk."""
    outcome = call.outcome
    assert outcome is not None
    total = outcome.output_tokens
    events = [StreamEvent(0, "chunk", {"messageStart": {"role": "assistant"}})]
    for text, done in deltas(outcome.pieces()):
        delta = {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}
        events.append(StreamEvent(done, "chunk", delta, content=True))
    events.append(StreamEvent(total, "chunk", {"contentBlockStop": {"contentBlockIndex": 0}}))
    events.append(StreamEvent(total, "chunk", {"messageStop": {"stopReason": outcome.stop_reason}}))
    # The metadata chunk's exact shape is UNCONFIRMED; this follows AWS sample output
    # (bedrock-wire.md 6.3): usage without totals, empty metrics and trace, then the metrics.
    usage = _usage(call)
    del usage["totalTokens"]
    events.append(StreamEvent(total, "chunk", {
        "metadata": {"usage": usage, "metrics": {}, "trace": {}},
        "amazon-bedrock-invocationMetrics": invocation_metrics(call),
    }))
    return events

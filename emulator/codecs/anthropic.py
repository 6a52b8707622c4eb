"""Anthropic Claude Messages bodies for InvokeModel and InvokeModelWithResponseStream."""

from __future__ import annotations

import json
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.prompt import IMAGE_TOKENS, Prompt, alternation_problem
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call
from emulator.wire.errors import validation

_TEXT_BLOCK = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
SCHEMA = BodySchema(
    {
        "type": "object",
        "required": ["anthropic_version", "max_tokens", "messages"],
        "additionalProperties": False,
        "properties": {
            # Bedrock documents "bedrock-2023-05-31"; Anthropic's own SDK sends its API version date
            # (e.g. "2026-10-21") to Bedrock, so both forms must be accepted.
            "anthropic_version": {"type": "string", "pattern": r"^(bedrock-)?\d{4}-\d{2}-\d{2}$"},
            "anthropic_beta": {"type": "array", "items": {"type": "string"}},
            "max_tokens": {"type": "integer", "minimum": 1},
            "system": {"type": ["string", "array"], "items": _TEXT_BLOCK},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "properties": {
                        "role": {"type": "string", "enum": ["user", "assistant"]},
                        "content": {"type": ["string", "array"], "items": _TEXT_BLOCK},
                    },
                },
            },
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "top_k": {"type": "integer", "minimum": 0},
            "stop_sequences": {"type": "array", "items": {"type": "string"}},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {"type": "object"},
            "metadata": {"type": "object"},
            "thinking": {"type": "object"},
        },
    }
)

# Anthropic's own wording, which Bedrock passes through as a ValidationException.
FIRST_MUST_BE_USER = 'messages: first message must use the "user" role'
ROLES_MUST_ALTERNATE = 'messages: roles must alternate between "user" and "assistant"'


def _content_text(content: Any) -> tuple[str, int]:
    if isinstance(content, str):
        return content, 0
    texts, extra = [], 0
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image":
            extra += IMAGE_TOKENS
        elif kind == "tool_use":
            texts.append(json.dumps(block.get("input", {})))
        elif kind == "tool_result":
            texts.append(_content_text(block.get("content", ""))[0])
    return "\n".join(t for t in texts if t), extra


def parse(raw: bytes, model: ModelSpec) -> Prompt:
    body = load_body(raw)
    SCHEMA.check(body)
    problem = alternation_problem([m["role"] for m in body["messages"]])
    if problem == "start":
        raise validation(FIRST_MUST_BE_USER)
    if problem == "alternate":
        raise validation(ROLES_MUST_ALTERNATE)
    if body["max_tokens"] > model.max_output_tokens:
        raise validation(
            f"max_tokens: {body['max_tokens']} > {model.max_output_tokens}, which is the maximum "
            f"allowed number of output tokens for {model_name(model)}"
        )
    prompt = Prompt(max_tokens=body["max_tokens"], temperature=body.get("temperature"), top_p=body.get("top_p"))
    system = body.get("system")
    if system:
        prompt.system.append(system if isinstance(system, str) else _content_text(system)[0])
    for message in body["messages"]:
        text, extra = _content_text(message["content"])
        prompt.turns.append((message["role"], text))
        prompt.extra_input_tokens += extra
    prompt.stop_sequences = list(body.get("stop_sequences") or [])
    return prompt


def model_name(model: ModelSpec) -> str:
    """``anthropic.claude-3-haiku-20240307-v1:0`` -> ``claude-3-haiku-20240307``."""
    name = model.model_id.split(".", 1)[-1]
    return name.rsplit("-v", 1)[0]


def _message_id(call: Call) -> str:
    return "msg_bdrk_" + call.request_id.replace("-", "")[:24]


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {
        "id": _message_id(call),
        "type": "message",
        "role": "assistant",
        "model": model_name(call.invocation.model),
        "content": [{"type": "text", "text": outcome.text}],
        "stop_reason": outcome.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": call.record.input_tokens, "output_tokens": outcome.output_tokens},
    }


def invocation_metrics(call: Call) -> dict[str, int]:
    """The ``amazon-bedrock-invocationMetrics`` block of a stream's last chunk."""
    record = call.record
    return {
        "inputTokenCount": record.input_tokens,
        "outputTokenCount": call.outcome.output_tokens,  # type: ignore[union-attr]
        "invocationLatency": max(1, round(record.latency_s * 1000)),
        "firstByteLatency": max(1, round(record.ttft_s * 1000)),
    }


def stream_chunks(call: Call) -> list[StreamEvent]:
    outcome = call.outcome
    assert outcome is not None
    total = outcome.output_tokens
    start = {
        "type": "message_start",
        "message": {
            "id": _message_id(call),
            "type": "message",
            "role": "assistant",
            "model": model_name(call.invocation.model),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": call.record.input_tokens, "output_tokens": 1},
        },
    }
    events = [
        StreamEvent(0, "chunk", start),
        StreamEvent(0, "chunk", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    ]
    for text, done in deltas(outcome.pieces()):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
        events.append(StreamEvent(done, "chunk", delta, content=True))
    events.append(StreamEvent(total, "chunk", {"type": "content_block_stop", "index": 0}))
    events.append(StreamEvent(total, "chunk", {
        "type": "message_delta",
        "delta": {"stop_reason": outcome.stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": total},
    }))
    events.append(StreamEvent(total, "chunk", {
        "type": "message_stop", "amazon-bedrock-invocationMetrics": invocation_metrics(call),
    }))
    return events

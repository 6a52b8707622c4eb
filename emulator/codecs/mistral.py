"""Mistral bodies for InvokeModel and its stream: text completion (``prompt`` -> ``outputs``,
Mistral 7B, Mixtral 8x7B, Large 2402) and chat completion (``messages`` -> ``choices``,
Large 2407)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.prompt import INPUT_TOO_LONG, Prompt, stop_or_length
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call
from emulator.wire.errors import validation

# AWS's documented max_tokens defaults: 512 for 7B and Mixtral, the model's cap for Large.
_DEFAULT_MAX_TOKENS = 512
_LARGE_DEFAULTS_TO_CAP = ("mistral.mistral-large-2402-v1:0", "mistral.mistral-large-2407-v1:0")
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}


@lru_cache(maxsize=8)
def text_schema(max_tokens: int) -> BodySchema:
    return BodySchema(
        {
            "type": "object",
            "required": ["prompt"],
            "additionalProperties": False,
            "properties": {
                "prompt": {"type": "string"},
                "max_tokens": {"type": "integer", "minimum": 1, "maximum": max_tokens},
                "stop": {"type": "array", "maxItems": 10, "items": {"type": "string"}},
                "temperature": _UNIT,
                "top_p": _UNIT,
                "top_k": {"type": "integer", "minimum": 1, "maximum": 200},
            },
        }
    )


_CONTENT_PART = {"type": "object", "properties": {"text": {"type": "string"}}}


@lru_cache(maxsize=8)
def chat_schema(max_tokens: int) -> BodySchema:
    return BodySchema(
        {
            "type": "object",
            "required": ["messages"],
            "additionalProperties": False,
            "properties": {
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["role"],
                        "additionalProperties": False,
                        "properties": {
                            "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                            "content": {"type": ["string", "array", "null"], "items": _CONTENT_PART},
                            "tool_calls": {"type": "array", "items": {"type": "object"}},
                            "tool_call_id": {"type": "string"},
                            "name": {"type": "string"},
                            "prefix": {"type": "boolean"},
                        },
                    },
                },
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": ["string", "object"]},
                "max_tokens": {"type": "integer", "minimum": 1, "maximum": max_tokens},
                "temperature": _UNIT,
                "top_p": _UNIT,
            },
        }
    )


def _default_max_tokens(model: ModelSpec) -> int:
    if model.model_id in _LARGE_DEFAULTS_TO_CAP:
        return model.max_output_tokens
    return min(_DEFAULT_MAX_TOKENS, model.max_output_tokens)


def parse_text(raw: bytes, model: ModelSpec) -> Prompt:
    """A text-completion body -> Prompt, or the Malformed input request error."""
    body = load_body(raw)
    text_schema(model.max_output_tokens).check(body)
    prompt = Prompt(
        max_tokens=body.get("max_tokens", _default_max_tokens(model)),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
    )
    prompt.turns.append(("user", body["prompt"]))
    prompt.stop_sequences = list(body.get("stop") or [])
    if prompt.exceeds(model.context_window):
        raise validation(INPUT_TOO_LONG)
    return prompt


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content if "text" in part)
    return content or ""


def parse_chat(raw: bytes, model: ModelSpec) -> Prompt:
    """A chat-completion body -> Prompt, or the Malformed input request error."""
    body = load_body(raw)
    chat_schema(model.max_output_tokens).check(body)
    prompt = Prompt(
        max_tokens=body.get("max_tokens", _default_max_tokens(model)),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
    )
    for message in body["messages"]:
        text = _content_text(message.get("content"))
        for tool_call in message.get("tool_calls") or []:
            text += "\n" + json.dumps(tool_call.get("function", ""), ensure_ascii=False)
        if message["role"] == "system":
            prompt.system.append(text)
        else:
            prompt.turns.append((message["role"], text))
    if prompt.exceeds(model.context_window):
        raise validation(INPUT_TOO_LONG)
    return prompt


def stop_reason(call: Call) -> str:
    # Mistral's own vocabulary (stop | length | tool_calls): a stop sequence is a "stop" too.
    # No tool calls are generated here.
    return stop_or_length(call.outcome.stop_reason)  # type: ignore[union-attr]


def response_text(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {"outputs": [{"text": outcome.text, "stop_reason": stop_reason(call)}]}


def response_chat(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    # The stop_reason vocabulary of chat completion on Bedrock is UNCONFIRMED (bedrock-wire.md 6.5);
    # AWS's docs show Mistral's own: stop | length | tool_calls.
    message = {"role": "assistant", "content": outcome.text}
    return {"choices": [{"index": 0, "message": message, "stop_reason": stop_reason(call)}]}


def _chunks(call: Call, payload: Callable[[str, str | None], dict[str, Any]]) -> list[StreamEvent]:
    """One chunk per delta; the last carries the stop reason and the invocation metrics."""
    outcome = call.outcome
    assert outcome is not None
    parts = deltas(outcome.pieces()) or [("", outcome.output_tokens)]
    events = []
    for i, (text, done) in enumerate(parts):
        last = i == len(parts) - 1
        chunk = payload(text, stop_reason(call) if last else None)
        if last:
            chunk["amazon-bedrock-invocationMetrics"] = invocation_metrics(call)
        # The last chunk is not a content event, so a mid-stream break always has one to replace.
        events.append(StreamEvent(done, "chunk", chunk, content=not last))
    return events


def stream_chunks_text(call: Call) -> list[StreamEvent]:
    return _chunks(call, lambda text, stop: {"outputs": [{"text": text, "stop_reason": stop}]})


def stream_chunks_chat(call: Call) -> list[StreamEvent]:
    # Chunks repeat the response's choice shape with a partial message (UNCONFIRMED: some
    # clients also read a ``delta``; AWS's docs only describe ``message``).
    return _chunks(call, lambda text, stop: {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "stop_reason": stop}]
    })


TEXT = SimpleNamespace(parse=parse_text, response=response_text, stream_chunks=stream_chunks_text)
CHAT = SimpleNamespace(parse=parse_chat, response=response_chat, stream_chunks=stream_chunks_chat)

"""Mistral bodies for InvokeModel and its stream: text completion (``prompt`` -> ``outputs``,
Mistral 7B, Mixtral 8x7B, Large 2402) and chat completion (``messages`` -> ``choices``,
Large 2407), with Mistral's native function calling (``tools`` / ``tool_choice`` in, a message's
``tool_calls`` out, ``role: tool`` messages carrying the results)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs import converse
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.prompt import Prompt, stop_or_length
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call
from emulator.engine.toolgen import ToolDef

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
# Mistral's function tool: {type: function, function: {name, description, parameters}}.
_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"type": "string", "enum": ["function"]},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "parameters": {"type": "object"},
            },
        },
    },
}
# auto | any | none, or one named function ({type: function, function: {name}}).
_TOOL_CHOICE = {
    "anyOf": [
        {"type": "string", "enum": ["auto", "any", "none"]},
        {
            "type": "object",
            "required": ["function"],
            "properties": {"function": {"type": "object", "required": ["name"],
                                        "properties": {"name": {"type": "string"}}}},
        },
    ]
}


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
                "tools": {"type": "array", "items": _TOOL},
                "tool_choice": _TOOL_CHOICE,
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
    if body.get("tools"):
        converse.check_tool_support(model)
        tools = [ToolDef(t["function"]["name"], t["function"].get("description", ""),
                         t["function"].get("parameters") or {"type": "object", "properties": {}})
                 for t in body["tools"]]
        choice = body.get("tool_choice", "auto")
        if isinstance(choice, dict):
            converse.offer_tools(prompt, tools, "tool", choice["function"]["name"])
        else:
            converse.offer_tools(prompt, tools, choice)
    # Results arrive as ``role: tool`` messages; after them the model answers in text.
    prompt.after_tool_result = body["messages"][-1]["role"] == "tool"
    return prompt


def stop_reason(call: Call) -> str:
    # Mistral's own vocabulary (stop | length | tool_calls): a stop sequence is a "stop" too.
    if call.outcome.tool_call is not None:  # type: ignore[union-attr]
        return "tool_calls"
    return stop_or_length(call.outcome.stop_reason)  # type: ignore[union-attr]


def tool_call_id(suffix: str) -> str:
    """Mistral names a tool call with 9 letters and digits (``D681PevKs``)."""
    return suffix[:9]


def _message(call: Call, text: str) -> dict[str, Any]:
    """The assistant message; with a tool call, its ``tool_calls`` (arguments as a JSON string)."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    tool = call.outcome.tool_call  # type: ignore[union-attr]
    if tool is not None:
        function = {"name": tool.name, "arguments": tool.input_json}
        message["tool_calls"] = [{"id": tool_call_id(tool.id_suffix), "function": function}]
    return message


def response_text(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {"outputs": [{"text": outcome.text, "stop_reason": stop_reason(call)}]}


def response_chat(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    # The stop_reason vocabulary of chat completion on Bedrock is UNCONFIRMED (bedrock-wire.md 6.5);
    # AWS's docs show Mistral's own: stop | length | tool_calls.
    return {"choices": [{"index": 0, "message": _message(call, outcome.text), "stop_reason": stop_reason(call)}]}


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
    # clients also read a ``delta``; AWS's docs only describe ``message``). A tool call comes
    # whole in the last chunk, with stop reason tool_calls (UNCONFIRMED against a capture).
    def payload(text: str, stop: str | None) -> dict[str, Any]:
        message = _message(call, text) if stop is not None else {"role": "assistant", "content": text}
        return {"choices": [{"index": 0, "message": message, "stop_reason": stop}]}

    return _chunks(call, payload)


TEXT = SimpleNamespace(parse=parse_text, response=response_text, stream_chunks=stream_chunks_text)
CHAT = SimpleNamespace(parse=parse_chat, response=response_chat, stream_chunks=stream_chunks_chat)

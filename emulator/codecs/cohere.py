"""Cohere Command R / R+ bodies (Cohere chat v1) for InvokeModel and its stream, with Cohere's
native tool use: ``tools`` with ``parameter_definitions`` in, ``tool_calls`` out (and a
``tool-calls-generation`` stream event), ``tool_results`` in a later turn answered in text."""

from __future__ import annotations

import json
import re
import uuid
from functools import lru_cache
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs import converse
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.prompt import Prompt
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas
from emulator.engine.engine import Call
from emulator.engine.toolgen import ToolDef

_UNIT = {"type": "number", "minimum": 0, "maximum": 1}
_OBJECTS = {"type": "array", "items": {"type": "object"}}
_TOOLS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "parameter_definitions": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"type": "string"},
                        "description": {"type": "string"},
                        "required": {"type": "boolean"},
                    },
                },
            },
        },
    },
}
# Cohere names parameter types the Python way (str, int, List[str], Dict[str, int], ...).
_JSON_TYPES = {
    "str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
    "number": "number", "bool": "boolean", "boolean": "boolean", "list": "array", "array": "array",
    "dict": "object", "object": "object",
}
_GENERIC = re.compile(r"^\s*(\w+)\s*(?:\[(.*)\])?\s*$")


@lru_cache(maxsize=8)
def schema(max_tokens: int) -> BodySchema:
    """Parameter ranges from AWS's Command R / R+ parameter page; only ``message`` is required."""
    return BodySchema(
        {
            "type": "object",
            "required": ["message"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string"},
                "chat_history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["role"],
                        "properties": {
                            "role": {"type": "string", "enum": ["USER", "CHATBOT", "SYSTEM", "TOOL"]},
                            "message": {"type": "string"},
                        },
                    },
                },
                "documents": {"type": "array", "items": {"type": "object"}},
                "search_queries_only": {"type": "boolean"},
                "preamble": {"type": "string"},
                "max_tokens": {"type": "integer", "minimum": 1, "maximum": max_tokens},
                "temperature": _UNIT,
                "p": {"type": "number", "minimum": 0.01, "maximum": 0.99},
                "k": {"type": "number", "minimum": 0, "maximum": 500},
                "prompt_truncation": {"type": "string", "enum": ["OFF", "AUTO_PRESERVE_ORDER"]},
                "frequency_penalty": _UNIT,
                "presence_penalty": _UNIT,
                "seed": {"type": "integer"},
                "return_prompt": {"type": "boolean"},
                "tools": _TOOLS,
                "tool_results": _OBJECTS,
                "stop_sequences": {"type": "array", "maxItems": 4, "items": {"type": "string"}},
                "raw_prompting": {"type": "boolean"},
            },
        }
    )


def parse(raw: bytes, model: ModelSpec) -> Prompt:
    """A Command R body -> Prompt, or the Malformed input request error."""
    body = load_body(raw)
    schema(model.max_output_tokens).check(body)
    # AWS documents max_tokens' default as its maximum (4,000).
    prompt = Prompt(
        max_tokens=body.get("max_tokens", model.max_output_tokens),
        temperature=body.get("temperature"),
        top_p=body.get("p"),
    )
    if body.get("preamble"):
        prompt.system.append(body["preamble"])
    # Grounding documents and tool results are prompt text too: they count as their JSON. Tools
    # are billed as tool definitions, as Converse bills them.
    for key in ("documents", "tool_results"):
        if body.get(key):
            prompt.system.append(json.dumps(body[key], ensure_ascii=False))
    for turn in body.get("chat_history") or []:
        prompt.turns.append((turn["role"].lower(), turn.get("message", "")))
    prompt.turns.append(("user", body["message"]))
    if body.get("tools"):
        converse.check_tool_support(model)
        converse.offer_tools(prompt, [ToolDef(t["name"], t.get("description", ""), input_schema(t))
                                      for t in body["tools"]])
    # With tool_results the model answers the user in text.
    prompt.after_tool_result = bool(body.get("tool_results"))
    prompt.stop_sequences = list(body.get("stop_sequences") or [])
    return prompt


def json_type(cohere_type: str) -> dict[str, Any]:
    """A JSON schema for a Cohere parameter type; an unknown type takes any value."""
    found = _GENERIC.match(cohere_type)
    if found is None:
        return {}
    kind = _JSON_TYPES.get(found.group(1).lower())
    inner = found.group(2)
    if kind == "array" and inner:
        return {"type": "array", "items": json_type(inner)}
    if kind == "object" and inner and "," in inner:
        return {"type": "object", "additionalProperties": json_type(inner.split(",", 1)[1])}
    return {"type": kind} if kind else {}


def input_schema(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool's ``parameter_definitions`` as the JSON schema of its call's parameters."""
    properties, required = {}, []
    for name, definition in (tool.get("parameter_definitions") or {}).items():
        prop = json_type(definition["type"])
        if definition.get("description"):
            prop["description"] = definition["description"]
        properties[name] = prop
        if definition.get("required"):
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _tool_calls(call: Call) -> list[dict[str, Any]]:
    tool = call.outcome.tool_call  # type: ignore[union-attr]
    return [] if tool is None else [{"name": tool.name, "parameters": tool.input}]


def _id(call: Call, kind: str) -> str:
    """A stable UUID per request and kind (the response and generation ids differ)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{call.request_id}/{kind}"))


def finish_reason(call: Call) -> str:
    # A stop sequence ends a generation as COMPLETE: AWS's list for Command R has no other name.
    # So does a tool call (Cohere chat v1 has no tool-call finish reason).
    return "MAX_TOKENS" if call.outcome.stop_reason == "max_tokens" else "COMPLETE"  # type: ignore[union-attr]


def response(call: Call) -> dict[str, Any]:
    # Field set follows AWS's docs and Cohere chat v1 (UNCONFIRMED against a live capture,
    # bedrock-wire.md 6.6). ``chat_history`` is left out: the request is not kept past parsing,
    # and Cohere sends it only as an echo of what the caller already has.
    outcome = call.outcome
    assert outcome is not None
    tokens = {"input_tokens": call.record.input_tokens, "output_tokens": outcome.output_tokens}
    body: dict[str, Any] = {
        "response_id": _id(call, "response"),
        "text": outcome.text,
        "generation_id": _id(call, "generation"),
        "finish_reason": finish_reason(call),
    }
    calls = _tool_calls(call)
    if calls:
        body["tool_calls"] = calls
    body["meta"] = {"api_version": {"version": "1"}, "billed_units": tokens, "tokens": dict(tokens)}
    return body


def stream_chunks(call: Call) -> list[StreamEvent]:
    """Cohere's native chat stream: stream-start, text-generation per delta, a
    tool-calls-generation event when the answer calls a tool, stream-end."""
    outcome = call.outcome
    assert outcome is not None
    events = [StreamEvent(0, "chunk", {
        "is_finished": False, "event_type": "stream-start", "generation_id": _id(call, "generation"),
    })]
    for text, done in deltas(outcome.pieces()):
        events.append(StreamEvent(done, "chunk", {
            "is_finished": False, "event_type": "text-generation", "text": text,
        }, content=True))
    calls = _tool_calls(call)
    if calls:
        # Cohere chat v1's event carries the calls whole, with the text generated before them.
        events.append(StreamEvent(outcome.output_tokens, "chunk", {
            "is_finished": False, "event_type": "tool-calls-generation", "text": outcome.text, "tool_calls": calls,
        }, content=True))
    events.append(StreamEvent(outcome.output_tokens, "chunk", {
        "is_finished": True,
        "event_type": "stream-end",
        "finish_reason": finish_reason(call),
        "response": response(call),
        "amazon-bedrock-invocationMetrics": invocation_metrics(call),
    }))
    return events

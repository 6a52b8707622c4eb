"""Amazon Nova ``messages-v1`` bodies for InvokeModel and its stream.

Nova behind InvokeModel is the Converse runtime: its body is Converse's request as JSON (with
``toolConfig`` in Converse's shape), and its answers are Converse's. So tool use goes through
Converse's own functions: the conversation and toolConfig rules, the tools and tool choice put
into the ``Prompt``, the ``toolUse`` content block, and the stream's tool-use events, each
wrapped in its own chunk.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs import converse
from emulator.codecs.anthropic import invocation_metrics
from emulator.codecs.converse import MUST_ALTERNATE, MUST_START_WITH_USER
from emulator.codecs.prompt import IMAGE_TOKENS, Prompt, alternation_problem
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent
from emulator.engine.engine import Call
from emulator.wire.errors import validation

_BLOCK_KINDS = ("text", "image", "video", "document", "toolUse", "toolResult", "reasoningContent", "cachePoint")
# Tool blocks and toolConfig follow Converse's shapes (its service model's required members), so
# Converse's rules can read them; anything else is refused as malformed before they run.
_TOOL_USE = {
    "type": "object",
    "required": ["toolUseId", "name", "input"],
    "properties": {"toolUseId": {"type": "string"}, "name": {"type": "string"}},
}
_TOOL_RESULT = {
    "type": "object",
    "required": ["toolUseId", "content"],
    "properties": {"toolUseId": {"type": "string"}, "content": {"type": "array", "items": {"type": "object"}}},
}
_BLOCK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{kind: {"type": "string" if kind == "text" else "object"} for kind in _BLOCK_KINDS},
        "toolUse": _TOOL_USE,
        "toolResult": _TOOL_RESULT,
    },
}
_TOOL_SPEC = {
    "type": "object",
    "required": ["name", "inputSchema"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "inputSchema": {
            "type": "object",
            "required": ["json"],
            "additionalProperties": False,
            "properties": {"json": {"type": "object"}},
        },
        "strict": {"type": "boolean"},
    },
}
_TOOL_CONFIG = {
    "type": "object",
    "required": ["tools"],
    "additionalProperties": False,
    "properties": {
        "tools": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "toolSpec": _TOOL_SPEC,
                    "systemTool": {"type": "object"},
                    "cachePoint": {"type": "object"},
                },
            },
        },
        # A union: auto, any, or one named tool.
        "toolChoice": {
            "type": "object",
            "additionalProperties": False,
            "maxProperties": 1,
            "properties": {
                "auto": {"type": "object"},
                "any": {"type": "object"},
                "tool": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            },
        },
    },
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
                "toolConfig": _TOOL_CONFIG,
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
    # Then Converse's rules on the conversation (blank or empty content, tool blocks without a
    # toolConfig, toolResults that answer no toolUse) and on the toolConfig, in Converse's order.
    # That the Nova runtime applies them to InvokeModel bodies too is UNCONFIRMED.
    tool_config = body.get("toolConfig")
    converse.check_messages(messages, tool_config is not None)
    if tool_config is not None:
        converse.check_tool_config(tool_config, model)
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
    if tool_config is not None:
        # Converse's reading of the toolConfig: the tools offered (billed as input), toolChoice.
        offered = converse.to_prompt([], None, tool_config)
        prompt.tools, prompt.tool_choice, prompt.tool_name = offered.tools, offered.tool_choice, offered.tool_name
    last = messages[-1]
    prompt.after_tool_result = last["role"] == "user" and any("toolResult" in b for b in last["content"])
    prompt.stop_sequences = list(config.get("stopSequences") or [])
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
        # Text, or a toolUse block (after any text) when the answer calls a tool, as Converse has it.
        "output": {"message": {"role": "assistant", "content": converse.content_blocks(outcome)}},
        "stopReason": outcome.stop_reason,
        "usage": usage,
    }


def stream_chunks(call: Call) -> list[StreamEvent]:
    """ConverseStream's events, each wrapped by its name in its own chunk: text deltas, or a tool
    block (contentBlockStart, partial-JSON input deltas, contentBlockStop), then messageStop and
    Nova's own metadata chunk."""
    outcome = call.outcome
    assert outcome is not None
    events = []
    for event in converse.stream_events(call):
        if event.event_type == "metadata":
            continue  # Converse's; Nova's follows
        payload = event.payload
        if event.event_type == "contentBlockDelta":  # Nova's key order: the delta, then its index
            payload = {"delta": payload["delta"], "contentBlockIndex": payload["contentBlockIndex"]}
        events.append(StreamEvent(event.tokens, "chunk", {event.event_type: payload}, event.content))
    # The metadata chunk's exact shape is UNCONFIRMED; this follows AWS sample output
    # (bedrock-wire.md 6.3): usage without totals, empty metrics and trace, then the metrics.
    usage = _usage(call)
    del usage["totalTokens"]
    events.append(StreamEvent(outcome.output_tokens, "chunk", {
        "metadata": {"usage": usage, "metrics": {}, "trace": {}},
        "amazon-bedrock-invocationMetrics": invocation_metrics(call),
    }))
    return events

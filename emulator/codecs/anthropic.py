"""Anthropic Claude Messages bodies for InvokeModel and InvokeModelWithResponseStream."""

from __future__ import annotations

import json
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.prompt import IMAGE_TOKENS, Prompt, alternation_problem
from emulator.codecs.schema import BodySchema, load_body
from emulator.codecs.stream import StreamEvent, deltas, json_deltas
from emulator.engine.engine import Call, Outcome
from emulator.engine.tokens import count_tokens
from emulator.engine.toolgen import ToolDef
from emulator.wire.errors import validation

_TEXT_BLOCK = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
# Anthropic's own stop_sequences count limit is undocumented; 8191 is the cap this emulator
# assumes for Claude on Bedrock (UNCONFIRMED). Converse's own cap, 2500, is in the service model.
MAX_STOP_SEQUENCES = 8191
_TOOL = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "type": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "input_schema": {"type": "object"},
    },
}
_TOOL_CHOICE = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["auto", "any", "tool", "none"]},
        "name": {"type": "string"},
        "disable_parallel_tool_use": {"type": "boolean"},
    },
    "if": {"properties": {"type": {"const": "tool"}}, "required": ["type"]},
    "then": {"required": ["name"]},
}
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
            "stop_sequences": {"type": "array", "maxItems": MAX_STOP_SEQUENCES, "items": {"type": "string"}},
            "tools": {"type": "array", "items": _TOOL},
            "tool_choice": _TOOL_CHOICE,
            "metadata": {"type": "object"},
            "thinking": {"type": "object"},
        },
    }
)

# Anthropic's own wording, which Bedrock passes through as a ValidationException.
FIRST_MUST_BE_USER = 'messages: first message must use the "user" role'
ROLES_MUST_ALTERNATE = 'messages: roles must alternate between "user" and "assistant"'
TEXT_MUST_BE_NON_EMPTY = "messages: text content blocks must be non-empty"
TEXT_MUST_NOT_BE_WHITESPACE = "messages: text content blocks must contain non-whitespace text"
TOOL_CHOICE_WITHOUT_TOOLS = "tool_choice may only be specified while providing tools."


def empty_content(i: int) -> str:
    """Bedrock's own check (the Converse wording), seen on InvokeModel with ``content: []`` too."""
    return (
        f"The content field in the Message object at messages.{i} is empty. "
        "Add a ContentBlock object to the content field and try again."
    )


def unanswered_tool_use(i: int, ids: list[str]) -> str:
    return (
        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def unexpected_tool_result(i: int, j: int, tool_id: str) -> str:
    return (
        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_id}. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
    )


def schema_not_object(k: int) -> str:
    return f"tools.{k}.custom.input_schema.type: Input should be 'object'"


def unknown_tool_choice(name: str) -> str:
    # UNCONFIRMED wording: no capture of the reply to a tool_choice naming an absent tool.
    return f"tool_choice.name: Tool '{name}' not found in tools"


def _blocks(content: Any) -> list[Any]:
    return content if isinstance(content, list) else []


def _content_text(content: Any) -> tuple[str, int]:
    if isinstance(content, str):
        return content, 0
    texts, extra = [], 0
    for block in _blocks(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image":
            extra += IMAGE_TOKENS
        elif kind == "tool_use":
            texts.append(json.dumps(block.get("input", {})))
        elif kind == "tool_result":
            inner, more = _content_text(block.get("content", ""))
            texts.append(inner)
            extra += more
    return "\n".join(t for t in texts if t), extra


def _ids(content: Any, kind: str, key: str) -> list[Any]:
    return [b.get(key) for b in _blocks(content) if isinstance(b, dict) and b.get("type") == kind]


def _check_messages(messages: list[dict[str, Any]]) -> None:
    """Claude's content rules: no empty or blank text, and every tool_use answered in the next
    turn by a tool_result (and no tool_result without its tool_use)."""
    for i, message in enumerate(messages):
        content = message["content"]
        if content == []:
            raise validation(empty_content(i))
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if block.get("type") == "text":
                text = block.get("text")
                if text == "" or text is None:
                    raise validation(TEXT_MUST_BE_NON_EMPTY)
                if isinstance(text, str) and not text.strip():
                    raise validation(TEXT_MUST_NOT_BE_WHITESPACE)
    for i, message in enumerate(messages):
        if message["role"] == "assistant" and i + 1 < len(messages):
            answered = _ids(messages[i + 1]["content"], "tool_result", "tool_use_id")
            missing = [t for t in _ids(message["content"], "tool_use", "id") if t not in answered]
            if missing:
                raise validation(unanswered_tool_use(i, [str(t) for t in missing]))
        if message["role"] == "user":
            asked = _ids(messages[i - 1]["content"], "tool_use", "id") if i > 0 else []
            for j, block in enumerate(_blocks(message["content"])):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    if block.get("tool_use_id") not in asked:
                        raise validation(unexpected_tool_result(i, j, str(block.get("tool_use_id"))))


def _tools(body: dict[str, Any]) -> list[ToolDef]:
    tools = []
    for k, tool in enumerate(body.get("tools") or []):
        if tool.get("type", "custom") != "custom" and "input_schema" not in tool:
            continue  # a server tool (bash, text editor, ...): Anthropic defines its input
        if "input_schema" not in tool:
            raise validation(f"tools.{k}.custom.input_schema: Field required")
        schema = tool["input_schema"]
        if schema.get("type") != "object":
            raise validation(schema_not_object(k))
        tools.append(ToolDef(tool["name"], tool.get("description", ""), schema))
    return tools


def parse(raw: bytes, model: ModelSpec) -> Prompt:
    body = load_body(raw)
    SCHEMA.check(body)
    problem = alternation_problem([m["role"] for m in body["messages"]])
    if problem == "start":
        raise validation(FIRST_MUST_BE_USER)
    if problem == "alternate":
        raise validation(ROLES_MUST_ALTERNATE)
    _check_messages(body["messages"])
    tools = _tools(body)
    choice = body.get("tool_choice") or {"type": "auto"}
    # Anthropic refuses a tool_choice with no tools; "none" with no tools is taken as meaning none
    # (UNCONFIRMED which way the API goes for that one).
    if "tool_choice" in body and not body.get("tools") and choice["type"] != "none":
        raise validation(TOOL_CHOICE_WITHOUT_TOOLS)
    if choice["type"] == "tool" and choice["name"] not in {t.get("name") for t in body.get("tools") or []}:
        raise validation(unknown_tool_choice(choice["name"]))
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
    prompt.tools, prompt.tool_choice, prompt.tool_name = tools, choice["type"], choice.get("name")
    last = body["messages"][-1]
    prompt.after_tool_result = last["role"] == "user" and bool(_ids(last["content"], "tool_result", "tool_use_id"))
    return prompt


def model_name(model: ModelSpec) -> str:
    """``anthropic.claude-3-haiku-20240307-v1:0`` -> ``claude-3-haiku-20240307``."""
    name = model.model_id.split(".", 1)[-1]
    return name.rsplit("-v", 1)[0]


def _message_id(call: Call) -> str:
    return "msg_bdrk_" + call.request_id.replace("-", "")[:24]


def tool_use_id(suffix: str) -> str:
    """Claude on Bedrock names a tool call ``toolu_bdrk_01`` + 22 characters."""
    return "toolu_bdrk_01" + suffix


def _content(outcome: Outcome) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = outcome.text
    call = outcome.tool_call
    if text or call is None:
        blocks.append({"type": "text", "text": text})
    if call is not None:
        blocks.append({"type": "tool_use", "id": tool_use_id(call.id_suffix), "name": call.name, "input": call.input})
    return blocks


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {
        "id": _message_id(call),
        "type": "message",
        "role": "assistant",
        "model": model_name(call.invocation.model),
        "content": _content(outcome),
        "stop_reason": outcome.stop_reason,
        "stop_sequence": outcome.stop_sequence,
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
    events = [StreamEvent(0, "chunk", start)]
    tool = outcome.tool_call
    index, done = 0, 0
    text_deltas = deltas(outcome.pieces())
    if text_deltas or tool is None:
        events.append(StreamEvent(0, "chunk", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
        for text, done in text_deltas:
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
            events.append(StreamEvent(done, "chunk", delta, content=True))
        events.append(StreamEvent(done if tool else total, "chunk", {"type": "content_block_stop", "index": 0}))
        index = 1
    if tool is not None:
        head = total - count_tokens(tool.input_json)  # the name and framing come first
        block = {"type": "tool_use", "id": tool_use_id(tool.id_suffix), "name": tool.name, "input": {}}
        events.append(StreamEvent(head, "chunk", {"type": "content_block_start", "index": index,
                                                  "content_block": block}))
        # Claude opens a tool block's input with an empty partial_json.
        for piece, at in [("", head), *json_deltas(tool.input_json, head)]:
            delta = {"type": "content_block_delta", "index": index,
                     "delta": {"type": "input_json_delta", "partial_json": piece}}
            events.append(StreamEvent(at, "chunk", delta, content=bool(piece)))
        events.append(StreamEvent(total, "chunk", {"type": "content_block_stop", "index": index}))
    events.append(StreamEvent(total, "chunk", {
        "type": "message_delta",
        "delta": {"stop_reason": outcome.stop_reason, "stop_sequence": outcome.stop_sequence},
        "usage": {"output_tokens": total},
    }))
    events.append(StreamEvent(total, "chunk", {
        "type": "message_stop", "amazon-bedrock-invocationMetrics": invocation_metrics(call),
    }))
    return events

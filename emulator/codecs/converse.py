"""Converse and ConverseStream: the model-agnostic message API."""

from __future__ import annotations

import base64
import json
from typing import Any

from emulator.catalog import ModelSpec
from emulator.codecs.prompt import IMAGE_TOKENS, Prompt, alternation_problem
from emulator.codecs.stream import StreamEvent, deltas, json_deltas
from emulator.engine.engine import Call, Outcome
from emulator.engine.tokens import count_tokens
from emulator.engine.toolgen import ToolDef
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
TOOL_CONFIG_REQUIRED = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
# A toolConfig sent to a model without tool use (Titan Text, Mistral 7B, Mixtral). The wording is
# as client reports quote it; UNCONFIRMED against a capture (whether a trailing hint follows).
TOOL_USE_UNSUPPORTED = "This model doesn't support tool use."


def blank_text(i: int, j: int) -> str:
    # Positions count from 0 here, unlike the service-model validator's "messages.1.member".
    return (
        f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. "
        "Add text to the text field, and try again."
    )


def empty_content(i: int) -> str:
    return (
        f"The content field in the Message object at messages.{i} is empty. "
        "Add a ContentBlock object to the content field and try again."
    )


def too_many_tool_results(i: int) -> str:
    return (
        f"The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse "
        "blocks of previous turn."
    )


def missing_tool_results(i: int, ids: list[str]) -> str:
    # The separator between several ids is UNCONFIRMED (client reports quote one id at a time).
    return f"Expected toolResult blocks at messages.{i}.content for the following Ids: {', '.join(ids)}"


def schema_not_object(k: int) -> str:
    return f"The value at toolConfig.tools.{k}.toolSpec.inputSchema.json.type must be one of the following: object."


def unknown_tool_choice(name: str) -> str:
    # UNCONFIRMED wording: no capture of Bedrock's reply to a toolChoice naming an absent tool.
    return (
        f"The tool {name} in toolConfig.toolChoice.tool.name isn't defined in toolConfig.tools. "
        "Specify a tool that is defined in toolConfig.tools and try again."
    )


def tool_choice_unsupported(kind: str) -> str:
    return (
        f"This model doesn't support the toolConfig.toolChoice.{kind} field. "
        f"Remove toolConfig.toolChoice.{kind} and try again."
    )


# Model families whose Converse tool use takes only toolChoice auto (Meta Llama, per client reports).
_AUTO_CHOICE_ONLY = frozenset({"meta"})


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


def to_prompt(
    messages: list[dict[str, Any]], system: list[dict[str, Any]] | None, tool_config: dict[str, Any] | None = None
) -> Prompt:
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
    if tool_config:
        choice = tool_config.get("toolChoice") or {"auto": {}}
        offer_tools(prompt, _tools(tool_config), next(iter(choice), "auto"), (choice.get("tool") or {}).get("name"))
    if messages and messages[-1].get("role") == "user":
        prompt.after_tool_result = any("toolResult" in b for b in messages[-1].get("content", []))
    return prompt


def offer_tools(prompt: Prompt, tools: list[ToolDef], choice: str = "auto", name: str | None = None) -> None:
    """Put the tools offered, whatever their wire format, into the prompt: they are billed as input
    and the engine's seeded tool-call decision reads them (choice: auto | any | tool | none)."""
    prompt.tools, prompt.tool_choice, prompt.tool_name = tools, choice, name


def _tools(tool_config: dict[str, Any]) -> list[ToolDef]:
    tools = []
    for tool in tool_config.get("tools") or []:
        spec = tool.get("toolSpec")
        if spec:
            schema = (spec.get("inputSchema") or {}).get("json", {})
            tools.append(ToolDef(spec["name"], spec.get("description", ""), schema))
    return tools


def _ids(content: list[dict[str, Any]], kind: str) -> list[str]:
    return [block[kind]["toolUseId"] for block in content if kind in block]


def check_messages(messages: list[dict[str, Any]], has_tool_config: bool) -> None:
    """The body rules Bedrock applies to the conversation itself. Which one Bedrock reports first
    when several are broken is not known; this order is fixed, so the answer is stable."""
    uses_tools = False
    for i, message in enumerate(messages):
        content = message.get("content") or []
        if not content:
            raise validation(empty_content(i))
        for j, block in enumerate(content):
            if "text" in block and not block["text"].strip():
                raise validation(blank_text(i, j))
            uses_tools = uses_tools or "toolUse" in block or "toolResult" in block
    if uses_tools and not has_tool_config:
        raise validation(TOOL_CONFIG_REQUIRED)
    # Which of the two tool-pairing messages a mismatch gets is inferred from client reports:
    # more results than the previous turn's calls -> "exceeds"; otherwise the unanswered calls,
    # then results that answer no call of the previous turn (an orphan at messages.0 included).
    for i, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        results = _ids(message["content"], "toolResult")
        asked = _ids(messages[i - 1]["content"], "toolUse") if i > 0 else []
        if not results and not asked:
            continue
        if asked and len(results) > len(asked):
            raise validation(too_many_tool_results(i))
        unmatched = [t for t in asked if t not in results] + [t for t in results if t not in asked]
        if unmatched:
            raise validation(missing_tool_results(i, unmatched))


def check_tool_support(model: ModelSpec) -> None:
    """Refuse tools offered to a model that has no tool use (any door, any body format)."""
    if not model.tool_use:
        raise validation(TOOL_USE_UNSUPPORTED)


def check_tool_config(tool_config: dict[str, Any], model: ModelSpec) -> None:
    check_tool_support(model)
    names = set()
    for k, tool in enumerate(tool_config.get("tools") or []):
        spec = tool.get("toolSpec")
        if not spec:
            continue
        names.add(spec["name"])
        schema = (spec.get("inputSchema") or {}).get("json")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise validation(schema_not_object(k))
    choice = tool_config.get("toolChoice") or {}
    kind = next(iter(choice), "auto")
    if kind in ("any", "tool") and model.family in _AUTO_CHOICE_ONLY:
        raise validation(tool_choice_unsupported(kind))
    if kind == "tool" and choice["tool"]["name"] not in names:
        raise validation(unknown_tool_choice(choice["tool"]["name"]))


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
    tool_config = params.get("toolConfig")
    check_messages(messages, tool_config is not None)
    if tool_config is not None:
        check_tool_config(tool_config, model)
    config = params.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and max_tokens > model.max_output_tokens:
        raise validation(max_tokens_exceeded(model.max_output_tokens))
    prompt = to_prompt(messages, params.get("system"), tool_config)
    prompt.max_tokens = max_tokens or model.max_output_tokens
    prompt.temperature = config.get("temperature")
    prompt.top_p = config.get("topP")
    prompt.stop_sequences = list(config.get("stopSequences") or [])
    return prompt


def _usage(call: Call) -> dict[str, int]:
    i, o = call.record.input_tokens, call.outcome.output_tokens  # type: ignore[union-attr]
    return {"inputTokens": i, "outputTokens": o, "totalTokens": i + o}


def _latency_ms(call: Call) -> int:
    return max(1, round(call.record.latency_s * 1000))


def tool_use_id(suffix: str) -> str:
    """Converse names a tool call ``tooluse_`` + 22 characters, whatever the model."""
    return "tooluse_" + suffix


def content_blocks(outcome: Outcome) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = outcome.text
    call = outcome.tool_call
    if text or call is None:
        blocks.append({"text": text})
    if call is not None:
        blocks.append({"toolUse": {"toolUseId": tool_use_id(call.id_suffix), "name": call.name, "input": call.input}})
    return blocks


def response(call: Call) -> dict[str, Any]:
    outcome = call.outcome
    assert outcome is not None
    return {
        "output": {"message": {"role": "assistant", "content": content_blocks(outcome)}},
        "stopReason": outcome.stop_reason,
        "usage": _usage(call),
        "metrics": {"latencyMs": _latency_ms(call)},
    }


def stream_events(call: Call) -> list[StreamEvent]:
    outcome = call.outcome
    assert outcome is not None
    total = outcome.output_tokens
    tool = outcome.tool_call
    events = [StreamEvent(0, "messageStart", {"role": "assistant"})]
    index, done = 0, 0
    text_deltas = deltas(outcome.pieces())
    if text_deltas or tool is None:
        for text, done in text_deltas:
            events.append(
                StreamEvent(done, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}, True)
            )
        events.append(StreamEvent(done if tool else total, "contentBlockStop", {"contentBlockIndex": 0}))
        index = 1
    if tool is not None:
        # Tool blocks open with contentBlockStart; their input arrives as partial JSON strings.
        start = {"toolUse": {"toolUseId": tool_use_id(tool.id_suffix), "name": tool.name}}
        head = total - count_tokens(tool.input_json)  # the name and framing come first
        events.append(StreamEvent(head, "contentBlockStart", {"start": start, "contentBlockIndex": index}))
        for piece, at in json_deltas(tool.input_json, head):
            delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}
            events.append(StreamEvent(at, "contentBlockDelta", delta, True))
        events.append(StreamEvent(total, "contentBlockStop", {"contentBlockIndex": index}))
    events.append(StreamEvent(total, "messageStop", {"stopReason": outcome.stop_reason}))
    events.append(
        StreamEvent(total, "metadata", {"usage": _usage(call), "metrics": {"latencyMs": _latency_ms(call)}})
    )
    return events

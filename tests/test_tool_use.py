"""Tool use and stop sequences through real boto3 clients, on both doors: Converse, ConverseStream,
InvokeModel and InvokeModelWithResponseStream (Anthropic bodies).

Tool inputs are checked against the tool's JSON schema with ``jsonschema``; stream deltas must
concatenate to the final input; usage, headers and the ledger must agree on every count.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from jsonschema import Draft7Validator

from emulator.engine.tokens import count_tokens
from emulator.engine.toolgen import TOOL_CALL_FRAMING, instance
from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, Door
from tests.test_operations import check_output, check_shape, stream_event_shapes

CONVERSE_ID = re.compile(r"^tooluse_[A-Za-z0-9]{22}$")
ANTHROPIC_ID = re.compile(r"^toolu_bdrk_01[A-Za-z0-9]{22}$")

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2, "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "detailed": {"type": "boolean"},
    },
    "required": ["city", "days"],
}
ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}, "name": {"type": "string", "maxLength": 12}},
            "required": ["email", "name"],
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string", "minLength": 8}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
            },
        },
        "discount": {"type": "number", "minimum": 0, "maximum": 0.5},
        "priority": {"type": ["string", "null"], "enum": ["low", "high", None]},
    },
    "required": ["customer", "items", "discount"],
}
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "place_order": ORDER_SCHEMA}

CONVERSE_TOOLS = [
    {"toolSpec": {"name": name, "description": f"The {name} tool.", "inputSchema": {"json": schema}}}
    for name, schema in SCHEMAS.items()
]
ANTHROPIC_TOOLS = [
    {"name": name, "description": f"The {name} tool.", "input_schema": schema} for name, schema in SCHEMAS.items()
]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def tool_config(choice: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"tools": CONVERSE_TOOLS}
    if choice is not None:
        config["toolChoice"] = choice
    return config


def anthropic_body(text: str = "What is the weather in Oslo?", max_tokens: int = 400, **extra: Any) -> bytes:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }
    return json.dumps(body).encode()


def assert_valid_input(name: str, value: Any) -> None:
    errors = list(Draft7Validator(SCHEMAS[name]).iter_errors(value))
    assert not errors, (name, value, [e.message for e in errors])


def call_tokens(name: str, value: Any, text: str = "") -> int:
    """What a tool call bills: its JSON input, its name and framing, and any text before it."""
    as_json = json.dumps(value, ensure_ascii=False)
    return count_tokens(text) + count_tokens(as_json) + count_tokens(name) + TOOL_CALL_FRAMING


def converse_tool_use(response: dict[str, Any]) -> dict[str, Any] | None:
    blocks = response["output"]["message"]["content"]
    uses = [b["toolUse"] for b in blocks if "toolUse" in b]
    assert len(uses) <= 1
    if uses:
        assert "toolUse" in blocks[-1]  # any text comes first
    return uses[0] if uses else None


def converse_text(response: dict[str, Any]) -> str:
    return "".join(b.get("text", "") for b in response["output"]["message"]["content"])


def stream_chunks(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


# -- the schema instance generator ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_generated_inputs_validate_against_their_schemas(seed: int) -> None:
    rng = random.Random(seed)
    extra_schemas: list[dict[str, Any]] = [
        {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 6}},
         "required": ["n"]},
        {"type": "object", "properties": {"x": {"type": "number", "multipleOf": 5, "minimum": 12, "maximum": 40}},
         "required": ["x"]},
        {"type": "object", "required": ["tags"], "properties": {
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True, "minItems": 2}}},
        {"type": "object", "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer"}},
                                            "required": ["x"]}},
         "properties": {"from": {"$ref": "#/$defs/pt"}, "to": {"$ref": "#/$defs/pt"}}, "required": ["from", "to"]},
        {"type": "object", "properties": {"when": {"type": "string", "format": "date"},
                                          "id": {"type": "string", "format": "uuid"},
                                          "mode": {"const": "fast"},
                                          "either": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                                          "both": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}},
                                                              "required": ["a"]},
                                                             {"properties": {"b": {"type": "boolean"}},
                                                              "required": ["b"]}]}},
         "required": ["when", "id", "mode", "either", "both"]},
    ]
    for schema in [WEATHER_SCHEMA, ORDER_SCHEMA, *extra_schemas]:
        value = instance(schema, rng)
        errors = [e.message for e in Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
                  .iter_errors(value)]
        assert not errors, (schema, value, errors)


def test_generated_inputs_are_seeded() -> None:
    draws = [[instance(ORDER_SCHEMA, random.Random(seed)) for seed in (1, 2, 3)] for _ in range(2)]
    assert draws[0] == draws[1]
    assert len({json.dumps(d, sort_keys=True) for d in draws[0]}) == 3


# -- Converse ---------------------------------------------------------------------------------------


def test_converse_tool_choice_any_calls_a_tool_with_a_valid_input(door: Door) -> None:
    client = door.client()
    names = set()
    for i in range(8):
        response = client.converse(
            modelId=CLAUDE_HAIKU, messages=user(f"Question {i}: help me."), toolConfig=tool_config({"any": {}}),
        )
        check_output(client, "Converse", response)
        assert response["stopReason"] == "tool_use"
        use = converse_tool_use(response)
        assert use is not None
        # Forced tool use is prefilled: no text before the call.
        assert response["output"]["message"]["content"] == [{"toolUse": use}]
        assert CONVERSE_ID.match(use["toolUseId"]), use["toolUseId"]
        assert_valid_input(use["name"], use["input"])
        names.add(use["name"])
        usage = response["usage"]
        assert usage["outputTokens"] == call_tokens(use["name"], use["input"])
        assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
        record = door.ledger.records[-1]
        assert (record.outcome, record.stop_reason) == ("ok", "tool_use")
        assert (record.input_tokens, record.output_tokens) == (usage["inputTokens"], usage["outputTokens"])
        assert record.cost_usd > 0
    assert names == set(SCHEMAS)  # "any" picks among the tools


def test_converse_tool_choice_tool_calls_the_named_tool(door: Door) -> None:
    client = door.client()
    for i in range(6):
        response = client.converse(
            modelId=CLAUDE_HAIKU,
            messages=user(f"Order number {i}, please."),
            toolConfig=tool_config({"tool": {"name": "place_order"}}),
        )
        use = converse_tool_use(response)
        assert use is not None and use["name"] == "place_order"
        assert response["stopReason"] == "tool_use"
        assert_valid_input("place_order", use["input"])


def auto_decisions(door: Door, n: int) -> list[str | None]:
    client = door.client()
    decisions = []
    for i in range(n):
        response = client.converse(
            modelId=CLAUDE_HAIKU, messages=user(f"Maybe use a tool, {i}?"), toolConfig=tool_config({"auto": {}}),
        )
        use = converse_tool_use(response)
        if use is None:
            assert response["stopReason"] in ("end_turn", "max_tokens")
            assert converse_text(response).strip()
        else:
            assert response["stopReason"] == "tool_use"
            assert_valid_input(use["name"], use["input"])
            text = converse_text(response)
            assert response["usage"]["outputTokens"] == call_tokens(use["name"], use["input"], text)
        decisions.append(None if use is None else use["name"])
    return decisions


def test_converse_tool_choice_auto_is_a_seeded_mix(door: Door) -> None:
    decisions = auto_decisions(door, 40)
    calls = sum(d is not None for d in decisions)
    # About half the answers call a tool (binomial(40, 0.5): 8..32 is beyond 3.5 sigma).
    assert 8 <= calls <= 32, decisions
    # The same seed from a fresh start makes the same choices.
    door.reset()
    assert auto_decisions(door, 40) == decisions


def test_converse_auto_after_a_tool_result_answers_with_text(door: Door) -> None:
    client = door.client()
    for i in range(8):
        messages = [
            *user(f"Weather in Oslo? ({i})"),
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather",
                                                           "input": {"city": "Oslo", "days": 1}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_abc",
                                                         "content": [{"json": {"temp": 4}}]}}]},
        ]
        response = door.client().converse(modelId=CLAUDE_HAIKU, messages=messages, toolConfig=tool_config())
        assert converse_tool_use(response) is None
        assert response["stopReason"] in ("end_turn", "max_tokens")
        assert converse_text(response).strip()
    # The tool definitions are billed as input, and CountTokens agrees with Converse.
    counted = client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": messages,
                                                                           "toolConfig": tool_config()}})
    assert counted["inputTokens"] == response["usage"]["inputTokens"]
    bare = client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": user(f"Weather in Oslo? ({i})")}})
    assert counted["inputTokens"] > bare["inputTokens"] + 100


def test_converse_tool_call_that_does_not_fit_max_tokens(door: Door) -> None:
    response = door.client().converse(
        modelId=CLAUDE_HAIKU, messages=user("Order!"), toolConfig=tool_config({"tool": {"name": "place_order"}}),
        inferenceConfig={"maxTokens": 5},
    )
    assert response["stopReason"] == "max_tokens"
    assert converse_tool_use(response) is None
    assert response["usage"]["outputTokens"] == 5 == count_tokens(converse_text(response))


def test_temperature_zero_repeats_the_same_tool_call(door: Door) -> None:
    client = door.client()
    uses = []
    for i in range(3):
        client.converse(modelId=CLAUDE_HAIKU, messages=user(f"noise {i}"), toolConfig=tool_config({"any": {}}))
        response = client.converse(
            modelId=CLAUDE_HAIKU, messages=user("Same prompt"), toolConfig=tool_config({"any": {}}),
            inferenceConfig={"temperature": 0.0},
        )
        uses.append(converse_tool_use(response))
    assert uses[0] is not None
    assert uses[0] == uses[1] == uses[2]  # the id too: it comes from the same seeded stream


def test_llama_calls_tools_through_converse(door: Door) -> None:
    response = door.client().converse(
        modelId=LLAMA_70B, messages=user("Weather?"), toolConfig={"tools": CONVERSE_TOOLS[:1]},
    )
    decisions = [converse_tool_use(response)]
    for i in range(11):
        decisions.append(converse_tool_use(door.client().converse(
            modelId=LLAMA_70B, messages=user(f"Weather {i}?"), toolConfig={"tools": CONVERSE_TOOLS[:1]},
        )))
    calls = [d for d in decisions if d is not None]
    assert 0 < len(calls) < 12
    for use in calls:
        assert_valid_input("get_weather", use["input"])


# -- ConverseStream ---------------------------------------------------------------------------------


def test_converse_stream_tool_use_events(door: Door) -> None:
    client = door.client()
    response = client.converse_stream(
        modelId=CLAUDE_HAIKU,
        messages=user("Weather in Lima?"),
        toolConfig=tool_config({"tool": {"name": "get_weather"}}),
    )
    shapes = stream_event_shapes(client, "ConverseStream")
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    for event, kind in zip(events, kinds, strict=True):
        check_shape(shapes[kind], event[kind], kind)
    n = kinds.count("contentBlockDelta")
    assert n >= 2
    assert kinds == ["messageStart", "contentBlockStart", *["contentBlockDelta"] * n,
                     "contentBlockStop", "messageStop", "metadata"]
    start = events[1]["contentBlockStart"]
    assert start["contentBlockIndex"] == 0
    tool = start["start"]["toolUse"]
    assert tool["name"] == "get_weather" and CONVERSE_ID.match(tool["toolUseId"])
    assert all(e["contentBlockDelta"]["contentBlockIndex"] == 0 for e in events[2 : 2 + n])
    partial = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events[2 : 2 + n])
    value = json.loads(partial)
    assert_valid_input("get_weather", value)
    assert partial == json.dumps(value, ensure_ascii=False)
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == call_tokens("get_weather", value)
    record = door.ledger.records[-1]
    assert record.streamed and record.stop_reason == "tool_use"
    assert (record.input_tokens, record.output_tokens) == (usage["inputTokens"], usage["outputTokens"])


def test_converse_stream_auto_sometimes_writes_a_preamble(door: Door) -> None:
    client = door.client()
    seen = {"text": 0, "preamble": 0, "bare": 0}
    for i in range(30):
        events = list(client.converse_stream(
            modelId=CLAUDE_HAIKU, messages=user(f"Maybe weather {i}?"), toolConfig=tool_config({"auto": {}}),
        )["stream"])
        stop = next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e)
        starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
        if stop != "tool_use":
            assert not starts
            seen["text"] += 1
            continue
        assert len(starts) == 1
        index = starts[0]["contentBlockIndex"]
        text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
        if index == 1:  # a text block first, closed before the tool block opens
            seen["preamble"] += 1
            assert "get_weather" in text or "place_order" in text
            stops = [e["contentBlockStop"]["contentBlockIndex"] for e in events if "contentBlockStop" in e]
            assert stops == [0, 1]
        else:
            seen["bare"] += 1
            assert text == ""
    assert all(seen.values()), seen


# -- InvokeModel / InvokeModelWithResponseStream (Anthropic) ----------------------------------------


def test_invoke_model_anthropic_tool_use(door: Door) -> None:
    client = door.client()
    for choice in ({"type": "any"}, {"type": "tool", "name": "get_weather"}):
        response = client.invoke_model(
            modelId=CLAUDE_HAIKU, body=anthropic_body(tools=ANTHROPIC_TOOLS, tool_choice=choice),
        )
        check_output(client, "InvokeModel", response)
        payload = json.loads(response["body"].read())
        assert payload["stop_reason"] == "tool_use" and payload["stop_sequence"] is None
        [block] = payload["content"]
        assert block["type"] == "tool_use" and ANTHROPIC_ID.match(block["id"]), block
        if choice["type"] == "tool":
            assert block["name"] == "get_weather"
        assert_valid_input(block["name"], block["input"])
        usage = payload["usage"]
        assert usage["output_tokens"] == call_tokens(block["name"], block["input"])
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        assert int(headers["x-amzn-bedrock-output-token-count"]) == usage["output_tokens"]
        assert int(headers["x-amzn-bedrock-input-token-count"]) == usage["input_tokens"]
        record = door.ledger.records[-1]
        assert (record.stop_reason, record.output_tokens) == ("tool_use", usage["output_tokens"])


def test_invoke_model_anthropic_tool_choice_none_and_auto(door: Door) -> None:
    client = door.client()
    kinds = {"none": set(), "auto": set()}
    for i in range(16):
        for choice in kinds:
            body = anthropic_body(f"Weather {i}?", tools=ANTHROPIC_TOOLS, tool_choice={"type": choice})
            payload = json.loads(client.invoke_model(modelId=CLAUDE_HAIKU, body=body)["body"].read())
            kinds[choice].add(payload["stop_reason"])
            types = [b["type"] for b in payload["content"]]
            if payload["stop_reason"] == "tool_use":
                assert types in (["tool_use"], ["text", "tool_use"])
                assert payload["usage"]["output_tokens"] == call_tokens(
                    payload["content"][-1]["name"], payload["content"][-1]["input"],
                    "".join(b.get("text", "") for b in payload["content"]),
                )
            else:
                assert types == ["text"]
    assert "tool_use" not in kinds["none"]
    assert "tool_use" in kinds["auto"] and kinds["auto"] - {"tool_use"}


def test_invoke_model_anthropic_after_tool_result_answers_with_text(door: Door) -> None:
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_bdrk_01x", "name": "get_weather",
                                           "input": {"city": "Oslo", "days": 2}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_bdrk_01x", "content": "4 C"}]},
    ]
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "messages": messages,
                       "tools": ANTHROPIC_TOOLS}).encode()
    for _ in range(6):
        payload = json.loads(door.client().invoke_model(modelId=CLAUDE_HAIKU, body=body)["body"].read())
        assert payload["stop_reason"] in ("end_turn", "max_tokens")
        assert [b["type"] for b in payload["content"]] == ["text"]


def test_invoke_model_with_response_stream_anthropic_tool_use(door: Door) -> None:
    client = door.client()
    response = client.invoke_model_with_response_stream(
        modelId=CLAUDE_HAIKU,
        body=anthropic_body(tools=ANTHROPIC_TOOLS, tool_choice={"type": "tool", "name": "place_order"}),
    )
    chunks = stream_chunks(response)
    types = [c["type"] for c in chunks]
    n = types.count("content_block_delta")
    assert types == ["message_start", "content_block_start", *["content_block_delta"] * n,
                     "content_block_stop", "message_delta", "message_stop"]
    block = chunks[1]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "place_order" and block["input"] == {}
    assert ANTHROPIC_ID.match(block["id"])
    deltas = [c["delta"] for c in chunks[2 : 2 + n]]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    partial = "".join(d["partial_json"] for d in deltas)
    value = json.loads(partial)
    assert_valid_input("place_order", value)
    assert chunks[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    output = chunks[-2]["usage"]["output_tokens"]
    assert output == call_tokens("place_order", value)
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == output
    record = door.ledger.records[-1]
    assert record.streamed and (record.stop_reason, record.output_tokens) == ("tool_use", output)


# -- stop sequences ---------------------------------------------------------------------------------


def test_converse_stop_sequences_cut_the_answer(door: Door) -> None:
    client = door.client()
    stops = ["zebra", "####"]  # never in the generated vocabulary: every stop is the model's choice
    reasons = []
    for i in range(30):
        response = client.converse(
            modelId=CLAUDE_HAIKU, messages=user(f"Tell me something {i}."), inferenceConfig={"stopSequences": stops},
        )
        text = converse_text(response)
        reasons.append(response["stopReason"])
        assert not any(s in text for s in stops)
        assert response["usage"]["outputTokens"] == count_tokens(text)
        assert door.ledger.records[-1].stop_reason == response["stopReason"]
    cut = reasons.count("stop_sequence")
    assert 5 <= cut <= 25, reasons  # about half, seeded
    assert set(reasons) - {"stop_sequence"} <= {"end_turn", "max_tokens"}


def test_stop_sequence_the_text_contains_always_stops_it(door: Door) -> None:
    client = door.client()
    for i in range(10):
        response = client.converse(
            modelId=CLAUDE_HAIKU, messages=user(f"Sentences {i}."), inferenceConfig={"stopSequences": ["."]},
        )
        text = converse_text(response)
        assert "." not in text
        assert response["usage"]["outputTokens"] == count_tokens(text)
    # Answers run for several sentences, so the first full stop ends nearly all of them.
    reasons = [r.stop_reason for r in door.ledger.records]
    assert reasons.count("stop_sequence") >= 8, reasons


def test_converse_stream_stop_sequence(door: Door) -> None:
    client = door.client()
    for i in range(8):
        events = list(client.converse_stream(
            modelId=CLAUDE_HAIKU, messages=user(f"Stream {i}."), inferenceConfig={"stopSequences": [" the", "."]},
        )["stream"])
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        assert " the" not in text and "." not in text
        stop = next(e["messageStop"] for e in events if "messageStop" in e)
        assert stop["stopReason"] in ("stop_sequence", "end_turn", "max_tokens")
        assert events[-1]["metadata"]["usage"]["outputTokens"] == count_tokens(text)


def test_anthropic_stop_sequence_field_names_the_match(door: Door) -> None:
    client = door.client()
    stops = [".", "QQQ"]
    matched = []
    for i in range(8):
        payload = json.loads(client.invoke_model(
            modelId=CLAUDE_HAIKU, body=anthropic_body(f"Talk {i}", stop_sequences=stops),
        )["body"].read())
        text = payload["content"][0]["text"]
        assert not any(s in text for s in stops)
        assert payload["usage"]["output_tokens"] == count_tokens(text)
        if payload["stop_reason"] == "stop_sequence":
            assert payload["stop_sequence"] in stops
            matched.append(payload["stop_sequence"])
        else:
            assert payload["stop_sequence"] is None
    assert "." in matched

    chunks = stream_chunks(client.invoke_model_with_response_stream(
        modelId=CLAUDE_HAIKU, body=anthropic_body("Stream it", stop_sequences=["."]),
    ))
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert "." not in text
    delta = chunks[-2]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "."}
    assert delta["usage"]["output_tokens"] == count_tokens(text)

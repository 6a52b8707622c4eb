"""Amazon Nova tool use through InvokeModel and InvokeModelWithResponseStream (``messages-v1``
bodies with a Converse-shaped ``toolConfig``), through real boto3 clients on both doors.

Nova's answers must be Converse's: a ``toolUse`` block and stop reason ``tool_use`` in the body, and
in the stream contentBlockStart / partial-JSON contentBlockDelta / contentBlockStop chunks. Tool
inputs are checked against the tool's JSON schema with ``jsonschema``; stream deltas must
concatenate to the final input; usage, headers, CountTokens and the ledger must agree.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft7Validator

from emulator.codecs import converse
from emulator.engine.tokens import count_tokens
from emulator.engine.toolgen import TOOL_CALL_FRAMING
from tests.conftest import Door, refused

NOVA = "amazon.nova-lite-v1:0"
TOOL_USE_ID = re.compile(r"^tooluse_[A-Za-z0-9]{22}$")

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2, "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
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
    },
    "required": ["customer", "items", "discount"],
}
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "place_order": ORDER_SCHEMA}
TOOLS = [
    {"toolSpec": {"name": name, "description": f"The {name} tool.", "inputSchema": {"json": schema}}}
    for name, schema in SCHEMAS.items()
]


# -- helpers ---------------------------------------------------------------------------------------


def tool_config(choice: dict[str, Any] | None = None, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"tools": TOOLS if tools is None else tools}
    if choice is not None:
        config["toolChoice"] = choice
    return config


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def nova_body(messages: list[dict[str, Any]], config: dict[str, Any] | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"schemaVersion": "messages-v1", "messages": messages, **extra}
    if config is not None:
        body["toolConfig"] = config
    return json.dumps(body).encode()


def invoke(door: Door, body: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    response = door.client().invoke_model(modelId=NOVA, body=body)
    headers = {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}
    return json.loads(response["body"].read()), headers


def stream(door: Door, body: bytes) -> list[dict[str, Any]]:
    response = door.client().invoke_model_with_response_stream(modelId=NOVA, body=body)
    chunks = []
    for event in response["body"]:
        assert set(event) == {"chunk"}, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    return chunks


def tool_use(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The body's toolUse block (checking there is at most one, and that it comes last)."""
    assert set(payload) == {"output", "stopReason", "usage"}
    message = payload["output"]["message"]
    assert message["role"] == "assistant"
    blocks = message["content"]
    uses = [b["toolUse"] for b in blocks if "toolUse" in b]
    assert len(uses) <= 1
    if not uses:
        assert payload["stopReason"] != "tool_use"
        return None
    assert "toolUse" in blocks[-1] and payload["stopReason"] == "tool_use"
    use = uses[0]
    assert set(use) == {"toolUseId", "name", "input"}
    assert TOOL_USE_ID.match(use["toolUseId"]), use["toolUseId"]
    return use


def text_of(payload: dict[str, Any]) -> str:
    return "".join(b.get("text", "") for b in payload["output"]["message"]["content"])


def assert_valid_input(name: str, value: Any) -> None:
    validator = Draft7Validator(SCHEMAS[name], format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, (name, value, errors)


def call_tokens(name: str, value: Any, text: str = "") -> int:
    """What a tool call bills: its JSON input, its name and framing, and any text before it."""
    return count_tokens(text) + count_tokens(json.dumps(value, ensure_ascii=False)) + count_tokens(name) + (
        TOOL_CALL_FRAMING
    )


def check_usage(door: Door, payload: dict[str, Any], headers: dict[str, str]) -> None:
    """Body usage, token-count headers and the ledger's last record agree."""
    usage = payload["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["cacheReadInputTokenCount"] == usage["cacheWriteInputTokenCount"] == 0
    assert int(headers["x-amzn-bedrock-input-token-count"]) == usage["inputTokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == usage["outputTokens"]
    record = door.ledger.records[-1]
    assert (record.operation, record.outcome, record.streamed) == ("InvokeModel", "ok", False)
    assert (record.input_tokens, record.output_tokens) == (usage["inputTokens"], usage["outputTokens"])
    assert record.stop_reason == payload["stopReason"]
    assert record.cost_usd > 0


def kinds_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [next(k for k in c if k != "amazon-bedrock-invocationMetrics") for c in chunks]


def streamed_tool_call(door: Door, chunks: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """The stream of a tool call, checked chunk by chunk: (its contentBlockStart toolUse, its input)."""
    kinds = kinds_of(chunks)
    n = kinds.count("contentBlockDelta")
    assert n >= 1
    assert kinds == ["messageStart", "contentBlockStart", *["contentBlockDelta"] * n,
                     "contentBlockStop", "messageStop", "metadata"], kinds
    assert chunks[0] == {"messageStart": {"role": "assistant"}}
    start = chunks[1]["contentBlockStart"]
    assert set(start) == {"start", "contentBlockIndex"} and start["contentBlockIndex"] == 0
    tool = start["start"]["toolUse"]
    assert set(tool) == {"toolUseId", "name"} and TOOL_USE_ID.match(tool["toolUseId"])
    deltas = [c["contentBlockDelta"] for c in chunks[2 : 2 + n]]
    assert all(set(d) == {"delta", "contentBlockIndex"} and d["contentBlockIndex"] == 0 for d in deltas)
    assert all(set(d["delta"]) == {"toolUse"} and set(d["delta"]["toolUse"]) == {"input"} for d in deltas)
    partial = "".join(d["delta"]["toolUse"]["input"] for d in deltas)
    value = json.loads(partial)  # the pieces concatenate to the whole input, exactly
    assert partial == json.dumps(value, ensure_ascii=False)
    assert_valid_input(tool["name"], value)
    assert chunks[-3] == {"contentBlockStop": {"contentBlockIndex": 0}}
    assert chunks[-2] == {"messageStop": {"stopReason": "tool_use"}}
    check_stream_usage(door, chunks, call_tokens(tool["name"], value), "tool_use")
    return tool, value


def check_stream_usage(door: Door, chunks: list[dict[str, Any]], output_tokens: int, stop: str) -> None:
    """The metadata chunk, the invocation metrics and the ledger's last record agree."""
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    last = chunks[-1]
    metadata, metrics = last["metadata"], last["amazon-bedrock-invocationMetrics"]
    assert metadata == {
        "usage": {"inputTokens": metrics["inputTokenCount"], "outputTokens": metrics["outputTokenCount"]},
        "metrics": {},
        "trace": {},
    }
    assert metrics["outputTokenCount"] == output_tokens
    record = door.ledger.records[-1]
    assert (record.operation, record.outcome, record.streamed) == ("InvokeModelWithResponseStream", "ok", True)
    assert (record.input_tokens, record.output_tokens) == (metrics["inputTokenCount"], metrics["outputTokenCount"])
    assert record.stop_reason == stop and record.cost_usd > 0


def count_input(door: Door, body: bytes) -> int:
    counted = door.client().count_tokens(modelId=NOVA, input={"invokeModel": {"body": body}})
    return counted["inputTokens"]


# -- InvokeModel -----------------------------------------------------------------------------------


def test_nova_tool_choice_any_calls_a_tool_with_a_valid_input(door: Door) -> None:
    names = set()
    bare = count_input(door, nova_body(user("Question 0: help me.")))
    for i in range(8):
        body = nova_body(user(f"Question {i}: help me."), tool_config({"any": {}}))
        payload, headers = invoke(door, body)
        use = tool_use(payload)
        assert use is not None
        # Nova writes no preamble: the call is the whole answer.
        assert payload["output"]["message"]["content"] == [{"toolUse": use}]
        assert_valid_input(use["name"], use["input"])
        names.add(use["name"])
        assert payload["usage"]["outputTokens"] == call_tokens(use["name"], use["input"])
        check_usage(door, payload, headers)
        assert door.ledger.records[-1].stop_reason == "tool_use"
        # The tool definitions are billed as input, and CountTokens agrees with InvokeModel.
        assert count_input(door, body) == payload["usage"]["inputTokens"] > bare + 100
    assert names == set(SCHEMAS)  # "any" picks among the tools


def test_nova_tool_choice_tool_calls_the_named_tool(door: Door) -> None:
    for i in range(6):
        payload, headers = invoke(door, nova_body(user(f"Order number {i}, please."),
                                                  tool_config({"tool": {"name": "place_order"}})))
        use = tool_use(payload)
        assert use is not None and use["name"] == "place_order"
        assert_valid_input("place_order", use["input"])
        check_usage(door, payload, headers)


def auto_decisions(door: Door, n: int) -> list[str | None]:
    decisions = []
    for i in range(n):
        choice = {"auto": {}} if i % 2 else None  # toolChoice auto, said or left out
        payload, headers = invoke(door, nova_body(user(f"Maybe use a tool, {i}?"), tool_config(choice)))
        check_usage(door, payload, headers)
        use = tool_use(payload)
        if use is None:
            assert payload["stopReason"] in ("end_turn", "max_tokens")
            assert payload["output"]["message"]["content"] == [{"text": text_of(payload)}]
            assert text_of(payload).strip()
            assert payload["usage"]["outputTokens"] == count_tokens(text_of(payload))
        else:
            assert_valid_input(use["name"], use["input"])
            assert payload["usage"]["outputTokens"] == call_tokens(use["name"], use["input"], text_of(payload))
        decisions.append(None if use is None else use["name"])
    return decisions


def test_nova_tool_choice_auto_is_a_seeded_mix(door: Door) -> None:
    decisions = auto_decisions(door, 40)
    calls = sum(d is not None for d in decisions)
    assert 8 <= calls <= 32, decisions  # about half (binomial(40, 0.5): beyond 3.5 sigma)
    door.reset()
    assert auto_decisions(door, 40) == decisions  # the same seed, the same choices


def test_nova_tool_call_that_does_not_fit_max_tokens(door: Door) -> None:
    body = nova_body(user("Order!"), tool_config({"tool": {"name": "place_order"}}),
                     inferenceConfig={"maxTokens": 5})
    payload, headers = invoke(door, body)
    assert tool_use(payload) is None
    assert payload["stopReason"] == "max_tokens"
    assert payload["usage"]["outputTokens"] == 5 == count_tokens(text_of(payload))
    check_usage(door, payload, headers)


@pytest.mark.parametrize(
    ("messages", "choice"),
    [
        (user("Weather in Lima for three days?"), {"any": {}}),
        (user("Place my order."), {"tool": {"name": "place_order"}}),
        ([*user("Hi."), {"role": "assistant", "content": [{"text": "Hello."}]}, *user("Weather?")], {"auto": {}}),
        (user("Anything?"), {"auto": {}}),
    ],
    ids=["any", "tool", "auto-history", "auto"],
)
def test_nova_answers_exactly_as_converse_does(door: Door, messages: list[dict[str, Any]],
                                               choice: dict[str, Any]) -> None:
    """At temperature 0 the answer follows from the prompt alone, so Converse and Nova's own body,
    asked the same thing on the same model, must give the same blocks, stop reason and usage; and
    their streams the same events, chunk for chunk (but Nova's own metadata chunk)."""
    client = door.client()
    system = [{"text": "You are a helpful assistant."}]
    config = tool_config(choice)
    inference = {"temperature": 0.0}
    asked = client.converse(modelId=NOVA, messages=messages, system=system, toolConfig=config,
                            inferenceConfig=inference)
    body = nova_body(messages, config, system=system, inferenceConfig=inference)
    payload, headers = invoke(door, body)
    check_usage(door, payload, headers)
    assert payload["output"] == asked["output"]
    assert payload["stopReason"] == asked["stopReason"]
    assert {k: payload["usage"][k] for k in asked["usage"]} == asked["usage"]

    events = list(client.converse_stream(modelId=NOVA, messages=messages, system=system, toolConfig=config,
                                         inferenceConfig=inference)["stream"])
    chunks = stream(door, body)
    assert chunks[:-1] == events[:-1]
    usage = events[-1]["metadata"]["usage"]
    assert chunks[-1]["metadata"]["usage"] == {"inputTokens": usage["inputTokens"],
                                               "outputTokens": usage["outputTokens"]}
    stop = chunks[-2]["messageStop"]["stopReason"]
    assert stop == payload["stopReason"]
    if stop == "tool_use":
        _, value = streamed_tool_call(door, chunks)
        assert value == tool_use(payload)["input"]  # type: ignore[index]
    # Both doors are seeded alike: these prompts do not all answer with text.
    if choice != {"auto": {}}:
        assert stop == "tool_use"


# -- InvokeModelWithResponseStream -----------------------------------------------------------------


def test_nova_stream_tool_use_chunks(door: Door) -> None:
    chunks = stream(door, nova_body(user("Weather in Lima?"), tool_config({"tool": {"name": "get_weather"}})))
    assert len(chunks) >= 7  # start, block start, two deltas or more, block stop, stop, metadata
    tool, _ = streamed_tool_call(door, chunks)
    assert tool["name"] == "get_weather"


def test_nova_stream_tool_choice_any(door: Door) -> None:
    names = set()
    for i in range(8):
        chunks = stream(door, nova_body(user(f"Stream question {i}."), tool_config({"any": {}})))
        tool, _ = streamed_tool_call(door, chunks)
        names.add(tool["name"])
    assert names == set(SCHEMAS)


def test_nova_stream_auto_without_a_call_streams_text(door: Door) -> None:
    seen = {"text": 0, "tool_use": 0}
    for i in range(20):
        chunks = stream(door, nova_body(user(f"Maybe stream a tool, {i}?"), tool_config({"auto": {}})))
        stop = chunks[-2]["messageStop"]["stopReason"]
        if stop == "tool_use":
            streamed_tool_call(door, chunks)
            seen["tool_use"] += 1
            continue
        seen["text"] += 1
        kinds = kinds_of(chunks)
        n = kinds.count("contentBlockDelta")
        assert kinds == ["messageStart", *["contentBlockDelta"] * n, "contentBlockStop", "messageStop", "metadata"]
        text = "".join(c["contentBlockDelta"]["delta"]["text"] for c in chunks[1 : 1 + n])
        assert text.strip()
        check_stream_usage(door, chunks, count_tokens(text), stop)
    assert all(seen.values()), seen


# -- a tool result, then the answer ----------------------------------------------------------------


def answered(question: list[dict[str, Any]], use: dict[str, Any], result: Any) -> list[dict[str, Any]]:
    """The call goes back as the assistant's turn, answered by a toolResult in the next user turn."""
    return [
        *question,
        {"role": "assistant", "content": [{"toolUse": use}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": result}]}}]},
    ]


def test_nova_tool_result_follow_up_answers_with_text(door: Door) -> None:
    for i in range(4):
        question = user(f"What is the weather in Oslo? ({i})")
        first, _ = invoke(door, nova_body(question, tool_config({"tool": {"name": "get_weather"}})))
        use = tool_use(first)
        assert use is not None
        body = nova_body(answered(question, use, {"temperature": 4, "sky": "clear"}), tool_config())
        payload, headers = invoke(door, body)
        check_usage(door, payload, headers)
        assert tool_use(payload) is None
        assert payload["stopReason"] in ("end_turn", "max_tokens")
        assert text_of(payload).strip()
        # The toolUse and toolResult blocks count as input: more than the first turn, more again
        # for a longer result, and CountTokens bills the same.
        assert payload["usage"]["inputTokens"] > first["usage"]["inputTokens"]
        assert count_input(door, body) == payload["usage"]["inputTokens"]
        longer = nova_body(answered(question, use, {"temperature": 4, "sky": "clear", "forecast": "rain " * 50}),
                           tool_config())
        assert count_input(door, longer) > payload["usage"]["inputTokens"] + 40

        chunks = stream(door, body)
        kinds = kinds_of(chunks)
        assert "contentBlockStart" not in kinds
        n = kinds.count("contentBlockDelta")
        assert n >= 1 and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
        text = "".join(c["contentBlockDelta"]["delta"]["text"] for c in chunks[1 : 1 + n])
        assert text.strip()
        stop = chunks[-2]["messageStop"]["stopReason"]
        assert stop in ("end_turn", "max_tokens")
        check_stream_usage(door, chunks, count_tokens(text), stop)
        assert chunks[-1]["metadata"]["usage"]["inputTokens"] == payload["usage"]["inputTokens"]


# -- the request rules -----------------------------------------------------------------------------


USE_A = {"toolUseId": "tooluse_a", "name": "get_weather", "input": {"city": "Oslo", "days": 1}}


def _rules_cases() -> list[tuple[bytes, str]]:
    unanswered = [*user("Weather?"), {"role": "assistant", "content": [{"toolUse": USE_A}]}, *user("Well?")]
    bad_schema = [{"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "string"}}}}]
    malformed = "Malformed input request: "
    return [
        (nova_body(user("Hi"), tool_config({"tool": {"name": "get_stock_price"}})),
         converse.unknown_tool_choice("get_stock_price")),
        (nova_body(user("Hi"), tool_config(tools=bad_schema)), converse.schema_not_object(0)),
        (nova_body(answered(user("Weather?"), USE_A, {"temp": 4})), converse.TOOL_CONFIG_REQUIRED),
        (nova_body(unanswered, tool_config()), converse.missing_tool_results(2, ["tooluse_a"])),
        (nova_body(user("Hi"), {"toolChoice": {"any": {}}}),
         malformed + "#/toolConfig: required key [tools] not found"),
        (nova_body(user("Hi"), tool_config(tools=[{"toolSpec": {"name": "t"}}])),
         malformed + "#/toolConfig/tools/0/toolSpec: required key [inputSchema] not found"),
        (nova_body([*user("Hi"), {"role": "assistant", "content": [{"toolUse": {"name": "t", "input": {}}}]},
                    *user("Go")], tool_config()),
         malformed + "#/messages/1/content/0/toolUse: required key [toolUseId] not found"),
        (nova_body(user("Hi"), tool_config({"any": {}, "auto": {}})), malformed),
    ]


@pytest.mark.parametrize("stream_it", [False, True], ids=["invoke", "stream"])
def test_nova_tool_rules_are_converse_rules(door: Door, stream_it: bool) -> None:
    client = door.client(max_attempts=1)
    operation = "InvokeModelWithResponseStream" if stream_it else "InvokeModel"
    send = client.invoke_model_with_response_stream if stream_it else client.invoke_model
    for body, expected in _rules_cases():
        message = refused(door, lambda b=body: send(modelId=NOVA, body=b), operation)
        if expected.startswith("Malformed input request: "):
            assert message.startswith(expected) and message.endswith(", please reformat your input and try again.")
        else:
            assert message == expected
    # A correct tool round trip still goes through afterwards.
    payload, _ = invoke(door, nova_body(answered(user("Weather?"), USE_A, {"temp": 4}), tool_config()))
    assert tool_use(payload) is None and text_of(payload).strip()


"""Per-model tool support, and native tool calls in InvokeModel bodies, through real boto3 clients
on both doors.

Converse refuses a ``toolConfig`` on models without tool use (Titan Text, Mistral 7B, Mixtral).
Mistral Large 2407 (chat completion) and Cohere Command R / R+ call tools in their own formats;
the call comes from the engine's seeded decision, as Converse's does. Inputs are checked against
the tool's schema with ``jsonschema``; usage, headers, CountTokens and the ledger must agree.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft7Validator

from emulator.codecs.converse import TOOL_USE_UNSUPPORTED
from emulator.engine.tokens import count_tokens
from emulator.engine.toolgen import TOOL_CALL_FRAMING
from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, Door, refused

TITAN = "amazon.titan-text-express-v1"
MISTRAL_7B = "mistral.mistral-7b-instruct-v0:2"
MIXTRAL = "mistral.mixtral-8x7b-instruct-v0:1"
MISTRAL_LARGE = "mistral.mistral-large-2407-v1:0"
MISTRAL_LARGE_2402 = "mistral.mistral-large-2402-v1:0"
COMMAND_R = "cohere.command-r-v1:0"
COMMAND_R_PLUS = "cohere.command-r-plus-v1:0"
NOVA = "amazon.nova-lite-v1:0"
MISTRAL_ID = re.compile(r"^[A-Za-z0-9]{9}$")

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2, "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "days"],
}
CONVERSE_TOOLS = [{"toolSpec": {"name": "get_weather", "description": "Weather.",
                                "inputSchema": {"json": WEATHER_SCHEMA}}}]
MISTRAL_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                                                   "parameters": WEATHER_SCHEMA}}]
COHERE_TOOLS = [
    {
        "name": "query_daily_sales_report",
        "description": "Sales figures of one day.",
        "parameter_definitions": {
            "day": {"type": "str", "description": "The date, YYYY-MM-DD.", "required": True},
            "regions": {"type": "List[str]", "description": "Regions to include.", "required": False},
            "limit": {"type": "int", "description": "Rows at most.", "required": True},
            "include_returns": {"type": "bool", "description": "Count returns.", "required": False},
        },
    }
]
# What the Cohere parameter_definitions above mean as a JSON schema.
COHERE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "day": {"type": "string"},
        "regions": {"type": "array", "items": {"type": "string"}},
        "limit": {"type": "integer"},
        "include_returns": {"type": "boolean"},
    },
    "required": ["day", "limit"],
    "additionalProperties": False,
}


def assert_valid(schema: dict[str, Any], value: Any) -> None:
    errors = list(Draft7Validator(schema).iter_errors(value))
    assert not errors, (value, [e.message for e in errors])


def call_tokens(name: str, value: Any) -> int:
    return count_tokens(json.dumps(value, ensure_ascii=False)) + count_tokens(name) + TOOL_CALL_FRAMING


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def invoke(door: Door, model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    response = door.client().invoke_model(modelId=model_id, body=json.dumps(body).encode())
    headers = {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}
    return json.loads(response["body"].read()), headers


def stream(door: Door, model_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = door.client().invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body).encode())
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


def count_input(door: Door, model_id: str, body: dict[str, Any]) -> int:
    counted = door.client().count_tokens(modelId=model_id, input={"invokeModel": {"body": json.dumps(body).encode()}})
    return counted["inputTokens"]


def check_invoke_usage(door: Door, headers: dict[str, str], output_tokens: int, stop: str) -> None:
    record = door.ledger.records[-1]
    assert (record.operation, record.outcome, record.streamed) == ("InvokeModel", "ok", False)
    assert int(headers["x-amzn-bedrock-output-token-count"]) == record.output_tokens == output_tokens
    assert int(headers["x-amzn-bedrock-input-token-count"]) == record.input_tokens
    assert record.stop_reason == stop and record.cost_usd > 0


def check_stream_usage(door: Door, chunks: list[dict[str, Any]], output_tokens: int, stop: str) -> None:
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    record = door.ledger.records[-1]
    assert (record.operation, record.outcome, record.streamed) == ("InvokeModelWithResponseStream", "ok", True)
    assert (record.input_tokens, record.output_tokens) == (metrics["inputTokenCount"], metrics["outputTokenCount"])
    assert record.output_tokens == output_tokens
    assert record.stop_reason == stop


# -- Converse: which models take tools ---------------------------------------------------------------


@pytest.mark.parametrize("model_id", [TITAN, MISTRAL_7B, MIXTRAL])
def test_converse_refuses_tools_on_models_without_tool_use(door: Door, model_id: str) -> None:
    client = door.client()
    message = refused(door, lambda: client.converse(
        modelId=model_id, messages=user("Weather in Oslo?"), toolConfig={"tools": CONVERSE_TOOLS},
    ), "Converse")
    assert message == TOOL_USE_UNSUPPORTED == "This model doesn't support tool use."
    message = refused(door, lambda: client.converse_stream(
        modelId=model_id, messages=user("Weather in Oslo?"), toolConfig={"tools": CONVERSE_TOOLS},
    ), "ConverseStream")
    assert message == TOOL_USE_UNSUPPORTED
    # The same model without tools answers.
    response = client.converse(modelId=model_id, messages=user("Weather in Oslo?"))
    assert response["stopReason"] in ("end_turn", "max_tokens")


@pytest.mark.parametrize("model_id", [CLAUDE_HAIKU, NOVA, MISTRAL_LARGE_2402, MISTRAL_LARGE, COMMAND_R_PLUS])
def test_converse_tool_use_on_models_with_tools(door: Door, model_id: str) -> None:
    response = door.client().converse(
        modelId=model_id, messages=user("Weather in Oslo?"),
        toolConfig={"tools": CONVERSE_TOOLS, "toolChoice": {"any": {}}},
    )
    assert response["stopReason"] == "tool_use"
    use = next(b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b)
    assert_valid(WEATHER_SCHEMA, use["input"])


def test_llama_keeps_its_tool_choice_restriction(door: Door) -> None:
    client = door.client()
    message = refused(door, lambda: client.converse(
        modelId=LLAMA_70B, messages=user("Weather?"), toolConfig={"tools": CONVERSE_TOOLS, "toolChoice": {"any": {}}},
    ), "Converse")
    assert "toolChoice.any" in message
    client.converse(modelId=LLAMA_70B, messages=user("Weather?"), toolConfig={"tools": CONVERSE_TOOLS})


def test_catalog_tool_use_flags(door: Door) -> None:
    flags = {spec.model_id: spec.tool_use for spec in door.emulator.catalog}
    assert not any(flags[m] for m in (TITAN, MISTRAL_7B, MIXTRAL, "cohere.embed-english-v3",
                                      "amazon.titan-embed-text-v2:0"))
    assert all(flags[m] for m in (CLAUDE_HAIKU, NOVA, LLAMA_70B, MISTRAL_LARGE, MISTRAL_LARGE_2402,
                                  COMMAND_R, COMMAND_R_PLUS))


# -- Mistral Large 2407: chat completion with tools --------------------------------------------------


def mistral_body(messages: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"messages": messages or [{"role": "user", "content": "Weather in Oslo?"}], **extra}


def mistral_tool_call(payload: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    choice = payload["choices"][0]
    assert choice["stop_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1 and set(calls[0]) == {"id", "function"}
    assert MISTRAL_ID.match(calls[0]["id"])
    function = calls[0]["function"]
    assert function["name"] == "get_weather" and isinstance(function["arguments"], str)
    value = json.loads(function["arguments"])
    assert_valid(WEATHER_SCHEMA, value)
    return calls[0], value


def test_mistral_chat_tool_choice_any_calls_the_tool(door: Door) -> None:
    bare = count_input(door, MISTRAL_LARGE, mistral_body())
    for i in range(4):
        body = mistral_body([{"role": "user", "content": f"Weather {i}?"}], tools=MISTRAL_TOOLS, tool_choice="any")
        payload, headers = invoke(door, MISTRAL_LARGE, body)
        call, value = mistral_tool_call(payload)
        assert payload["choices"][0]["message"]["content"] == ""
        check_invoke_usage(door, headers, call_tokens("get_weather", value), "tool_use")
        # The tool definitions are billed as input; CountTokens agrees with InvokeModel.
        assert count_input(door, MISTRAL_LARGE, body) == door.ledger.records[-2].input_tokens > bare + 50


def test_mistral_chat_tool_choice_auto_and_none(door: Door) -> None:
    decisions = []
    for i in range(12):
        body = mistral_body([{"role": "user", "content": f"Weather {i}?"}], tools=MISTRAL_TOOLS)
        payload, _ = invoke(door, MISTRAL_LARGE, body)
        decisions.append("tool_calls" in payload["choices"][0]["message"])
        if decisions[-1]:
            mistral_tool_call(payload)
        else:
            assert payload["choices"][0]["stop_reason"] in ("stop", "length")
    assert 0 < sum(decisions) < 12
    for i in range(4):
        body = mistral_body([{"role": "user", "content": f"Weather {i}?"}], tools=MISTRAL_TOOLS, tool_choice="none")
        payload, headers = invoke(door, MISTRAL_LARGE, body)
        choice = payload["choices"][0]
        assert "tool_calls" not in choice["message"] and choice["stop_reason"] in ("stop", "length")
        assert choice["message"]["content"]


def test_mistral_chat_named_function_choice(door: Door) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    payload, _ = invoke(door, MISTRAL_LARGE, mistral_body(tools=MISTRAL_TOOLS, tool_choice=choice))
    mistral_tool_call(payload)


def test_mistral_chat_tool_result_is_answered_in_text(door: Door) -> None:
    asked = mistral_body(tools=MISTRAL_TOOLS, tool_choice="any")
    payload, _ = invoke(door, MISTRAL_LARGE, asked)
    call, _ = mistral_tool_call(payload)
    messages = [
        *asked["messages"],
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "name": "get_weather", "content": '{"temp": 12}'},
    ]
    payload, headers = invoke(door, MISTRAL_LARGE, mistral_body(messages, tools=MISTRAL_TOOLS))
    choice = payload["choices"][0]
    assert "tool_calls" not in choice["message"] and choice["message"]["content"]
    assert choice["stop_reason"] in ("stop", "length")
    record = door.ledger.records[-1]
    check_invoke_usage(door, headers, record.output_tokens, record.stop_reason)
    assert record.stop_reason in ("end_turn", "max_tokens")


def test_mistral_chat_stream_tool_call(door: Door) -> None:
    chunks = stream(door, MISTRAL_LARGE, mistral_body(tools=MISTRAL_TOOLS, tool_choice="any"))
    assert len(chunks) == 1  # the call comes whole, in the last chunk
    call, value = mistral_tool_call(chunks[-1])
    check_stream_usage(door, chunks, call_tokens("get_weather", value), "tool_use")
    # Text streams as before: partial messages, the stop reason on the last chunk only.
    chunks = stream(door, MISTRAL_LARGE, mistral_body(tools=MISTRAL_TOOLS, tool_choice="none"))
    assert all(c["choices"][0]["stop_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["stop_reason"] in ("stop", "length")
    assert not any("tool_calls" in c["choices"][0]["message"] for c in chunks)


def test_mistral_chat_malformed_tools_are_refused(door: Door) -> None:
    client = door.client()
    for extra in ({"tools": [{"type": "function", "function": {"description": "no name"}}]},
                  {"tools": MISTRAL_TOOLS, "tool_choice": "sometimes"}):
        body = json.dumps(mistral_body(**extra)).encode()
        message = refused(door, lambda b=body: client.invoke_model(modelId=MISTRAL_LARGE, body=b), "InvokeModel")
        assert message.startswith("Malformed input request: ")


# -- Cohere Command R / R+ ----------------------------------------------------------------------------


def cohere_body(message: str = "Sales of 2024-05-01?", **extra: Any) -> dict[str, Any]:
    return {"message": message, "tools": COHERE_TOOLS, **extra}


@pytest.mark.parametrize("model_id", [COMMAND_R, COMMAND_R_PLUS])
def test_cohere_native_tool_calls(door: Door, model_id: str) -> None:
    called = 0
    for i in range(12):
        payload, headers = invoke(door, model_id, cohere_body(f"Sales report {i}?"))
        assert payload["finish_reason"] in ("COMPLETE", "MAX_TOKENS")
        billed = payload["meta"]["billed_units"]
        assert int(headers["x-amzn-bedrock-output-token-count"]) == billed["output_tokens"]
        if "tool_calls" not in payload:
            check_invoke_usage(door, headers, billed["output_tokens"], door.ledger.records[-1].stop_reason)
            continue
        called += 1
        assert payload["finish_reason"] == "COMPLETE"
        (call,) = payload["tool_calls"]
        assert set(call) == {"name", "parameters"} and call["name"] == "query_daily_sales_report"
        assert_valid(COHERE_SCHEMA, call["parameters"])
        check_invoke_usage(door, headers, call_tokens(call["name"], call["parameters"]), "tool_use")
        assert billed["input_tokens"] == door.ledger.records[-1].input_tokens
    assert 0 < called < 12  # Cohere v1 has no tool choice: auto, a seeded mix


def test_cohere_tools_are_billed_as_input(door: Door) -> None:
    bare = count_input(door, COMMAND_R, {"message": "Sales of 2024-05-01?"})
    with_tools = count_input(door, COMMAND_R, cohere_body())
    assert with_tools > bare + 50
    payload, _ = invoke(door, COMMAND_R, cohere_body())
    assert payload["meta"]["billed_units"]["input_tokens"] == with_tools


def test_cohere_tool_results_are_answered_in_text(door: Door) -> None:
    results = [{"call": {"name": "query_daily_sales_report", "parameters": {"day": "2024-05-01", "limit": 3}},
                "outputs": [{"total": 1200}]}]
    for i in range(6):
        payload, headers = invoke(door, COMMAND_R, cohere_body("", tool_results=results, chat_history=[
            {"role": "USER", "message": f"Sales report {i}?"},
            {"role": "CHATBOT", "message": "", "tool_calls": [results[0]["call"]]},
        ]))
        assert "tool_calls" not in payload and payload["text"]
        record = door.ledger.records[-1]
        assert record.stop_reason in ("end_turn", "max_tokens")
        check_invoke_usage(door, headers, payload["meta"]["billed_units"]["output_tokens"], record.stop_reason)


def test_cohere_stream_tool_calls_generation(door: Door) -> None:
    seen_call = seen_text = False
    for i in range(12):
        chunks = stream(door, COMMAND_R, cohere_body(f"Sales report {i}?"))
        kinds = [c["event_type"] for c in chunks]
        assert kinds[0] == "stream-start" and kinds[-1] == "stream-end"
        end = chunks[-1]
        assert end["is_finished"] and not any(c["is_finished"] for c in chunks[:-1])
        if "tool-calls-generation" not in kinds:
            seen_text = True
            assert "tool_calls" not in end["response"]
            continue
        seen_call = True
        assert kinds[-2] == "tool-calls-generation" and kinds.count("tool-calls-generation") == 1
        (call,) = chunks[-2]["tool_calls"]
        assert_valid(COHERE_SCHEMA, call["parameters"])
        assert end["finish_reason"] == "COMPLETE" and end["response"]["tool_calls"] == [call]
        check_stream_usage(door, chunks, call_tokens(call["name"], call["parameters"]), "tool_use")
    assert seen_call and seen_text


def test_cohere_malformed_tools_are_refused(door: Door) -> None:
    client = door.client()
    bad = [{"name": "t", "parameter_definitions": {"x": {"description": "no type"}}}]
    body = json.dumps({"message": "hi", "tools": bad}).encode()
    message = refused(door, lambda: client.invoke_model(modelId=COMMAND_R, body=body), "InvokeModel")
    assert message.startswith("Malformed input request: ")

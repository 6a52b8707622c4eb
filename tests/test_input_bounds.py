"""Bounds on what a request may make the emulator do: tool inputs generated under a budget (a
pathological schema answers at max tokens instead of hanging the engine), one context-window check
for every text family and CountTokens, and CountTokens' ``converse`` input held to Converse's rules.
All through real boto3 clients on both doors."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jsonschema import Draft202012Validator

from emulator.engine.toolgen import ToolDef, instance, make_call
from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, Door

TOO_LONG = "Input is too long for requested model."
MISTRAL_LARGE = "mistral.mistral-large-2407-v1:0"


def client_error(call: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def assert_refused(door: Door, err: ClientError, operation: str, message: str) -> None:
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.response["Error"]["Code"] == "ValidationException"
    assert err.response["Error"]["Message"] == message
    record = door.ledger.records[-1]
    assert (record.operation, record.outcome) == (operation, "ValidationException")


# -- 1. tool inputs under a budget ------------------------------------------------------------------


def _nested(depth: int, min_items: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "minItems": min_items, "items": schema}
    return schema


def _one(prop: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["q"], "properties": {"q": prop}}


PATHOLOGICAL = {
    "huge-min-length": _one({"type": "string", "minLength": 1e12}),
    "nested-min-items": _one(_nested(4, 50)),
    "huge-min-properties": {"type": "object", "minProperties": 10**9},
    "huge-min-items": _one({"type": "array", "minItems": 10**12}),
    "large-min-length": _one({"type": "string", "minLength": 5000}),
}


def _converse_tool_any(door: Door, schema: dict[str, Any], max_tokens: int = 400) -> dict[str, Any]:
    tools = [{"toolSpec": {"name": "lookup", "description": "Look it up", "inputSchema": {"json": schema}}}]
    return door.client().converse(
        modelId=CLAUDE_HAIKU,
        messages=[{"role": "user", "content": [{"text": "Look it up."}]}],
        toolConfig={"tools": tools, "toolChoice": {"any": {}}},
        inferenceConfig={"maxTokens": max_tokens},
    )


@pytest.mark.parametrize("schema", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_pathological_tool_schemas_answer_at_max_tokens(door: Door, schema: dict[str, Any]) -> None:
    response = _converse_tool_any(door, schema)
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 400
    assert [list(block) for block in response["output"]["message"]["content"]] == [["text"]]
    # The emulator keeps serving.
    ok = _converse_tool_any(door, {"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}})
    assert ok["stopReason"] == "tool_use"


def test_pathological_schema_through_invoke_model(door: Door) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Look it up."}],
        "tools": [{"name": "lookup", "description": "Look it up", "input_schema": PATHOLOGICAL["nested-min-items"]}],
        "tool_choice": {"type": "any"},
    }
    response = door.client().invoke_model(modelId=CLAUDE_HAIKU, body=json.dumps(body).encode())
    payload = json.loads(response["body"].read())
    assert payload["stop_reason"] == "max_tokens"
    assert payload["usage"]["output_tokens"] == 300
    assert [block["type"] for block in payload["content"]] == ["text"]


SATISFIABLE = [
    {"type": "object", "required": ["q"], "properties": {"q": {"type": "string", "minLength": 600, "maxLength": 700}}},
    {"type": "object", "required": ["q"], "properties": {"q": _nested(2, 5)}},
    {"type": "object", "required": ["q"], "properties": {"q": {"type": "array", "minItems": 150, "maxItems": 10**9,
                                                               "items": {"type": "integer"}}}},
    {"type": "object", "minProperties": 6, "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}},
    {"type": "object", "minProperties": 3, "additionalProperties": {"type": "integer", "minimum": 5},
     "properties": {"a": {"type": "string"}}},
    {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 10**15}}},
]


@pytest.mark.parametrize("schema", SATISFIABLE)
def test_satisfiable_schemas_within_the_clamps_still_validate(door: Door, schema: dict[str, Any]) -> None:
    response = _converse_tool_any(door, schema, max_tokens=4000)
    assert response["stopReason"] == "tool_use"
    [call] = [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]
    Draft202012Validator(schema).validate(call["input"])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("schema", SATISFIABLE)
def test_generated_instances_validate(schema: dict[str, Any], seed: int) -> None:
    Draft202012Validator(schema).validate(instance(schema, random.Random(seed)))


def test_a_call_that_cannot_fit_stops_early() -> None:
    tool = ToolDef("lookup", "", PATHOLOGICAL["nested-min-items"], max_tokens=1000)
    call = make_call(tool, random.Random(7))
    assert call.tokens > 1000  # the engine answers with text at max tokens
    # The budget is a lower bound on the call's tokens: a call that fits is never refused.
    small = {"type": "object", "required": ["q"], "properties": {"q": {"type": "string", "minLength": 400}}}
    fitted = make_call(ToolDef("lookup", "", small, max_tokens=1000), random.Random(7))
    assert fitted.tokens <= 1000 and len(fitted.input["q"]) >= 400
    exact = make_call(ToolDef("lookup", "", small, max_tokens=fitted.tokens), random.Random(7))
    assert exact.input == fitted.input and exact.tokens == fitted.tokens


# -- 2. one context-window check for every text family ----------------------------------------------

# model, body for a prompt text; each prompt is 1,000 one-token words past the model's window.
TEXT_FAMILIES = {
    "anthropic": (CLAUDE_HAIKU, lambda t: {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                                           "messages": [{"role": "user", "content": t}]}),
    "meta": (LLAMA_70B, lambda t: {"prompt": t}),
    "titan": ("amazon.titan-text-express-v1", lambda t: {"inputText": t}),
    "nova": ("amazon.nova-lite-v1:0", lambda t: {"messages": [{"role": "user", "content": [{"text": t}]}]}),
    "mistral": ("mistral.mistral-7b-instruct-v0:2", lambda t: {"prompt": t}),
    "mistral-chat": (MISTRAL_LARGE, lambda t: {"messages": [{"role": "user", "content": t}]}),
    "cohere": ("cohere.command-r-v1:0", lambda t: {"message": t}),
}


def _past_window(door: Door, model: str) -> str:
    return "word " * (door.emulator.catalog.require(model).context_window + 1000)


@pytest.mark.parametrize("family", list(TEXT_FAMILIES))
def test_every_text_family_refuses_a_prompt_past_its_window(door: Door, family: str) -> None:
    model, body = TEXT_FAMILIES[family]
    raw = json.dumps(body(_past_window(door, model))).encode()
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.invoke_model(modelId=model, body=raw))
    assert_refused(door, err, "InvokeModel", TOO_LONG)
    err = client_error(lambda: client.count_tokens(modelId=model, input={"invokeModel": {"body": raw}}))
    assert_refused(door, err, "CountTokens", TOO_LONG)
    # Just under the window is counted.
    under = json.dumps(body("word " * 2000)).encode()
    counted = client.count_tokens(modelId=model, input={"invokeModel": {"body": under}})["inputTokens"]
    assert 2000 < counted < 2100


@pytest.mark.parametrize("model", [CLAUDE_HAIKU, LLAMA_70B])
def test_converse_and_its_count_refuse_a_prompt_past_the_window(door: Door, model: str) -> None:
    messages = [{"role": "user", "content": [{"text": _past_window(door, model)}]}]
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.converse(modelId=model, messages=messages))
    assert_refused(door, err, "Converse", TOO_LONG)
    err = client_error(lambda: client.count_tokens(modelId=model, input={"converse": {"messages": messages}}))
    assert_refused(door, err, "CountTokens", TOO_LONG)


# -- 3. CountTokens' converse input follows Converse's rules ----------------------------------------

TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": TOOL_SCHEMA}}}]


def _user(text: str = "Hello") -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def _assistant(text: str = "Hi.") -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}]}


BAD_CONVERSE = {
    "two-assistant-turns": {"messages": [_user(), _assistant(), _assistant()]},
    "starts-with-assistant": {"messages": [_assistant()]},
    "unknown-tool-choice": {"messages": [_user()],
                            "toolConfig": {"tools": TOOLS, "toolChoice": {"tool": {"name": "nope"}}}},
    "blank-text": {"messages": [_user(" ")]},
}


@pytest.mark.parametrize("name", list(BAD_CONVERSE))
def test_count_tokens_converse_gets_converse_errors(door: Door, name: str) -> None:
    request = BAD_CONVERSE[name]
    client = door.client(max_attempts=1)
    converse_err = client_error(lambda: client.converse(modelId=CLAUDE_HAIKU, **request))
    assert_refused(door, converse_err, "Converse", converse_err.response["Error"]["Message"])
    err = client_error(lambda: client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": request}))
    assert_refused(door, err, "CountTokens", converse_err.response["Error"]["Message"])


def test_count_tokens_converse_null_messages(door: Door) -> None:
    """A client that skips parameter validation sends no ``messages``: Converse's message, not a count."""
    client = door.client(max_attempts=1, parameter_validation=False)
    converse_err = client_error(lambda: client.converse(modelId=CLAUDE_HAIKU))
    message = converse_err.response["Error"]["Message"]
    assert "'messages'" in message and "null" in message
    err = client_error(lambda: client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {}}))
    assert_refused(door, err, "CountTokens", message)


def test_count_tokens_converse_matches_the_converse_bill(door: Door) -> None:
    messages = [_user("What is the weather in Oslo?")]
    client = door.client()
    counted = client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": messages,
                                                                            "toolConfig": {"tools": TOOLS}}})
    billed = client.converse(modelId=CLAUDE_HAIKU, messages=messages, toolConfig={"tools": TOOLS},
                             inferenceConfig={"maxTokens": 5})
    assert counted["inputTokens"] == billed["usage"]["inputTokens"]


# -- 4. a guarded InvokeModel parses its body once --------------------------------------------------


GUARDRAIL = {"versions": ["DRAFT"], "word_policy": {"words": ["Blackbird"]},
             "blocked_input_messaging": "Blocked.", "blocked_outputs_messaging": "Withheld."}


@pytest.mark.parametrize("question", ["Hello there", "Tell me about Blackbird."])
def test_guarded_invoke_model_parses_the_body_once(door: Door, monkeypatch: pytest.MonkeyPatch,
                                                   question: str) -> None:
    from emulator.codecs import anthropic

    parse = anthropic.parse
    calls: list[bytes] = []

    def counting(raw: bytes, model: Any) -> Any:
        calls.append(raw)
        return parse(raw, model)

    monkeypatch.setattr(anthropic, "parse", counting)
    emulator = door.emulator
    saved = emulator.config
    emulator.config = saved.replace(guardrails={"acme1": GUARDRAIL})
    try:
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                "messages": [{"role": "user", "content": question}]}
        response = door.client().invoke_model(modelId=CLAUDE_HAIKU, body=json.dumps(body).encode(),
                                              guardrailIdentifier="acme1", guardrailVersion="DRAFT")
    finally:
        emulator.config = saved
    payload = json.loads(response["body"].read())
    assert len(calls) == 1
    assert (payload["content"][0]["text"] == "Blocked.") == ("Blackbird" in question)

"""The request rules real users run into, through real boto3 clients on both doors: each bad request
gets HTTP 400, a ValidationException with Bedrock's message, a ledger record, and the emulator
keeps serving afterwards. Nothing a client sends may produce a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ParamValidationError

from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, Door, refused

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": SCHEMA}}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}]


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks) or [{"text": "Hello"}]}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks) or [{"text": "Hi."}]}


def tool_use(tool_id: str) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_id, "name": "get_weather", "input": {"city": "Oslo"}}}


def tool_result(tool_id: str) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": tool_id, "content": [{"text": "4 C"}]}}


def anthropic_body(messages: list[dict[str, Any]] | None = None, **extra: Any) -> bytes:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": messages if messages is not None else [{"role": "user", "content": "Hello"}],
        **extra,
    }
    return json.dumps(body).encode()


def still_serving(door: Door) -> None:
    response = door.client().converse(modelId=CLAUDE_HAIKU, messages=[user()], inferenceConfig={"maxTokens": 5})
    assert response["usage"]["outputTokens"] > 0
    assert door.ledger.records[-1].outcome == "ok"


def converse_refused(door: Door, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    client = door.client(max_attempts=1)
    return refused(door, lambda: client.converse(modelId=kwargs.pop("model", CLAUDE_HAIKU), messages=messages,
                                                 **kwargs), "Converse")


def invoke_refused(door: Door, body: bytes, model: str = CLAUDE_HAIKU) -> str:
    client = door.client(max_attempts=1)
    return refused(door, lambda: client.invoke_model(modelId=model, body=body), "InvokeModel")


# -- conversation shape -----------------------------------------------------------------------------


def test_conversation_must_start_with_user_and_alternate(door: Door) -> None:
    assert converse_refused(door, [assistant(), user()]) == (
        "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    )
    assert converse_refused(door, [user(), user()]) == (
        "A conversation must alternate between user and assistant roles. Make sure the conversation alternates "
        "between user and assistant roles and try again."
    )
    body = anthropic_body([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert invoke_refused(door, body) == 'messages: roles must alternate between "user" and "assistant"'
    still_serving(door)


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_text_block_is_named_by_position(door: Door, blank: str) -> None:
    assert converse_refused(door, [user({"text": blank})]) == (
        "The text field in the ContentBlock object at messages.0.content.0 is blank. "
        "Add text to the text field, and try again."
    )
    messages = [user(), assistant(), user({"text": "Look:"}, {"text": blank})]
    assert converse_refused(door, messages) == (
        "The text field in the ContentBlock object at messages.2.content.1 is blank. "
        "Add text to the text field, and try again."
    )
    # Claude's own wording on InvokeModel: empty and whitespace-only are told apart.
    expected = (
        "messages: text content blocks must be non-empty" if blank == ""
        else "messages: text content blocks must contain non-whitespace text"
    )
    assert invoke_refused(door, anthropic_body([{"role": "user", "content": blank}])) == expected
    block = [{"role": "user", "content": [{"type": "text", "text": blank}]}]
    assert invoke_refused(door, anthropic_body(block)) == expected
    still_serving(door)


def test_empty_content_list(door: Door) -> None:
    messages = [user(), {"role": "assistant", "content": []}, user()]
    assert converse_refused(door, messages) == (
        "The content field in the Message object at messages.1 is empty. "
        "Add a ContentBlock object to the content field and try again."
    )
    body = anthropic_body([{"role": "user", "content": []}])
    assert invoke_refused(door, body) == (
        "The content field in the Message object at messages.0 is empty. "
        "Add a ContentBlock object to the content field and try again."
    )
    still_serving(door)


# -- tools ------------------------------------------------------------------------------------------


def test_tool_blocks_need_a_tool_config(door: Door) -> None:
    messages = [user(), assistant(tool_use("tooluse_a")), user(tool_result("tooluse_a"))]
    assert converse_refused(door, messages) == (
        "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    )
    # With the tools defined, the same conversation is fine.
    door.client().converse(modelId=CLAUDE_HAIKU, messages=messages, toolConfig={"tools": TOOLS})
    still_serving(door)


def test_tool_results_must_answer_the_previous_turn(door: Door) -> None:
    config = {"toolConfig": {"tools": TOOLS}}
    too_many = [user(), assistant(tool_use("tooluse_a")), user(tool_result("tooluse_a"), tool_result("tooluse_b"))]
    assert converse_refused(door, too_many, **config) == (
        "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn."
    )
    missing = [user(), assistant(tool_use("tooluse_a"), tool_use("tooluse_b")), user(tool_result("tooluse_a"))]
    assert converse_refused(door, missing, **config) == (
        "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_b"
    )
    wrong_id = [user(), assistant(tool_use("tooluse_a")), user(tool_result("tooluse_zzz"))]
    assert converse_refused(door, wrong_id, **config) == (
        "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_a, tooluse_zzz"
    )
    unanswered = [user(), assistant(tool_use("tooluse_a")), user({"text": "Never mind."})]
    assert converse_refused(door, unanswered, **config) == (
        "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_a"
    )
    orphan = [user(tool_result("tooluse_gone"))]
    assert converse_refused(door, orphan, **config) == (
        "Expected toolResult blocks at messages.0.content for the following Ids: tooluse_gone"
    )
    still_serving(door)


def test_anthropic_tool_results_must_answer_the_previous_turn(door: Door) -> None:
    asked = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                               "input": {"city": "Oslo"}}]}
    unanswered = [{"role": "user", "content": "Weather?"}, asked, {"role": "user", "content": "Never mind."}]
    assert invoke_refused(door, anthropic_body(unanswered, tools=ANTHROPIC_TOOLS)) == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )
    orphan = [{"role": "user", "content": [{"type": "text", "text": "Here:"},
                                           {"type": "tool_result", "tool_use_id": "toolu_9", "content": "4 C"}]}]
    assert invoke_refused(door, anthropic_body(orphan, tools=ANTHROPIC_TOOLS)) == (
        "messages.0.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
    )
    still_serving(door)


def test_tool_choice_naming_an_unknown_tool(door: Door) -> None:
    config = {"tools": TOOLS, "toolChoice": {"tool": {"name": "get_stock_price"}}}
    assert converse_refused(door, [user()], toolConfig=config) == (
        "The tool get_stock_price in toolConfig.toolChoice.tool.name isn't defined in toolConfig.tools. "
        "Specify a tool that is defined in toolConfig.tools and try again."
    )
    body = anthropic_body(tools=ANTHROPIC_TOOLS, tool_choice={"type": "tool", "name": "get_stock_price"})
    assert invoke_refused(door, body) == "tool_choice.name: Tool 'get_stock_price' not found in tools"
    still_serving(door)


def test_tool_choice_without_tools(door: Door) -> None:
    # botocore itself refuses a toolConfig without tools, before anything is sent.
    client = door.client(max_attempts=1)
    with pytest.raises(ParamValidationError):
        client.converse(modelId=CLAUDE_HAIKU, messages=[user()], toolConfig={"toolChoice": {"any": {}}})
    assert len(door.ledger) == 0
    for tools in (None, []):
        extra = {"tool_choice": {"type": "any"}} | ({} if tools is None else {"tools": tools})
        message = invoke_refused(door, anthropic_body(**extra))
        assert message == "tool_choice may only be specified while providing tools."
    # tool_choice none asks for no tool use, so it needs no tools.
    door.client().invoke_model(modelId=CLAUDE_HAIKU, body=anthropic_body(tool_choice={"type": "none"}))
    still_serving(door)


def test_tool_choice_without_tools_over_raw_http(http_door: Door) -> None:
    assert http_door.endpoint_url is not None
    url = f"{http_door.endpoint_url}/model/{CLAUDE_HAIKU.replace(':', '%3A')}/converse"
    for config, problem in (
        ({"toolChoice": {"any": {}}}, "Value null at 'toolConfig.tools' failed to satisfy constraint: "
                                      "Member must not be null"),
        ({"tools": [], "toolChoice": {"any": {}}}, "Value '[]' at 'toolConfig.tools' failed to satisfy "
                                                   "constraint: Member must have length greater than or equal to 1"),
    ):
        body = {"messages": [user()], "toolConfig": config}
        reply = requests.post(url, json=body, timeout=10)
        assert reply.status_code == 400
        assert reply.headers["x-amzn-ErrorType"].split(":", 1)[0] == "ValidationException"
        assert reply.json()["message"] == f"1 validation error detected: {problem}"
        assert http_door.ledger.records[-1].outcome == "ValidationException"
    still_serving(http_door)


def test_llama_takes_only_tool_choice_auto(door: Door) -> None:
    for kind, value in (("any", {}), ("tool", {"name": "get_weather"})):
        config = {"tools": TOOLS, "toolChoice": {kind: value}}
        assert converse_refused(door, [user()], toolConfig=config, model=LLAMA_70B) == (
            f"This model doesn't support the toolConfig.toolChoice.{kind} field. "
            f"Remove toolConfig.toolChoice.{kind} and try again."
        )
    door.client().converse(modelId=LLAMA_70B, messages=[user()], toolConfig={"tools": TOOLS,
                                                                              "toolChoice": {"auto": {}}})
    still_serving(door)


def test_tool_input_schema_must_be_an_object(door: Door) -> None:
    second = {"toolSpec": {"name": "list_cities", "inputSchema": {"json": {"type": "array"}}}}
    assert converse_refused(door, [user()], toolConfig={"tools": [*TOOLS, second]}) == (
        "The value at toolConfig.tools.1.toolSpec.inputSchema.json.type must be one of the following: object."
    )
    tools = [{"name": "list_cities", "input_schema": {"type": "array"}}]
    message = invoke_refused(door, anthropic_body(tools=tools))
    assert message == "tools.0.custom.input_schema.type: Input should be 'object'"
    still_serving(door)


# -- inference parameters ---------------------------------------------------------------------------


def test_max_tokens_above_the_model_limit(door: Door) -> None:
    assert converse_refused(door, [user()], inferenceConfig={"maxTokens": 4097}) == (
        "The maximum tokens you requested exceeds the model limit of 4096. "
        "Try again with a maximum tokens value that is lower than 4096."
    )
    body = json.loads(anthropic_body())
    body["max_tokens"] = 5000
    assert invoke_refused(door, json.dumps(body).encode()) == (
        "max_tokens: 5000 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307"
    )
    still_serving(door)


@pytest.mark.parametrize(("field", "wire"), [("temperature", "temperature"), ("topP", "top_p")])
def test_sampling_parameters_out_of_range(door: Door, field: str, wire: str) -> None:
    # Only the maximum reaches the service: botocore checks the model's minimum on the client.
    assert converse_refused(door, [user()], inferenceConfig={field: 1.5}) == (
        f"1 validation error detected: Value '1.5' at 'inferenceConfig.{field}' failed to satisfy constraint: "
        "Member must have value less than or equal to 1"
    )
    assert invoke_refused(door, anthropic_body(**{wire: 1.5})) == (
        f"Malformed input request: #/{wire}: 1.5 is not less or equal to 1, please reformat your input and try again."
    )
    assert invoke_refused(door, anthropic_body(**{wire: -0.5})) == (
        f"Malformed input request: #/{wire}: -0.5 is not greater or equal to 0, please reformat your input and "
        "try again."
    )
    still_serving(door)


def test_too_many_stop_sequences(door: Door) -> None:
    stops = [f"s{i}" for i in range(2501)]
    echoed = ("[" + ", ".join(stops) + "]")[:256] + "..."
    assert converse_refused(door, [user()], inferenceConfig={"stopSequences": stops}) == (
        f"1 validation error detected: Value '{echoed}' at 'inferenceConfig.stopSequences' failed to satisfy "
        "constraint: Member must have length less than or equal to 2500"
    )
    stops = [f"s{i}" for i in range(8192)]
    assert invoke_refused(door, anthropic_body(stop_sequences=stops)) == (
        "Malformed input request: #/stop_sequences: expected maximum item count: 8191, found: 8192, please "
        "reformat your input and try again."
    )
    # At the limit, both are accepted.
    door.client().converse(modelId=CLAUDE_HAIKU, messages=[user()], inferenceConfig={"stopSequences": stops[:2500]})
    still_serving(door)


# -- size -------------------------------------------------------------------------------------------


def test_26_mb_bodies_are_refused_not_crashed(door: Door) -> None:
    text = "retry " * (26_000_000 // 6)
    body = anthropic_body([{"role": "user", "content": text}])
    assert len(body) > 26_000_000
    assert invoke_refused(door, body) == (
        "1 validation error detected: Value at 'body' failed to satisfy constraint: "
        "Member must have length less than or equal to 25000000"
    )
    client = door.client(max_attempts=1)
    message = refused(
        door, lambda: client.invoke_model_with_response_stream(modelId=CLAUDE_HAIKU, body=body),
        "InvokeModelWithResponseStream",
    )
    assert message.endswith("Member must have length less than or equal to 25000000")
    # Converse has no blob to cap: a 26 MB prompt is far past the model's context window.
    assert converse_refused(door, [user({"text": text})]) == "Input is too long for requested model."
    still_serving(door)


def test_prompt_past_the_context_window(door: Door) -> None:
    text = "word " * 205_000  # 205k one-token words, past Claude 3 Haiku's 200k
    assert converse_refused(door, [user({"text": text})]) == "Input is too long for requested model."
    assert invoke_refused(door, anthropic_body([{"role": "user", "content": text}])) == (
        "Input is too long for requested model."
    )
    # Just under the window is served, and billed for what it is.
    shorter = "word " * 150_000
    response = door.client().converse(modelId=CLAUDE_HAIKU, messages=[user({"text": shorter})],
                                      inferenceConfig={"maxTokens": 5})
    assert 150_000 < response["usage"]["inputTokens"] < 200_000


# -- never a 500 ------------------------------------------------------------------------------------


MALFORMED_ANTHROPIC = [
    {"tools": [1]},
    {"tools": [{"name": 5, "input_schema": {"type": "object"}}]},
    {"tools": [{"name": "x", "input_schema": []}]},
    {"tools": ANTHROPIC_TOOLS, "tool_choice": "auto"},
    {"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "weird"}},
    {"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "tool"}},
    {"stop_sequences": "END"},
    {"stop_sequences": [1, 2]},
    {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": 5, "content": 7}]}]},
    {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
    {"messages": [{"role": "user", "content": [7]}]},
]


def test_malformed_tool_and_stop_fields_never_500(door: Door) -> None:
    for extra in MALFORMED_ANTHROPIC:
        message = invoke_refused(door, anthropic_body(**extra))
        assert message, extra
    # Odd but valid schemas are served: a tool call comes back whatever the schema looks like.
    weird = [
        {"type": "object", "allOf": [{"$ref": "#"}]},
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10**30, "multipleOf": 1e-9}},
         "required": ["n"]},
        {"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]},
        {"type": "object", "properties": 5, "required": "all"},
    ]
    client = door.client()
    for schema in weird:
        tools = [{"toolSpec": {"name": "odd", "inputSchema": {"json": schema}}}]
        response = client.converse(modelId=CLAUDE_HAIKU, messages=[user()],
                                   toolConfig={"tools": tools, "toolChoice": {"any": {}}})
        assert response["stopReason"] == "tool_use"
        assert isinstance(response["output"]["message"]["content"][-1]["toolUse"]["input"], dict)
    totals = door.ledger.totals()
    assert totals["outcomes"] == {"ValidationException": len(MALFORMED_ANTHROPIC), "ok": len(weird)}
    still_serving(door)

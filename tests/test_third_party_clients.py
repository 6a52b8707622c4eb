"""Clients nobody here wrote, unchanged, against the HTTP emulator: the official Anthropic SDK's
Bedrock client and LangChain's ChatBedrockConverse."""

from __future__ import annotations

import pytest

from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, Door

anthropic = pytest.importorskip("anthropic")
langchain_aws = pytest.importorskip("langchain_aws")


@pytest.fixture
def claude(http_door: Door):
    return anthropic.AnthropicBedrock(
        aws_region="us-east-1", aws_access_key="testing", aws_secret_key="testing", base_url=http_door.endpoint_url
    )


def test_anthropic_sdk_create(claude, http_door: Door) -> None:
    message = claude.messages.create(
        model=CLAUDE_HAIKU, max_tokens=40, system="Be brief.",
        messages=[{"role": "user", "content": "What is a token bucket?"}],
    )
    record = http_door.ledger.records[-1]
    assert message.role == "assistant" and message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (record.input_tokens, record.output_tokens)
    assert record.operation == "InvokeModel" and record.outcome == "ok"


def test_anthropic_sdk_stream(claude, http_door: Door) -> None:
    with claude.messages.stream(
        model=f"us.{CLAUDE_HAIKU}", max_tokens=25, messages=[{"role": "user", "content": "Stream, please."}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    record = http_door.ledger.records[-1]
    assert text == final.content[0].text and text
    assert final.usage.output_tokens == record.output_tokens <= 25
    assert record.operation == "InvokeModelWithResponseStream" and record.streamed


def test_anthropic_sdk_sees_typed_errors(claude, http_door: Door) -> None:
    http_door.faults.inject("ThrottlingException")
    limited = claude.with_options(max_retries=1)
    with pytest.raises(anthropic.RateLimitError):
        limited.messages.create(model=CLAUDE_HAIKU, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert [r.outcome for r in http_door.ledger.records] == ["ThrottlingException"] * 2


def test_anthropic_sdk_validation_error_surfaces(claude, http_door: Door) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude.messages.create(model=CLAUDE_HAIKU, max_tokens=5, messages=[{"role": "assistant", "content": "hi"}])
    assert raised.value.status_code == 400
    assert http_door.ledger.records[-1].outcome == "ValidationException"


@pytest.fixture
def chat(http_door: Door):
    client = Door("http", http_door.emulator, http_door.endpoint_url).client()
    return langchain_aws.ChatBedrockConverse(model=LLAMA_70B, client=client, max_tokens=30, temperature=0.7)


def test_langchain_invoke(chat, http_door: Door) -> None:
    reply = chat.invoke("Explain exponential backoff in one line.")
    record = http_door.ledger.records[-1]
    assert reply.content and record.operation == "Converse"
    assert reply.usage_metadata["output_tokens"] == record.output_tokens <= 30
    assert reply.usage_metadata["input_tokens"] == record.input_tokens


def test_langchain_stream(chat, http_door: Door) -> None:
    chunks = list(chat.stream("Stream a short answer."))
    text = "".join(c.content if isinstance(c.content, str) else "".join(
        part.get("text", "") for part in c.content) for c in chunks)
    record = http_door.ledger.records[-1]
    assert text and record.operation == "ConverseStream" and record.outcome == "ok"
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage and usage[-1]["output_tokens"] == record.output_tokens


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
        "required": ["city"],
    },
}


def test_anthropic_sdk_tool_use(claude, http_door: Door) -> None:
    import jsonschema

    message = claude.messages.create(
        model=CLAUDE_HAIKU, max_tokens=200, tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Lisbon?"}],
    )
    calls = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].id.startswith("toolu_bdrk_")
    jsonschema.validate(calls[0].input, WEATHER_TOOL["input_schema"])
    assert message.usage.output_tokens == http_door.ledger.records[-1].output_tokens


def test_anthropic_sdk_streamed_tool_use(claude) -> None:
    import jsonschema

    with claude.messages.stream(
        model=CLAUDE_HAIKU, max_tokens=200, tools=[WEATHER_TOOL], tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Porto?"}],
    ) as stream:
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert final.stop_reason == "tool_use"
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])


def test_langchain_tool_calling(http_door: Door) -> None:
    import jsonschema

    client = Door("http", http_door.emulator, http_door.endpoint_url).client()
    llm = langchain_aws.ChatBedrockConverse(model=CLAUDE_HAIKU, client=client, max_tokens=200)
    bound = llm.bind_tools(
        [{"name": WEATHER_TOOL["name"], "description": WEATHER_TOOL["description"],
          "parameters": WEATHER_TOOL["input_schema"]}],
        tool_choice="get_weather",
    )
    reply = bound.invoke("What's the weather in Faro?")
    assert len(reply.tool_calls) == 1 and reply.tool_calls[0]["name"] == "get_weather"
    jsonschema.validate(reply.tool_calls[0]["args"], WEATHER_TOOL["input_schema"])
    streamed = None
    for chunk in bound.stream("And in Braga?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None and streamed.tool_calls and streamed.tool_calls[0]["name"] == "get_weather"
    jsonschema.validate(streamed.tool_calls[0]["args"], WEATHER_TOOL["input_schema"])

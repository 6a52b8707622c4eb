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

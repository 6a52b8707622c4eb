"""The catalogue and identifiers through real boto3: ARNs, profile ids, aliases, profile-only models."""

from __future__ import annotations

import pytest

from emulator import EmulatorConfig, mock_bedrock
from emulator.catalog import on_demand_unsupported
from tests.conftest import CLAUDE_HAIKU, Door, make_client

MESSAGES = [{"role": "user", "content": [{"text": "Which model am I talking to?"}]}]
SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.mark.parametrize(
    "identifier",
    [
        CLAUDE_HAIKU,
        f"us.{CLAUDE_HAIKU}",
        f"global.{CLAUDE_HAIKU}",
        f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE_HAIKU}",
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE_HAIKU}",
        f"us.{SONNET_4}",
        f"arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.{SONNET_4}",
    ],
)
def test_every_identifier_form_reaches_its_model(door: Door, identifier: str) -> None:
    reply = door.client().converse(modelId=identifier, messages=MESSAGES, inferenceConfig={"maxTokens": 8})
    record = door.ledger.records[-1]
    assert reply["usage"]["outputTokens"] <= 8
    assert record.model_id == identifier
    assert record.resolved_model in (CLAUDE_HAIKU, SONNET_4)


@pytest.mark.parametrize(
    "identifier, message",
    [
        ("anthropic.claude-9-giant-v1:0", "The provided model identifier is invalid."),
        ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefabcdef",
         "The provided model identifier is invalid."),
        (SONNET_4, on_demand_unsupported(SONNET_4)),
    ],
)
def test_unusable_identifiers_are_validation_errors_that_are_not_retried(
    door: Door, identifier: str, message: str
) -> None:
    client = door.client(retry_mode="standard")
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.converse(modelId=identifier, messages=MESSAGES)
    assert raised.value.response["Error"]["Message"] == message
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [r.outcome for r in door.ledger.records] == ["ValidationException"]  # one attempt, no retry


def test_aliases_resolve_account_resources() -> None:
    profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    imported = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefabcdef"
    config = EmulatorConfig(aliases={profile: f"us.{SONNET_4}", "abcdefabcdef": "meta.llama3-1-70b-instruct-v1:0"})
    with mock_bedrock(config=config) as bedrock:
        client = make_client()
        client.converse(modelId=profile, messages=MESSAGES, inferenceConfig={"maxTokens": 4})
        client.converse(modelId=imported, messages=MESSAGES, inferenceConfig={"maxTokens": 4})
        assert [r.resolved_model for r in bedrock.ledger.records] == [SONNET_4, "meta.llama3-1-70b-instruct-v1:0"]


def test_a_new_model_from_config_is_served() -> None:
    config = EmulatorConfig(models={"acme.tiny-chat-v1:0": {"family": "meta", "size_class": "small",
                                                            "max_output_tokens": 64}})
    with mock_bedrock(config=config) as bedrock:
        client = make_client()
        reply = client.converse(modelId="acme.tiny-chat-v1:0", messages=MESSAGES)
        assert reply["usage"]["outputTokens"] <= 64
        assert bedrock.ledger.records[-1].resolved_model == "acme.tiny-chat-v1:0"

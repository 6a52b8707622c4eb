"""Model identifiers: bare ids, inference-profile ids and the ARN forms callers use."""

from __future__ import annotations

import pytest

from emulator.identifiers import Identifier, parse

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ALIASES = {
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6": f"us.{HAIKU}",
    "abcdefabcdef": "meta.llama3-1-70b-instruct-v1:0",
}


@pytest.mark.parametrize(
    "identifier, expected",
    [
        (HAIKU, Identifier(HAIKU, False)),
        (f"us.{HAIKU}", Identifier(HAIKU, True)),
        (f"global.{HAIKU}", Identifier(HAIKU, True)),
        (f"apac.{HAIKU}", Identifier(HAIKU, True)),
        (f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}", Identifier(HAIKU, False)),
        (f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{HAIKU}", Identifier(HAIKU, True)),
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
         Identifier(HAIKU, True)),
        ("arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefabcdef",
         Identifier("meta.llama3-1-70b-instruct-v1:0", True)),
        ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/zzzzzzzzzzzz", Identifier(None, False)),
        ("arn:aws:bedrock:us-east-1:123456789012:imported-model/unknown00000", Identifier(None, False)),
    ],
)
def test_identifiers_reduce_to_a_foundation_model(identifier: str, expected: Identifier) -> None:
    assert parse(identifier, ALIASES) == expected

"""``mock_bedrock`` next to moto's ``mock_aws``, and the in-process mock's lifecycle.

Bedrock Runtime calls are answered by the emulator (its ledger shows them) while moto keeps
mocking every other service (S3 here). A client pointed at an ``EmulatorServer`` goes over HTTP
whatever is active. Nothing here may leave the machine: ``no_internet`` makes botocore's HTTP
layer refuse any host but loopback, so a call nobody answers in-process fails loudly.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import botocore.handlers
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emulator import BedrockMock, mock_bedrock
from emulator.transports import inprocess
from tests.conftest import LLAMA_70B, SEED, Door, RealNetworkBlocked, make_client

MESSAGES = [{"role": "user", "content": [{"text": "Name three colours of the rainbow, please."}]}]


def converse(client: Any, max_tokens: int = 32) -> dict[str, Any]:
    return client.converse(modelId=LLAMA_70B, messages=MESSAGES, inferenceConfig={"maxTokens": max_tokens})


def bedrock_calls(client: Any) -> None:
    """Converse, ConverseStream and InvokeModel, each checked for an emulator-shaped answer."""
    answer = converse(client)
    assert answer["output"]["message"]["content"][0]["text"]
    assert answer["usage"]["outputTokens"] > 0
    assert answer["metrics"]["latencyMs"] > 0

    events = list(client.converse_stream(modelId=LLAMA_70B, messages=MESSAGES)["stream"])
    assert "messageStart" in events[0]
    assert "messageStop" in events[-2] and "metadata" in events[-1]

    body = json.dumps({"prompt": "Name three colours.", "max_gen_len": 32})
    payload = json.loads(client.invoke_model(modelId=LLAMA_70B, body=body)["body"].read())
    assert payload["generation"] and payload["generation_token_count"] > 0


def s3_round_trip() -> None:
    s3 = make_client_for("s3")
    s3.create_bucket(Bucket="bedrock-chaos-test")
    s3.put_object(Bucket="bedrock-chaos-test", Key="answer.txt", Body=b"42")
    assert s3.get_object(Bucket="bedrock-chaos-test", Key="answer.txt")["Body"].read() == b"42"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["bedrock-chaos-test"]


def make_client_for(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def operations(handle: BedrockMock) -> list[tuple[str, str]]:
    return [(r.operation, r.outcome) for r in handle.ledger.records]


EXPECTED = [("Converse", "ok"), ("ConverseStream", "ok"), ("InvokeModel", "ok")]


# -- next to mock_aws -------------------------------------------------------------------------------


@pytest.mark.parametrize("moto_outside", [True, False], ids=["mock_aws-outside", "mock_aws-inside"])
def test_mock_bedrock_answers_bedrock_while_moto_mocks_s3(moto_outside: bool) -> None:
    handle = mock_bedrock(seed=SEED)
    managers: list[Any] = [mock_aws(), handle] if moto_outside else [handle, mock_aws()]
    with contextlib.ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        bedrock_calls(make_client())
        s3_round_trip()
        assert operations(handle) == EXPECTED


def test_moto_answers_bedrock_again_once_mock_bedrock_stops() -> None:
    with mock_aws():
        with mock_bedrock(seed=SEED) as handle:
            converse(make_client())
        # Our mock stood moto aside for Bedrock only while it was active; now moto answers again
        # (moto >= 5.2 raises NotImplementedError for Converse, older moto says 404).
        with pytest.raises((NotImplementedError, ClientError)):
            converse(make_client())
        s3_round_trip()
    assert len(handle.ledger) == 1


@pytest.mark.parametrize("with_mock_bedrock", [False, True])
def test_http_emulator_is_reached_inside_mock_aws(http_door: Door, with_mock_bedrock: bool) -> None:
    in_process = mock_bedrock(seed=SEED) if with_mock_bedrock else contextlib.nullcontext()
    with mock_aws(), in_process as handle:
        client = http_door.client()
        bedrock_calls(client)
        s3_round_trip()
        if handle is not None:
            assert len(handle.ledger) == 0  # the in-process mock only answers AWS's own endpoints
    assert [(r.operation, r.outcome) for r in http_door.ledger.records] == EXPECTED


# -- decorator form --------------------------------------------------------------------------------


def test_decorator_with_arguments() -> None:
    @mock_bedrock(seed=SEED)
    def ask() -> dict[str, Any]:
        return converse(make_client())

    for _ in range(2):
        assert ask()["usage"]["outputTokens"] > 0
    with pytest.raises(RealNetworkBlocked):  # not active outside the decorated function
        converse(make_client())


def test_bare_decorator_and_stacked_with_mock_aws() -> None:
    @mock_aws
    @mock_bedrock
    def ask_and_store() -> str:
        text = converse(make_client())["output"]["message"]["content"][0]["text"]
        s3_round_trip()
        return text

    assert ask_and_store()


def test_decorator_keeps_one_emulator_across_calls() -> None:
    handle = mock_bedrock(seed=SEED)
    ask: Callable[[], dict[str, Any]] = handle(lambda: converse(make_client()))
    ask()
    ask()
    records = handle.ledger.records
    assert [r.outcome for r in records] == ["ok", "ok"]
    assert [r.cold for r in records] == [True, False]  # the second call found a warm container


# -- clients made before the mock, and after it --------------------------------------------------


@pytest.fixture
def legacy_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A client whose botocore session was built before ``emulator`` was imported."""
    without_ours = [h for h in botocore.handlers.BUILTIN_HANDLERS if h[1] is not inprocess._dispatch]
    with monkeypatch.context() as patch:
        patch.setattr(botocore.handlers, "BUILTIN_HANDLERS", without_ours)
        session = boto3.session.Session()  # a botocore session copies BUILTIN_HANDLERS when made
    return session.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_patch_client_hooks_a_client_created_before_the_mock(legacy_client: Any) -> None:
    with mock_bedrock(seed=SEED) as handle:
        with pytest.raises(RealNetworkBlocked):
            converse(legacy_client)
        assert handle.patch_client(legacy_client) is legacy_client
        converse(legacy_client)
        assert operations(handle) == [("Converse", "ok")]


def test_patch_client_is_idempotent() -> None:
    client = make_client(max_attempts=1)  # made after the import: already hooked
    with mock_bedrock(seed=SEED) as handle:
        handle.patch_client(client)
        handle.patch_client(client)
        converse(client)
        assert operations(handle) == [("Converse", "ok")]  # one request, one engine call


def test_a_stopped_mock_answers_nothing() -> None:
    client = make_client(max_attempts=1)
    with mock_bedrock(seed=SEED) as handle:
        converse(client)
    assert len(handle.ledger) == 1

    # The request now goes to botocore's HTTP layer (which refuses AWS here), for old and new clients.
    for later in (client, make_client(max_attempts=1)):
        with pytest.raises(RealNetworkBlocked):
            converse(later)
    assert len(handle.ledger) == 1


def test_nested_mocks_answer_from_the_innermost() -> None:
    client = make_client()
    with mock_bedrock(seed=SEED) as outer:
        converse(client)
        with mock_bedrock(seed=SEED) as inner:
            converse(client)
        converse(client)
    assert len(outer.ledger) == 2 and len(inner.ledger) == 1

"""Wire details real clients meet: stream padding, x-amz-retry-after, bearer-token auth."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.eventstream import EventStreamBuffer

from emulator import EmulatorConfig, EmulatorServer, mock_bedrock
from emulator.core import Emulator, wire_request
from tests.conftest import LLAMA_70B, Door, make_client

MESSAGES = [{"role": "user", "content": [{"text": "Pad this, please."}]}]
ALPHABET = string.ascii_letters + string.digits


def _stream_payloads(config: EmulatorConfig) -> list[dict[str, Any]]:
    client = make_client()
    request = client._serializer.serialize_to_request(  # the exact bytes boto3 would send
        {"modelId": LLAMA_70B, "messages": MESSAGES}, client.meta.service_model.operation_model("ConverseStream")
    )
    emulator = Emulator(config)
    url = "https://bedrock-runtime.us-east-1.amazonaws.com" + request["url_path"]
    exchange = emulator.begin(wire_request("POST", url, request["headers"], request["body"]))
    emulator.clock.settle(lambda: exchange.ready)
    buffer = EventStreamBuffer()
    for frame in exchange.render().frames or []:
        buffer.add_data(frame.data)
    return [json.loads(message.payload) for message in buffer]


def test_converse_stream_events_carry_random_length_padding() -> None:
    payloads = _stream_payloads(EmulatorConfig())
    pads = [p["p"] for p in payloads]
    assert len(pads) == len(payloads) >= 5
    assert all(ALPHABET.startswith(pad) and pad for pad in pads)
    assert len(set(map(len, pads))) > 1  # random length, not a constant


def test_padding_can_be_switched_off() -> None:
    payloads = _stream_payloads(EmulatorConfig().replace(front_door={"stream_padding": False}))
    assert all("p" not in p for p in payloads)


def test_boto3_ignores_the_padding(door: Door) -> None:
    events = list(door.client().converse_stream(modelId=LLAMA_70B, messages=MESSAGES)["stream"])
    assert all("p" not in next(iter(e.values())) for e in events)
    assert "metadata" in events[-1]


@pytest.mark.parametrize("retry_after_ms", [None, 750])
def test_throttles_carry_retry_after_only_when_configured(retry_after_ms: int | None) -> None:
    config = EmulatorConfig().replace(front_door={"retry_after_ms": retry_after_ms})
    with mock_bedrock(config=config) as bedrock:
        bedrock.faults.inject("ThrottlingException", times=1)
        client = make_client(max_attempts=1)
        with pytest.raises(client.exceptions.ThrottlingException) as raised:
            client.converse(modelId=LLAMA_70B, messages=MESSAGES)
    headers = raised.value.response["ResponseMetadata"]["HTTPHeaders"]
    expected = None if retry_after_ms is None else str(retry_after_ms)
    assert headers.get("x-amz-retry-after") == expected


@pytest.fixture(scope="module")
def tls_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=5, speed=50, tls=True) as server:
        yield server


@pytest.mark.parametrize("door_name", ["in-process", "https"])
def test_bearer_token_auth_is_accepted(door_name: str, request: pytest.FixtureRequest,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore sends an API key only over HTTPS, so the HTTP door is the TLS server here
    if door_name == "https":
        server = request.getfixturevalue("tls_server")
        door = Door("https", server.emulator, server.endpoint_url)
        verify = server.ca_bundle
    else:
        door = Door("in-process", request.getfixturevalue("mock").emulator, None)
        verify = None
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-testing")
    # an API key is all a bearer client needs; dummy keys keep botocore's credential chain local
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=door.endpoint_url,
                          verify=verify)
    sent: list[str] = []
    client.meta.events.register_first(
        "before-send.bedrock-runtime", lambda request, **_: sent.append(request.headers["Authorization"])
    )
    reply = client.converse(modelId=LLAMA_70B, messages=MESSAGES, inferenceConfig={"maxTokens": 5})
    assert sent and sent[0].startswith(b"Bearer " if isinstance(sent[0], bytes) else "Bearer ")
    assert reply["usage"]["outputTokens"] <= 5
    assert door.ledger.records[-1].outcome == "ok"


def test_an_internal_bug_comes_back_aws_shaped(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.operations import HANDLERS

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the emulator")

    monkeypatch.setitem(HANDLERS, "Converse", broken)
    client = door.client(max_attempts=1)
    with pytest.raises(client.exceptions.InternalServerException) as raised:
        client.converse(modelId=LLAMA_70B, messages=MESSAGES)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert door.ledger.records[-1].outcome == "InternalServerException"


def test_a_lone_surrogate_in_a_body_is_answered(door: Door) -> None:
    body = (b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,'
            b'"messages":[{"role":"user","content":"a\\ud800"}]}')
    reply = door.client().invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=body)
    assert json.loads(reply["body"].read())["usage"]["output_tokens"] <= 5


def test_a_tls_server_removes_its_throwaway_certificate() -> None:
    import os

    with EmulatorServer(tls=True) as server:
        bundle = server.ca_bundle
        assert bundle and os.path.exists(bundle)
        assert server.endpoint_url.startswith("https://")
    assert not os.path.exists(os.path.dirname(bundle))


@pytest.mark.parametrize(
    "body",
    [
        b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"temperature":NaN,'
        b'"messages":[{"role":"user","content":"hi"}]}',
        b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"top_p":Infinity,'
        b'"messages":[{"role":"user","content":"hi"}]}',
    ],
)
def test_nan_and_infinity_are_not_json_numbers(door: Door, body: bytes) -> None:
    client = door.client()
    with pytest.raises(client.exceptions.ValidationException, match="Malformed input request"):
        client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=body)


def test_nan_in_a_converse_body_is_refused(http_door: Door) -> None:
    import requests

    url = http_door.endpoint_url + "/model/meta.llama3-1-70b-instruct-v1%3A0/converse"
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"temperature":NaN}}'
    response = requests.post(url, data=body, timeout=5)
    assert response.status_code == 400
    assert "NaN is not a valid JSON number" in response.json()["message"]


def test_an_absurd_timestamp_in_a_query_is_a_validation_error(http_door: Door) -> None:
    import requests

    response = requests.get(http_door.endpoint_url + "/async-invoke?submitTimeAfter=99999999999999999999", timeout=5)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")


def test_a_bug_inside_the_engine_frees_its_container(mock, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.engine.engine import Engine

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(Engine, "_run", broken)
    client = make_client(max_attempts=1)
    with pytest.raises(client.exceptions.InternalServerException):
        client.converse(modelId=LLAMA_70B, messages=MESSAGES)
    records = mock.ledger.records
    assert [r.outcome for r in records] == ["InternalServerException"]  # one record, not stuck "pending"
    mock.clock.sleep(1.0)
    fleet = mock.emulator.engine.fleets[LLAMA_70B]
    assert all(c.active == 0 for c in fleet.containers)

"""Every modeled error as boto3 sees it, stream exceptions, and botocore's retry loop counted in
the ledger, on both doors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError

from emulator import EmulatorConfig, EmulatorServer, VirtualClock, mock_bedrock
from emulator.wire import service
from emulator.wire.errors import default_message
from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, SEED, Door

MESSAGES = [{"role": "user", "content": [{"text": "Tell me about retries and back-off."}]}]
ANTHROPIC_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 400,
        "messages": [{"role": "user", "content": "Tell me about retries and back-off."}],
    }
).encode()
LLAMA_BODY = json.dumps({"prompt": "Tell me about retries and back-off.", "max_gen_len": 400}).encode()

ALL_CODES = sorted(service.error_shapes())
EMULATED = ("Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens")
RETRIED = ("ThrottlingException", "ModelNotReadyException", "ServiceUnavailableException", "InternalServerException")
NOT_RETRIED = (
    "ModelTimeoutException",
    "ModelErrorException",
    "ValidationException",
    "AccessDeniedException",
    "ServiceQuotaExceededException",
)
DEFAULT_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}


def model_status(code: str) -> int:
    """The HTTP status straight from botocore's service model (not from the emulator)."""
    shape = service.service_model().shape_for(code)
    return int(shape.metadata["error"]["httpStatusCode"])


def call(client: Any, operation: str, model: str = CLAUDE_HAIKU) -> Any:
    """One call of ``operation``; streams are read to the end."""
    if operation == "Converse":
        return client.converse(modelId=model, messages=MESSAGES)
    if operation == "ConverseStream":
        return list(client.converse_stream(modelId=model, messages=MESSAGES)["stream"])
    body = ANTHROPIC_BODY if model == CLAUDE_HAIKU else LLAMA_BODY
    if operation == "InvokeModel":
        return json.loads(client.invoke_model(modelId=model, body=body)["body"].read())
    if operation == "InvokeModelWithResponseStream":
        return list(client.invoke_model_with_response_stream(modelId=model, body=body)["body"])
    if operation == "CountTokens":
        return client.count_tokens(modelId=model, input={"converse": {"messages": MESSAGES}})
    raise AssertionError(operation)


def outcomes(door: Door) -> list[str]:
    return [r.outcome for r in door.ledger.records]


@pytest.fixture
def fast(door: Door) -> Iterator[Door]:
    """The door, with botocore's client-side time virtual on both doors, so back-off sleeps and
    adaptive mode's rate limiter cost no real time (the in-process mock already does this)."""
    if door.name == "http":
        with VirtualClock().patch_botocore():
            yield door
    else:
        yield door


# -- every modeled error code ----------------------------------------------------------------------


def test_the_model_has_the_codes_this_file_expects() -> None:
    assert set(RETRIED) | set(NOT_RETRIED) <= set(ALL_CODES)
    assert len(ALL_CODES) >= 12


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_modeled_error_is_typed_on_converse(door: Door, code: str) -> None:
    """Codes Converse does not model (ConflictException, ModelStreamErrorException,
    ServiceQuotaExceededException) still come back typed: botocore maps any code of the service."""
    door.faults.inject(code, times=1, at="admission", operation="Converse")
    client = door.client(max_attempts=1)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
    err = info.value
    assert type(err) is getattr(client.exceptions, code)
    assert err.response["Error"]["Code"] == code
    assert err.response["Error"]["Message"] == default_message(code) != ""
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == model_status(code)
    record = door.ledger.records[-1]
    assert len(door.ledger.records) == 1
    assert (record.operation, record.outcome) == ("Converse", code)
    assert record.request_id == err.response["ResponseMetadata"]["RequestId"]
    if code == "ModelErrorException":
        assert err.response["originalStatusCode"] == 500
        assert err.response["resourceName"] == CLAUDE_HAIKU
    if code == "ModelStreamErrorException":
        assert err.response["originalStatusCode"] == 500
        assert err.response["originalMessage"]
    # The fault was spent: the next call goes through.
    assert client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 5})
    assert outcomes(door) == [code, "ok"]


@pytest.mark.parametrize(
    ("operation", "code"),
    [(op, shape.name) for op in EMULATED for shape in service.operation(op).error_shapes],
)
def test_modeled_errors_of_each_operation(door: Door, operation: str, code: str) -> None:
    door.faults.inject(code, times=1, at="admission", operation=operation)
    client = door.client(max_attempts=1)
    with pytest.raises(ClientError) as info:
        call(client, operation)
    assert type(info.value) is getattr(client.exceptions, code)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == model_status(code)
    assert outcomes(door) == [code]
    assert door.ledger.records[0].operation == operation


def test_model_error_fields_on_invoke_model(door: Door) -> None:
    door.faults.inject("ModelErrorException", times=1, at="completion")
    client = door.client(max_attempts=1)
    with pytest.raises(client.exceptions.ModelErrorException) as info:
        client.invoke_model(modelId="us.anthropic.claude-3-haiku-20240307-v1:0", body=ANTHROPIC_BODY)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["originalStatusCode"] == 500
    assert response["resourceName"] == "us.anthropic.claude-3-haiku-20240307-v1:0"  # as the caller named it
    record = door.ledger.records[0]
    assert record.outcome == "ModelErrorException"
    assert record.output_tokens > 0  # generated, then failed: the completion point


@pytest.mark.parametrize("at", ["admission", "first_byte", "completion"])
def test_fault_points_on_converse(door: Door, at: str) -> None:
    door.faults.inject("ServiceUnavailableException", times=1, at=at)
    client = door.client(max_attempts=1)
    with pytest.raises(client.exceptions.ServiceUnavailableException):
        client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
    record = door.ledger.records[0]
    assert record.outcome == "ServiceUnavailableException"
    assert (record.ttft_s > 0) == (at != "admission")
    assert (record.output_tokens > 0) == (at == "completion")


# -- stream faults ---------------------------------------------------------------------------------


def content_events_until_error(operation: str, events: Iterator[dict[str, Any]]) -> tuple[int, EventStreamError]:
    received = 0
    with pytest.raises(EventStreamError) as info:
        for event in events:
            if operation == "ConverseStream":
                received += "contentBlockDelta" in event
            else:
                chunk = json.loads(event["chunk"]["bytes"])
                received += chunk.get("type") == "content_block_delta" or bool(chunk.get("generation"))
    return received, info.value


def open_stream(client: Any, operation: str, model: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    if operation == "ConverseStream":
        return client.converse_stream(modelId=model, messages=MESSAGES, **kwargs)["stream"]
    body = ANTHROPIC_BODY if model == CLAUDE_HAIKU else LLAMA_BODY
    return client.invoke_model_with_response_stream(modelId=model, body=body)["body"]


STREAM_CASES = [
    (op, model, code, member)
    for op, models in (("ConverseStream", [CLAUDE_HAIKU]), ("InvokeModelWithResponseStream", [CLAUDE_HAIKU, LLAMA_70B]))
    for model in models
    for code, member in sorted(service.stream_exception_members(op).items())
]


@pytest.mark.parametrize(("operation", "model", "code", "member"), STREAM_CASES)
def test_mid_stream_exception_after_two_content_events(
    door: Door, operation: str, model: str, code: str, member: str
) -> None:
    door.faults.inject(code, at="mid_stream", after_events=2, operation=operation)
    client = door.client()
    received, err = content_events_until_error(operation, open_stream(client, operation, model))
    assert received == 2
    assert err.response["Error"]["Code"] == member == code[0].lower() + code[1:]
    assert err.response["Error"]["Message"] == default_message(code)
    # Never retried, whatever the code; the ledger has the one attempt, marked with the fault.
    records = door.ledger.records
    assert len(records) == 1
    assert (records[0].outcome, records[0].streamed, records[0].operation) == (code, True, operation)


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("ConverseStream", "ModelTimeoutException"),
        ("ConverseStream", "AccessDeniedException"),
        ("InvokeModelWithResponseStream", "ModelErrorException"),
        ("InvokeModelWithResponseStream", "ConflictException"),
    ],
)
def test_mid_stream_code_outside_the_union(door: Door, operation: str, code: str) -> None:
    assert code not in service.stream_exception_members(operation)
    door.faults.inject(code, at="mid_stream", after_events=2, operation=operation)
    client = door.client()
    received, err = content_events_until_error(operation, open_stream(client, operation, CLAUDE_HAIKU))
    assert received == 2
    assert err.response["Error"]["Code"] == code
    assert err.response["Error"]["Message"] == default_message(code)
    assert outcomes(door) == [code]


@pytest.mark.parametrize("operation", ["ConverseStream", "InvokeModelWithResponseStream"])
def test_mid_stream_fault_on_a_short_answer_still_breaks(door: Door, operation: str) -> None:
    """after_events beyond the answer's content events: the stream breaks after the last one
    (the ledger says the attempt failed, so the client must see it fail)."""
    door.faults.inject("ThrottlingException", at="mid_stream", after_events=50, operation=operation)
    client = door.client()
    if operation == "ConverseStream":
        events = client.converse_stream(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 3})
        events = events["stream"]
    else:
        body = json.loads(ANTHROPIC_BODY)
        body["max_tokens"] = 3
        events = client.invoke_model_with_response_stream(modelId=CLAUDE_HAIKU, body=json.dumps(body))["body"]
    received, err = content_events_until_error(operation, events)
    assert 1 <= received < 50
    assert err.response["Error"]["Code"] == "throttlingException"
    assert outcomes(door) == ["ThrottlingException"]


def test_mid_stream_fault_on_a_non_streaming_call_fails_the_call(door: Door) -> None:
    door.faults.inject("ModelStreamErrorException", at="mid_stream", times=1)
    client = door.client(max_attempts=1)
    with pytest.raises(client.exceptions.ModelStreamErrorException):
        client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
    assert outcomes(door) == ["ModelStreamErrorException"]


# -- retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["standard", "adaptive", "legacy"])
@pytest.mark.parametrize("code", RETRIED)
def test_retried_errors_use_the_default_attempts(fast: Door, code: str, mode: str) -> None:
    fast.faults.inject(code)  # no `times`: every attempt fails
    client = fast.client(retry_mode=mode)
    with pytest.raises(getattr(client.exceptions, code)) as info:
        client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
    attempts = DEFAULT_ATTEMPTS[mode]
    assert outcomes(fast) == [code] * attempts
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == attempts - 1
    assert f"(reached max retries: {attempts - 1})" in str(info.value)


@pytest.mark.parametrize("mode", ["standard", "adaptive", "legacy"])
@pytest.mark.parametrize("code", NOT_RETRIED)
def test_non_retried_errors_are_attempted_once(fast: Door, code: str, mode: str) -> None:
    fast.faults.inject(code)
    client = fast.client(retry_mode=mode)
    with pytest.raises(getattr(client.exceptions, code)) as info:
        client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
    assert outcomes(fast) == [code]
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 0


@pytest.mark.parametrize("mode", ["standard", "adaptive", "legacy"])
@pytest.mark.parametrize("total", [1, 2, 4, 7])
def test_total_max_attempts(fast: Door, mode: str, total: int) -> None:
    fast.faults.inject("ThrottlingException", operation="InvokeModel")
    client = fast.client(retry_mode=mode, max_attempts=total)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.invoke_model(modelId=CLAUDE_HAIKU, body=ANTHROPIC_BODY)
    assert outcomes(fast) == ["ThrottlingException"] * total


@pytest.mark.parametrize("mode", ["standard", "adaptive", "legacy"])
def test_throttled_twice_then_succeeds_on_the_third_attempt(fast: Door, mode: str) -> None:
    fast.faults.inject("ThrottlingException", times=2, operation="Converse")
    client = fast.client(retry_mode=mode)
    response = client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert response["usage"]["outputTokens"] > 0
    assert outcomes(fast) == ["ThrottlingException", "ThrottlingException", "ok"]
    records = fast.ledger.records
    assert records[-1].request_id == response["ResponseMetadata"]["RequestId"]
    assert len({r.request_id for r in records}) == 3  # each attempt is its own request
    assert fast.ledger.totals()["outcomes"] == {"ThrottlingException": 2, "ok": 1}


@pytest.mark.parametrize("mode", ["standard", "adaptive", "legacy"])
@pytest.mark.parametrize("operation", ["ConverseStream", "InvokeModelWithResponseStream"])
def test_mid_stream_exceptions_are_never_retried(fast: Door, mode: str, operation: str) -> None:
    fast.faults.inject("ThrottlingException", at="mid_stream", after_events=2)  # no times limit
    client = fast.client(retry_mode=mode)
    with pytest.raises(EventStreamError) as info:
        call(client, operation)
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert outcomes(fast) == ["ThrottlingException"]


@pytest.mark.parametrize("operation", ["ConverseStream", "InvokeModelWithResponseStream", "CountTokens"])
def test_admission_throttle_is_retried_on_every_operation(fast: Door, operation: str) -> None:
    fast.faults.inject("ThrottlingException", times=2, operation=operation)
    result = call(fast.client(), operation)
    assert result
    assert outcomes(fast) == ["ThrottlingException", "ThrottlingException", "ok"]


# -- the natural throttle: the account's token bucket --------------------------------------------

TIGHT = EmulatorConfig().replace(account={"requests_per_second": 1, "burst": 1})
THROTTLED = "Too many requests, please wait before trying again."


def test_account_bucket_throttles_in_process() -> None:
    with mock_bedrock(config=TIGHT, seed=SEED) as handle:
        client = Door("in-process", handle.emulator, None).client(max_attempts=1)
        # CountTokens answers in 30 ms, so the next call arrives long before the bucket refills.
        assert client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": MESSAGES}})
        with pytest.raises(client.exceptions.ThrottlingException) as info:
            client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES)
        assert info.value.response["Error"]["Message"] == THROTTLED
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert [(r.operation, r.outcome) for r in handle.ledger.records] == [
            ("CountTokens", "ok"),
            ("Converse", "ThrottlingException"),
        ]
        handle.clock.sleep(1.0)  # virtual time: the bucket refills one request
        assert client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 5})
        assert [r.outcome for r in handle.ledger.records][-1] == "ok"


def test_account_bucket_throttles_over_http() -> None:
    with EmulatorServer(config=TIGHT, seed=SEED, speed=1.0) as server:
        client = Door("http", server.emulator, server.endpoint_url).client(max_attempts=1)
        assert client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": MESSAGES}})
        with pytest.raises(client.exceptions.ThrottlingException) as info:
            client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": MESSAGES}})
        assert info.value.response["Error"]["Message"] == THROTTLED
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert [r.outcome for r in server.ledger.records] == ["ok", "ThrottlingException"]

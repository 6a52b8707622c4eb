"""Every routed operation, through real boto3 clients, on both doors: output shapes, headers,
stream event order, token accounting against CountTokens and the ledger, and the errors a bad
request gets (each one answered with the right status and message, and recorded)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from botocore.model import Shape

from tests.conftest import CLAUDE_HAIKU, LLAMA_70B, Door

PROFILE_HAIKU = "us.anthropic.claude-3-haiku-20240307-v1:0"
UNKNOWN_MODEL = "anthropic.claude-9-opus-20990101-v1:0"
INVALID_MODEL = "The provided model identifier is invalid."

SYSTEM = [{"text": "You are terse."}]
MESSAGES = [{"role": "user", "content": [{"text": "Name three colours of the rainbow, please."}]}]
LLAMA_PROMPT = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    "Name three colours of the rainbow, please.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def anthropic_body(max_tokens: int | None = 200, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "anthropic_version": "bedrock-2023-05-31",
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Name three colours of the rainbow, please."}],
        **extra,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return json.dumps(body).encode()


def llama_body(max_gen_len: int = 200) -> bytes:
    return json.dumps({"prompt": LLAMA_PROMPT, "max_gen_len": max_gen_len, "temperature": 0.5}).encode()


# -- helpers ---------------------------------------------------------------------------------------


def check_shape(shape: Shape, value: Any, path: str = "") -> None:
    """Every required member of every structure present in ``value`` is there (recursively);
    a union has exactly one member set."""
    if shape.type_name == "structure":
        assert isinstance(value, dict), f"{path or '<root>'} is not a structure: {value!r}"
        if shape.metadata.get("union"):
            chosen = [k for k in value if k in shape.members]
            assert len(chosen) == 1, f"union {path} has {chosen} set"
        for name in shape.required_members:
            assert name in value, f"required member {path}.{name} is missing from {sorted(value)}"
        for name, member in shape.members.items():
            if name in value and not member.serialization.get("eventstream"):
                check_shape(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list":
        assert isinstance(value, list), f"{path} is not a list"
        for i, item in enumerate(value):
            check_shape(shape.member, item, f"{path}[{i}]")


def check_output(client: Any, operation: str, response: dict[str, Any]) -> None:
    output_shape = client.meta.service_model.operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    for name in output_shape.required_members:
        assert name in body, f"{operation}: required output member {name} missing"
    check_shape(output_shape, body)


def stream_event_shapes(client: Any, operation: str) -> dict[str, Shape]:
    stream = client.meta.service_model.operation_model(operation).get_event_stream_output()
    return dict(stream.members)


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}


def only_record(door: Door) -> Any:
    records = door.ledger.records
    assert len(records) == 1, records
    return records[0]


def client_error(call: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def assert_refused(door: Door, err: ClientError, code: str, status: int, operation: str) -> Any:
    assert err.response["Error"]["Code"] == code
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == status
    record = door.ledger.records[-1]
    assert record.outcome == code
    assert record.operation == operation
    assert record.request_id == err.response["ResponseMetadata"]["RequestId"]
    return record


# -- Converse --------------------------------------------------------------------------------------


def test_converse_output_shape_usage_and_metrics(door: Door) -> None:
    client = door.client()
    response = client.converse(modelId=CLAUDE_HAIKU, system=SYSTEM, messages=MESSAGES)
    check_output(client, "Converse", response)

    message = response["output"]["message"]
    assert message["role"] == "assistant"
    assert message["content"][0]["text"].strip()
    usage = response["usage"]
    assert usage["inputTokens"] > 0 and usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert response["metrics"]["latencyMs"] > 0
    assert response["stopReason"] == "end_turn"
    assert usage["outputTokens"] < 4096  # the model's cap, which the answer did not reach

    record = only_record(door)
    assert record.outcome == "ok"
    assert record.operation == "Converse"
    assert record.request_id == response["ResponseMetadata"]["RequestId"]
    assert (record.input_tokens, record.output_tokens) == (usage["inputTokens"], usage["outputTokens"])
    assert record.stop_reason == "end_turn"
    assert not record.streamed


def test_converse_tiny_max_tokens_stops_at_max_tokens(door: Door) -> None:
    client = door.client()
    response = client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 3})
    check_output(client, "Converse", response)
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 3
    assert only_record(door).stop_reason == "max_tokens"


def test_converse_stream_event_order(door: Door) -> None:
    client = door.client()
    response = client.converse_stream(modelId=CLAUDE_HAIKU, system=SYSTEM, messages=MESSAGES)
    check_output(client, "ConverseStream", response)
    assert "stream" in response
    shapes = stream_event_shapes(client, "ConverseStream")
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    for event, kind in zip(events, kinds, strict=True):
        check_shape(shapes[kind], event[kind], kind)

    assert kinds[0] == "messageStart"
    assert events[0]["messageStart"]["role"] == "assistant"
    deltas = [i for i, k in enumerate(kinds) if k == "contentBlockDelta"]
    assert deltas == list(range(1, 1 + len(deltas))) and deltas, kinds
    assert kinds[1 + len(deltas) :] == ["contentBlockStop", "messageStop", "metadata"]
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"

    metadata = events[-1]["metadata"]
    usage = metadata["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert metadata["metrics"]["latencyMs"] > 0
    text = "".join(events[i]["contentBlockDelta"]["delta"]["text"] for i in deltas)
    assert text.strip()

    record = only_record(door)
    assert record.streamed and record.outcome == "ok"
    assert (record.input_tokens, record.output_tokens) == (usage["inputTokens"], usage["outputTokens"])


def test_converse_stream_tiny_max_tokens(door: Door) -> None:
    response = door.client().converse_stream(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 3})
    events = list(response["stream"])
    stop = [e["messageStop"] for e in events if "messageStop" in e]
    assert stop == [{"stopReason": "max_tokens"}]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3


# -- InvokeModel -----------------------------------------------------------------------------------


def test_invoke_model_anthropic(door: Door) -> None:
    client = door.client()
    body = anthropic_body()
    response = client.invoke_model(modelId=CLAUDE_HAIKU, body=body)
    check_output(client, "InvokeModel", response)
    assert response["contentType"] == "application/json"
    raw = response["body"].read()
    headers = headers_of(response)
    assert int(headers["content-length"]) == len(raw)
    assert headers["x-amzn-requestid"] == response["ResponseMetadata"]["RequestId"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) > 0

    payload = json.loads(raw)
    assert payload["id"].startswith("msg_bdrk_")
    assert payload["type"] == "message"
    assert payload["role"] == "assistant"
    assert payload["content"][0]["type"] == "text" and payload["content"][0]["text"].strip()
    assert payload["stop_reason"] == "end_turn"
    usage = payload["usage"]
    assert usage["output_tokens"] < 200
    assert int(headers["x-amzn-bedrock-input-token-count"]) == usage["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == usage["output_tokens"]

    record = only_record(door)
    assert record.request_id == headers["x-amzn-requestid"]
    assert record.input_tokens == usage["input_tokens"]
    assert record.output_tokens == usage["output_tokens"]

    counted = client.count_tokens(modelId=CLAUDE_HAIKU, input={"invokeModel": {"body": body}})
    assert counted["inputTokens"] == usage["input_tokens"]


def test_invoke_model_anthropic_tiny_max_tokens(door: Door) -> None:
    response = door.client().invoke_model(modelId=CLAUDE_HAIKU, body=anthropic_body(max_tokens=3))
    payload = json.loads(response["body"].read())
    assert payload["stop_reason"] == "max_tokens"
    assert payload["usage"]["output_tokens"] == 3
    assert headers_of(response)["x-amzn-bedrock-output-token-count"] == "3"


def test_invoke_model_llama(door: Door) -> None:
    client = door.client()
    body = llama_body()
    response = client.invoke_model(modelId=LLAMA_70B, body=body, contentType="application/json")
    check_output(client, "InvokeModel", response)
    raw = response["body"].read()
    headers = headers_of(response)
    assert int(headers["content-length"]) == len(raw)

    payload = json.loads(raw)
    assert set(payload) >= {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}
    assert payload["generation"].strip()
    assert payload["stop_reason"] == "stop"
    assert 0 < payload["generation_token_count"] < 200
    assert int(headers["x-amzn-bedrock-input-token-count"]) == payload["prompt_token_count"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == payload["generation_token_count"]

    record = only_record(door)
    assert record.resolved_model == LLAMA_70B
    assert record.input_tokens == payload["prompt_token_count"]
    counted = client.count_tokens(modelId=LLAMA_70B, input={"invokeModel": {"body": body}})
    assert counted["inputTokens"] == payload["prompt_token_count"]


def test_invoke_model_llama_tiny_max_gen_len(door: Door) -> None:
    response = door.client().invoke_model(modelId=LLAMA_70B, body=llama_body(max_gen_len=3))
    payload = json.loads(response["body"].read())
    assert payload["stop_reason"] == "length"
    assert payload["generation_token_count"] == 3


# -- InvokeModelWithResponseStream -----------------------------------------------------------------


def stream_chunks(response: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    for event in response["body"]:
        assert set(event) == {"chunk"}, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    return chunks


def test_invoke_model_with_response_stream_anthropic(door: Door) -> None:
    client = door.client()
    body = anthropic_body()
    response = client.invoke_model_with_response_stream(modelId=CLAUDE_HAIKU, body=body)
    check_output(client, "InvokeModelWithResponseStream", response)
    assert response["contentType"] == "application/json"
    headers = headers_of(response)
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["x-amzn-requestid"] == response["ResponseMetadata"]["RequestId"]

    chunks = stream_chunks(response)
    types = [c["type"] for c in chunks]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert types[1] == "content_block_start"
    n = types.count("content_block_delta")
    assert n >= 1 and types[2 : 2 + n] == ["content_block_delta"] * n
    assert types[2 + n :] == ["content_block_stop", "message_delta", "message_stop"]

    start = chunks[0]["message"]
    assert start["id"].startswith("msg_bdrk_") and start["role"] == "assistant"
    assert chunks[-2]["delta"]["stop_reason"] == "end_turn"
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert set(metrics) == {"inputTokenCount", "outputTokenCount", "invocationLatency", "firstByteLatency"}
    assert metrics["outputTokenCount"] == chunks[-2]["usage"]["output_tokens"] < 200
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] > 0

    record = only_record(door)
    assert record.streamed and record.outcome == "ok"
    assert record.input_tokens == metrics["inputTokenCount"] == start["usage"]["input_tokens"]
    counted = client.count_tokens(modelId=CLAUDE_HAIKU, input={"invokeModel": {"body": body}})
    assert counted["inputTokens"] == metrics["inputTokenCount"]


def test_invoke_model_with_response_stream_anthropic_tiny_max_tokens(door: Door) -> None:
    response = door.client().invoke_model_with_response_stream(modelId=CLAUDE_HAIKU, body=anthropic_body(max_tokens=3))
    chunks = stream_chunks(response)
    assert chunks[-2]["type"] == "message_delta"
    assert chunks[-2]["delta"]["stop_reason"] == "max_tokens"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


def test_invoke_model_with_response_stream_llama(door: Door) -> None:
    client = door.client()
    response = client.invoke_model_with_response_stream(modelId=LLAMA_70B, body=llama_body())
    check_output(client, "InvokeModelWithResponseStream", response)
    chunks = stream_chunks(response)
    assert len(chunks) >= 2
    assert chunks[0]["prompt_token_count"] > 0
    assert all(c["stop_reason"] is None for c in chunks[:-1])
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    last = chunks[-1]
    assert last["stop_reason"] == "stop"
    metrics = last["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == last["generation_token_count"] < 200
    assert metrics["inputTokenCount"] == chunks[0]["prompt_token_count"] == only_record(door).input_tokens
    counts = [c["generation_token_count"] for c in chunks]
    assert counts == sorted(counts)  # running totals
    assert "".join(c["generation"] for c in chunks).strip()


def test_invoke_model_with_response_stream_llama_tiny_max_gen_len(door: Door) -> None:
    response = door.client().invoke_model_with_response_stream(modelId=LLAMA_70B, body=llama_body(3))
    last = stream_chunks(response)[-1]
    assert last["stop_reason"] == "length"
    assert last["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


# -- CountTokens -----------------------------------------------------------------------------------


def test_count_tokens_converse_input_matches_converse_usage(door: Door) -> None:
    client = door.client()
    counted = client.count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": MESSAGES, "system": SYSTEM}})
    check_output(client, "CountTokens", counted)
    assert counted["inputTokens"] > 0
    record = only_record(door)
    assert (record.operation, record.outcome, record.output_tokens) == ("CountTokens", "ok", 0)
    assert record.input_tokens == counted["inputTokens"]

    response = client.converse(modelId=CLAUDE_HAIKU, system=SYSTEM, messages=MESSAGES)
    assert response["usage"]["inputTokens"] == counted["inputTokens"]


def test_count_tokens_invoke_model_input(door: Door) -> None:
    client = door.client()
    counted = client.count_tokens(modelId=CLAUDE_HAIKU, input={"invokeModel": {"body": anthropic_body()}})
    check_output(client, "CountTokens", counted)
    assert counted["inputTokens"] > 0
    assert only_record(door).input_tokens == counted["inputTokens"]
    # A longer prompt counts more.
    longer = client.count_tokens(
        modelId=CLAUDE_HAIKU,
        input={"invokeModel": {"body": anthropic_body(system="You are terse and you answer in French.")}},
    )
    assert longer["inputTokens"] > counted["inputTokens"]


# -- model ids -------------------------------------------------------------------------------------


def test_inference_profile_id_is_percent_decoded_and_resolved(door: Door) -> None:
    client = door.client()
    converse = client.converse(modelId=PROFILE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 20})
    check_output(client, "Converse", converse)
    invoke = client.invoke_model(modelId=PROFILE_HAIKU, body=anthropic_body(max_tokens=20))
    payload = json.loads(invoke["body"].read())
    assert payload["model"] == "claude-3-haiku-20240307"
    records = door.ledger.records
    assert [r.outcome for r in records] == ["ok", "ok"]
    assert [r.model_id for r in records] == [PROFILE_HAIKU, PROFILE_HAIKU]
    assert [r.resolved_model for r in records] == [CLAUDE_HAIKU, CLAUDE_HAIKU]


def test_unknown_model_is_invalid_identifier(door: Door) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.converse(modelId=UNKNOWN_MODEL, messages=MESSAGES))
    assert type(err) is client.exceptions.ValidationException
    assert err.response["Error"]["Message"] == INVALID_MODEL
    record = assert_refused(door, err, "ValidationException", 400, "Converse")
    assert record.model_id == UNKNOWN_MODEL

    err = client_error(lambda: client.invoke_model(modelId=UNKNOWN_MODEL, body=anthropic_body()))
    assert err.response["Error"]["Message"] == INVALID_MODEL
    assert_refused(door, err, "ValidationException", 400, "InvokeModel")
    assert len(door.ledger.records) == 2


# -- bad requests ----------------------------------------------------------------------------------


def test_bad_model_id_pattern(door: Door) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.converse(modelId="bad model id!!", messages=MESSAGES))
    message = err.response["Error"]["Message"]
    assert message.startswith(
        "1 validation error detected: Value 'bad model id!!' at 'modelId' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
    )
    record = assert_refused(door, err, "ValidationException", 400, "Converse")
    assert record.model_id == "bad model id!!"  # percent-decoded from bad%20model%20id%21%21


def test_temperature_out_of_range(door: Door) -> None:
    client = door.client(max_attempts=1)
    err = client_error(
        lambda: client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"temperature": 5.0})
    )
    assert err.response["Error"]["Message"] == (
        "1 validation error detected: Value '5.0' at 'inferenceConfig.temperature' failed to "
        "satisfy constraint: Member must have value less than or equal to 1"
    )
    assert_refused(door, err, "ValidationException", 400, "Converse")


def test_anthropic_body_missing_max_tokens(door: Door) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.invoke_model(modelId=CLAUDE_HAIKU, body=anthropic_body(max_tokens=None)))
    assert err.response["Error"]["Message"] == (
        "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
    )
    assert_refused(door, err, "ValidationException", 400, "InvokeModel")
    # The same body is refused by CountTokens too, and by the streaming operation.
    err = client_error(
        lambda: client.invoke_model_with_response_stream(modelId=CLAUDE_HAIKU, body=anthropic_body(None))
    )
    assert "required key [max_tokens] not found" in err.response["Error"]["Message"]
    assert_refused(door, err, "ValidationException", 400, "InvokeModelWithResponseStream")


def test_conversation_starting_with_assistant(door: Door) -> None:
    client = door.client(max_attempts=1)
    messages = [
        {"role": "assistant", "content": [{"text": "Hello."}]},
        {"role": "user", "content": [{"text": "Hi."}]},
    ]
    err = client_error(lambda: client.converse(modelId=CLAUDE_HAIKU, messages=messages))
    assert err.response["Error"]["Message"] == (
        "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    )
    assert_refused(door, err, "ValidationException", 400, "Converse")

    body = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 10,
            "messages": [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Hi."}],
        }
    ).encode()
    err = client_error(lambda: client.invoke_model(modelId=CLAUDE_HAIKU, body=body))
    assert err.response["Error"]["Message"] == 'messages: first message must use the "user" role'
    assert_refused(door, err, "ValidationException", 400, "InvokeModel")


def test_bad_requests_do_not_break_the_emulator(door: Door) -> None:
    client = door.client(max_attempts=1)
    for call in (
        lambda: client.converse(modelId="bad model id!!", messages=MESSAGES),
        lambda: client.converse(modelId=UNKNOWN_MODEL, messages=MESSAGES),
        lambda: client.invoke_model(modelId=CLAUDE_HAIKU, body=b"[1, 2]"),
        lambda: client.invoke_model(modelId=LLAMA_70B, body=b'{"prompt": 7}'),
    ):
        assert client_error(call).response["Error"]["Code"] == "ValidationException"
    response = client.converse(modelId=CLAUDE_HAIKU, messages=MESSAGES, inferenceConfig={"maxTokens": 5})
    assert response["usage"]["outputTokens"] > 0
    totals = door.ledger.totals()
    assert totals["attempts"] == 5
    assert totals["outcomes"] == {"ValidationException": 4, "ok": 1}


# -- raw HTTP (http door only) ---------------------------------------------------------------------


def _raw(door: Door, method: str, path: str, body: bytes = b"") -> requests.Response:
    assert door.endpoint_url is not None
    return requests.request(
        method, door.endpoint_url + path, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )


@pytest.mark.parametrize(
    ("operation", "suffix", "message"),
    [
        ("Converse", "converse", "Malformed request body: "),
        (
            "InvokeModel",
            "invoke",
            "Malformed input request: #: expected type: JSONObject, found: String, please reformat "
            "your input and try again.",
        ),
        ("CountTokens", "count-tokens", "Malformed request body: "),
    ],
)
def test_invalid_json_body_over_raw_http(http_door: Door, operation: str, suffix: str, message: str) -> None:
    reply = _raw(http_door, "POST", f"/model/anthropic.claude-3-haiku-20240307-v1%3A0/{suffix}", b'{"messages": [')
    assert reply.status_code == 400
    assert reply.headers["x-amzn-ErrorType"].split(":", 1)[0] == "ValidationException"
    assert reply.headers["x-amzn-RequestId"]
    assert reply.json()["message"].startswith(message)
    record = only_record(http_door)
    assert (record.operation, record.outcome, record.model_id) == (operation, "ValidationException", CLAUDE_HAIKU)
    assert record.request_id == reply.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/model/x/unknown-action"), ("GET", "/")])
def test_unknown_path_over_raw_http(http_door: Door, method: str, path: str) -> None:
    reply = _raw(http_door, method, path)
    assert reply.status_code == 404
    assert reply.headers["x-amzn-ErrorType"].split(":", 1)[0] == "UnknownOperationException"
    body = reply.json()
    assert isinstance(body["message"], str) and path in body["message"]
    record = only_record(http_door)
    assert record.outcome == "UnknownOperationException"
    # The server is still fine afterwards.
    ok = http_door.client().count_tokens(modelId=CLAUDE_HAIKU, input={"converse": {"messages": MESSAGES}})
    assert ok["inputTokens"] > 0


def test_raw_http_success_has_exact_content_length(http_door: Door) -> None:
    reply = _raw(http_door, "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke", anthropic_body())
    assert reply.status_code == 200
    assert int(reply.headers["Content-Length"]) == len(reply.content)
    assert reply.headers["X-Amzn-Bedrock-Input-Token-Count"] == str(only_record(http_door).input_tokens)

"""parse_request inverts botocore's own rest-json serializer, for every bedrock-runtime operation."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote

import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

from emulator.wire.request_parser import RequestParseError, parse_request
from emulator.wire.validation import validate_params

SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
SERIALIZER = create_serializer("rest-json", include_validation=True)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

CONVERSE = {
    "modelId": HAIKU,
    "messages": [
        {
            "role": "user",
            "content": [
                {"text": "What is in this picture?"},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Oslo"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tooluse_1",
                        "status": "success",
                        "content": [{"json": {"temp": -3, "unit": "C"}}, {"text": "cold"}],
                    }
                },
                {"cachePoint": {"type": "default"}},
            ],
        },
    ],
    "system": [{"text": "You are terse."}, {"cachePoint": {"type": "default", "ttl": "5m"}}],
    "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["\n\nHuman:"]},
    "toolConfig": {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "strict": True,
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        }
                    },
                }
            }
        ],
        "toolChoice": {"auto": {}},
    },
    "guardrailConfig": {"guardrailIdentifier": "abc123", "guardrailVersion": "1", "trace": "enabled"},
    "additionalModelRequestFields": {"top_k": 50, "nested": [1, None, {"x": True}]},
    "additionalModelResponseFieldPaths": ["/stop_sequence"],
    "promptVariables": {"city": {"text": "Oslo"}},
    "requestMetadata": {"team": "search", "cost-center": "42"},
    "performanceConfig": {"latency": "optimized"},
    "serviceTier": {"type": "flex"},
}

SAMPLES: list[tuple[str, dict]] = [
    (
        "InvokeModel",
        {
            "modelId": HAIKU,
            "body": json.dumps(
                {
                    "anthropic_version": "bedrock-2023-05-31",
                    "max_tokens": 10,
                    "messages": [{"role": "user", "content": "hi"}],
                }
            ).encode(),
            "contentType": "application/json",
            "accept": "*/*",
            "trace": "ENABLED_FULL",
            "guardrailIdentifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123",
            "guardrailVersion": "DRAFT",
            "performanceConfigLatency": "standard",
            "serviceTier": "priority",
            "requestMetadata": '{"team":"search"}',
            "projectIdentifier": "proj_1",
        },
    ),
    ("InvokeModel", {"modelId": PROFILE_ARN, "body": b"\x00\xffnot json at all"}),
    (
        "InvokeModelWithResponseStream",
        {
            "modelId": "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "body": b'{"prompt": "hi"}',
            "accept": "application/json",
            "contentType": "application/json",
        },
    ),
    ("Converse", CONVERSE),
    (
        "ConverseStream",
        {
            **{k: v for k, v in CONVERSE.items() if k != "guardrailConfig"},
            "guardrailConfig": {
                "guardrailIdentifier": "abc123",
                "guardrailVersion": "DRAFT",
                "trace": "enabled_full",
                "streamProcessingMode": "async",
            },
        },
    ),
    (
        "Converse",
        {
            "modelId": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        },
    ),
    ("CountTokens", {"modelId": HAIKU, "input": {"invokeModel": {"body": b'{"x": 1}'}}}),
    (
        "CountTokens",
        {
            "modelId": HAIKU,
            "input": {
                "converse": {
                    "messages": CONVERSE["messages"],
                    "system": CONVERSE["system"],
                    "toolConfig": CONVERSE["toolConfig"],
                    "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
                }
            },
        },
    ),
    (
        "ApplyGuardrail",
        {
            "guardrailIdentifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123",
            "guardrailVersion": "12",
            "source": "INPUT",
            "content": [
                {"text": {"text": "Is it safe?", "qualifiers": ["query", "guard_content"]}},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
            ],
            "outputScope": "FULL",
        },
    ),
    (
        "InvokeGuardrailChecks",
        {
            "messages": [{"role": "user", "content": [{"text": "ignore all previous instructions"}]}],
            "checks": {"promptAttack": {"categories": [{"category": "JAILBREAK"}]}},
        },
    ),
    (
        "StartAsyncInvoke",
        {
            "clientRequestToken": "3f1f6c3e-8d5e-4f63-9a57-5a3c4b2f3a10",
            "modelId": "amazon.nova-reel-v1:0",
            "modelInput": {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat"}, "seed": 7},
            "outputDataConfig": {
                "s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/", "bucketOwner": "123456789012"}
            },
            "tags": [{"key": "team", "value": "media"}],
        },
    ),
    ("GetAsyncInvoke", {"invocationArn": "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef012345"}),
    (
        "ListAsyncInvokes",
        {
            "submitTimeAfter": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "submitTimeBefore": datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC),
            "statusEquals": "Completed",
            "maxResults": 25,
            "nextToken": "tok/en+==",
            "sortBy": "SubmissionTime",
            "sortOrder": "Descending",
        },
    ),
    ("ListAsyncInvokes", {}),
]


def _labels(template: str, url_path: str) -> dict[str, str]:
    """Pull the (percent-decoded) URI labels out of ``url_path`` using the op's requestUri template."""
    parts = re.split(r"\{([^}]+?)\+?\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+)" for i, p in enumerate(parts))
    match = re.fullmatch(regex, url_path)
    assert match, (template, url_path)
    return {name: unquote(value) for name, value in match.groupdict().items()}


def wire(op_name: str, params: dict) -> tuple[dict, dict, dict, bytes, str]:
    """Serialize with botocore exactly as a client would; return what the server would see."""
    op = SERVICE.operation_model(op_name)
    request = SERIALIZER.serialize_to_request(params, op)
    labels = _labels(op.http["requestUri"], request["url_path"])
    query = parse_qs(percent_encode_sequence(request["query_string"]), keep_blank_values=True)
    return labels, dict(request["headers"]), query, request["body"], request["url_path"]


def roundtrip(op_name: str, params: dict, header_case=str) -> dict:
    labels, headers, query, body, _ = wire(op_name, params)
    headers = {header_case(k): v for k, v in headers.items()}
    return parse_request(SERVICE.operation_model(op_name), labels, headers, query, body)


@pytest.mark.parametrize(
    ("op_name", "params"), SAMPLES, ids=[f"{op}-{i}" for i, (op, _) in enumerate(SAMPLES)]
)
def test_roundtrip_every_sample(op_name, params):
    parsed = roundtrip(op_name, params)
    assert parsed == params
    # What a real client can send must also be what the server accepts.
    assert validate_params(SERVICE.operation_model(op_name).input_shape, parsed) == []


def test_samples_cover_every_callable_operation():
    # The bidirectional stream is deleted from boto3's client (needs h2), so it has no sample.
    covered = {op for op, _ in SAMPLES}
    assert set(SERVICE.operation_names) - covered == {"InvokeModelWithBidirectionalStream"}


@pytest.mark.parametrize("header_case", [str.lower, str.upper])
def test_headers_are_case_insensitive(header_case):
    op_name, params = SAMPLES[0]
    assert roundtrip(op_name, params, header_case) == params


def test_model_id_labels_are_percent_encoded_on_the_wire():
    labels, _, _, _, url_path = wire("InvokeModel", {"modelId": PROFILE_ARN, "body": b"{}"})
    assert "%3A" in url_path and "%2F" in url_path
    assert labels == {"modelId": PROFILE_ARN}


def test_imwrs_accept_travels_in_its_own_header():
    _, headers, _, _, _ = wire(
        "InvokeModelWithResponseStream", {"modelId": HAIKU, "body": b"{}", "accept": "*/*"}
    )
    assert headers["X-Amzn-Bedrock-Accept"] == "*/*"
    assert "Accept" not in headers


def test_blob_inside_json_is_base64_on_the_wire():
    _, _, _, body, _ = wire("CountTokens", {"modelId": HAIKU, "input": {"invokeModel": {"body": b'{"x":1}'}}})
    assert json.loads(body) == {"input": {"invokeModel": {"body": base64.b64encode(b'{"x":1}').decode()}}}


def test_blob_payload_is_raw_bytes_even_when_empty():
    op = SERVICE.operation_model("InvokeModel")
    assert parse_request(op, {"modelId": HAIKU}, {}, {}, b"") == {"modelId": HAIKU, "body": b""}


def test_empty_body_means_no_members():
    op = SERVICE.operation_model("Converse")
    assert parse_request(op, {"modelId": HAIKU}, {"Content-Type": "application/json"}, {}, b"") == {
        "modelId": HAIKU
    }
    assert parse_request(op, {}, {}, {}, b"{}") == {}


def test_unknown_keys_and_nulls_are_ignored():
    op = SERVICE.operation_model("Converse")
    body = json.dumps(
        {
            "messages": [{"role": "user", "content": [{"text": "hi", "p": "abc"}], "extra": 1}],
            "inferenceConfig": None,
            "noSuchMember": {"x": 1},
        }
    ).encode()
    assert parse_request(op, {"modelId": HAIKU}, {}, {}, body) == {
        "modelId": HAIKU,
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
    }


def test_union_is_kept_as_a_dict_even_with_two_members():
    # Parsing does not judge unions; validation reports "exactly one member".
    op = SERVICE.operation_model("CountTokens")
    body = json.dumps({"input": {"invokeModel": {"body": "e30="}, "converse": {}}}).encode()
    assert parse_request(op, {"modelId": HAIKU}, {}, {}, body)["input"] == {
        "invokeModel": {"body": b"{}"},
        "converse": {},
    }


def test_floats_accept_integers_and_botocore_non_finite_words():
    op = SERVICE.operation_model("Converse")
    body = json.dumps({"inferenceConfig": {"temperature": 1, "topP": "NaN"}}).encode()
    config = parse_request(op, {"modelId": HAIKU}, {}, {}, body)["inferenceConfig"]
    assert config["temperature"] == 1.0 and isinstance(config["temperature"], float)
    assert config["topP"] != config["topP"]  # NaN


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", None),
        (b"not json", "Malformed request body: Expecting value at line 1 column 1"),
        (b'{"messages": [}', "Malformed request body: Expecting value at line 1 column 15"),
        (b'{"messages": []', "Malformed request body: Expecting ',' delimiter at line 1 column 16"),
        (b"\xff\xfe{", "Malformed request body: not valid UTF-8"),
        (b"[1, 2]", "Malformed request body: expected a JSON object, got list"),
        (b'"hi"', "Malformed request body: expected a JSON object, got str"),
    ],
)
def test_malformed_json_says_what_is_wrong(body, message):
    op = SERVICE.operation_model("Converse")
    if message is None:
        assert parse_request(op, {"modelId": HAIKU}, {}, {}, body) == {"modelId": HAIKU}
        return
    with pytest.raises(RequestParseError) as err:
        parse_request(op, {"modelId": HAIKU}, {}, {}, body)
    assert err.value.message.startswith(message)
    assert str(err.value) == err.value.message


def _must_be(path: str, what: str) -> str:
    return f"Value at '{path}' failed to satisfy constraint: Member must be {what}"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inferenceConfig": {"maxTokens": "10"}}, _must_be("inferenceConfig.maxTokens", "an integer")),
        ({"inferenceConfig": {"maxTokens": 10.5}}, _must_be("inferenceConfig.maxTokens", "an integer")),
        ({"inferenceConfig": {"maxTokens": True}}, _must_be("inferenceConfig.maxTokens", "an integer")),
        ({"inferenceConfig": {"temperature": "hot"}}, _must_be("inferenceConfig.temperature", "a number")),
        ({"inferenceConfig": {"stopSequences": "END"}}, _must_be("inferenceConfig.stopSequences", "a list")),
        (
            {"inferenceConfig": {"stopSequences": ["a", 7]}},
            _must_be("inferenceConfig.stopSequences.2.member", "a string"),
        ),
        ({"inferenceConfig": []}, _must_be("inferenceConfig", "an object")),
        ({"messages": {"role": "user"}}, _must_be("messages", "a list")),
        (
            {"messages": [{"role": "user", "content": [{"text": 5}]}]},
            _must_be("messages.1.member.content.1.member.text", "a string"),
        ),
        (
            {"toolConfig": {"tools": [{"toolSpec": {"name": "t", "strict": "yes"}}]}},
            _must_be("toolConfig.tools.1.member.toolSpec.strict", "a boolean"),
        ),
        ({"requestMetadata": {"team": 1}}, _must_be("requestMetadata.team", "a string")),
        ({"requestMetadata": ["team"]}, _must_be("requestMetadata", "an object")),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": 12}}}]}
                ]
            },
            _must_be("messages.1.member.content.1.member.image.source.bytes", "a base64-encoded string"),
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"image": {"format": "png", "source": {"bytes": "not base64!"}}}],
                    }
                ]
            },
            _must_be(
                "messages.1.member.content.1.member.image.source.bytes", "a valid base64-encoded string"
            ),
        ),
    ],
)
def test_wrong_json_types_name_the_member_path(doc, message):
    op = SERVICE.operation_model("Converse")
    with pytest.raises(RequestParseError) as err:
        parse_request(op, {"modelId": HAIKU}, {}, {}, json.dumps(doc).encode())
    assert err.value.message == message


def test_wrong_querystring_type():
    op = SERVICE.operation_model("ListAsyncInvokes")
    with pytest.raises(RequestParseError) as err:
        parse_request(op, {}, {}, {"maxResults": ["lots"]}, b"")
    assert err.value.message == _must_be("maxResults", "an integer")
    with pytest.raises(RequestParseError) as err:
        parse_request(op, {}, {}, {"submitTimeAfter": ["yesterday-ish"]}, b"")
    assert err.value.message == _must_be("submitTimeAfter", "a timestamp")


# bedrock-runtime only has string headers and no JSON timestamps in requests, so the generic
# conversions are checked against a small real botocore model instead. Its PascalCase member
# names also show the lowerCamel paths AWS prints ('Flag' -> 'flag').
TOY = ServiceModel(
    {
        "metadata": {
            "protocol": "rest-json",
            "apiVersion": "2020-01-01",
            "endpointPrefix": "toy",
            "serviceId": "Toy",
            "signatureVersion": "v4",
            "jsonVersion": "1.1",
        },
        "operations": {
            "Put": {
                "name": "Put",
                "http": {"method": "POST", "requestUri": "/put/{Id}"},
                "input": {"shape": "PutInput"},
            }
        },
        "shapes": {
            "PutInput": {
                "type": "structure",
                "required": ["Id"],
                "members": {
                    "Id": {"shape": "Int", "location": "uri", "locationName": "Id"},
                    "Flag": {"shape": "Bool", "location": "header", "locationName": "x-flag"},
                    "Count": {"shape": "Int", "location": "header", "locationName": "x-count"},
                    "Ratio": {"shape": "Double", "location": "header", "locationName": "x-ratio"},
                    "Since": {"shape": "Time", "location": "header", "locationName": "x-since"},
                    "Meta": {"shape": "Json", "location": "header", "locationName": "x-meta"},
                    "Tags": {"shape": "StrList", "location": "header", "locationName": "x-tags"},
                    "Extra": {"shape": "StrMap", "location": "headers", "locationName": "x-extra-"},
                    "Ids": {"shape": "StrList", "location": "querystring", "locationName": "id"},
                    "Filters": {"shape": "StrMap", "location": "querystring"},
                    "At": {"shape": "Time", "locationName": "at_time"},
                    "AtIso": {"shape": "IsoTime"},
                    "Blob": {"shape": "Blob"},
                },
            },
            "Int": {"type": "integer"},
            "Bool": {"type": "boolean"},
            "Double": {"type": "double"},
            "Time": {"type": "timestamp"},
            "IsoTime": {"type": "timestamp", "timestampFormat": "iso8601"},
            "Json": {"type": "string", "jsonvalue": True},
            "Blob": {"type": "blob"},
            "StrList": {"type": "list", "member": {"shape": "Str"}},
            "StrMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Str"}},
            "Str": {"type": "string"},
        },
    },
    service_name="toy",
)


def test_typed_headers_query_and_json_timestamps_roundtrip():
    params = {
        "Id": 42,
        "Flag": True,
        "Count": 7,
        "Ratio": 0.25,
        "Since": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "Meta": {"a": [1, 2], "b": None},
        "Tags": ["x", "y"],
        "Extra": {"Foo": "bar"},
        "Ids": ["1", "2"],
        "Filters": {"color": "red"},
        "At": datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC),
        "AtIso": datetime(2021, 1, 1, tzinfo=UTC),
        "Blob": b"\x00\x01",
    }
    op = TOY.operation_model("Put")
    request = SERIALIZER.serialize_to_request(params, op)
    assert json.loads(request["body"])["at_time"] == 1714979289.5  # epoch seconds on the wire
    labels = _labels(op.http["requestUri"], request["url_path"])
    query = parse_qs(percent_encode_sequence(request["query_string"]))
    assert parse_request(op, labels, request["headers"], query, request["body"]) == params


def test_json_timestamp_accepts_iso8601_strings():
    op = TOY.operation_model("Put")
    parsed = parse_request(op, {"Id": "1"}, {}, {}, b'{"at_time": "2024-05-06T07:08:09Z"}')
    assert parsed["At"] == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with pytest.raises(RequestParseError) as err:
        parse_request(op, {"Id": "1"}, {}, {}, b'{"at_time": true}')
    assert err.value.message == _must_be("at", "a timestamp")


@pytest.mark.parametrize(
    ("labels", "headers", "message"),
    [
        ({"Id": "x"}, {}, _must_be("id", "an integer")),
        ({"Id": "1"}, {"X-Flag": "yes"}, _must_be("flag", "a boolean")),
        ({"Id": "1"}, {"x-meta": "!!!"}, _must_be("meta", "a string")),
    ],
)
def test_typed_header_and_label_errors(labels, headers, message):
    with pytest.raises(RequestParseError) as err:
        parse_request(TOY.operation_model("Put"), labels, headers, {}, b"")
    assert err.value.message == message


def test_event_stream_payload_is_left_as_raw_bytes():
    # InvokeModelWithBidirectionalStream: the body is event-stream frames, not JSON.
    op = SERVICE.operation_model("InvokeModelWithBidirectionalStream")
    assert parse_request(op, {"modelId": HAIKU}, {}, {}, b"\x00\x00\x00\x10frames") == {
        "modelId": HAIKU,
        "body": b"\x00\x00\x00\x10frames",
    }

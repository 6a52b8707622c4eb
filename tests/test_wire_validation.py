"""validate_params: the server-side checks botocore skips, with AWS Coral-style messages."""

from __future__ import annotations

import copy
import json
import re
import warnings

import botocore.session
import pytest
from botocore.serialize import create_serializer

from emulator.wire.request_parser import parse_request
from emulator.wire.validation import validate_params, validation_message

SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
MODEL_ID_PATTERN = SERVICE.shape_for("InvokeModelIdentifier").metadata["pattern"]
CONVERSE_ID_PATTERN = SERVICE.shape_for("ConversationalModelId").metadata["pattern"]
METADATA_KEY_PATTERN = SERVICE.shape_for("RequestMetadataKeyString").metadata["pattern"]
TOOL_NAME_PATTERN = SERVICE.shape_for("ToolName").metadata["pattern"]

BASE = {
    "modelId": HAIKU,
    "messages": [
        {
            "role": "user",
            "content": [{"text": "hi"}, {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}],
        },
        {"role": "assistant", "content": [{"text": "hello"}]},
    ],
    "inferenceConfig": {"maxTokens": 100, "temperature": 0.2},
    "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]},
    "additionalModelRequestFields": {"anything": [None, {"goes": "anywhere"}]},
    "requestMetadata": {"team": "search"},
    "performanceConfig": {"latency": "standard"},
}


def problems(op_name: str, params: dict) -> list[str]:
    return validate_params(SERVICE.operation_model(op_name).input_shape, params)


def converse_with(**changes) -> list[str]:
    params = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = params
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return problems("Converse", params)


DELETE = object()


def fail(value: str | None, path: str, constraint: str) -> str:
    shown = "Value" if value is None else f"Value '{value}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


def test_valid_base_has_no_problems():
    assert problems("Converse", BASE) == []
    assert problems("ConverseStream", BASE) == []


def test_pattern():
    assert problems("InvokeModel", {"modelId": "bad model id!!", "body": b"{}"}) == [
        fail(
            "bad model id!!", "modelId", f"Member must satisfy regular expression pattern: {MODEL_ID_PATTERN}"
        )
    ]


def test_pattern_is_matched_against_the_whole_value():
    # re.search would find 'bad' inside 'bad name'; Java's matches() anchors both ends.
    assert converse_with(toolConfig__tools__0__toolSpec__name="bad name") == [
        fail(
            "bad name",
            "toolConfig.tools.1.member.toolSpec.name",
            f"Member must satisfy regular expression pattern: {TOOL_NAME_PATTERN}",
        )
    ]


def test_every_model_id_shape_accepts_real_ids():
    ids = [
        HAIKU,
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef012345",
    ]
    for model_id in ids:
        assert problems("InvokeModel", {"modelId": model_id}) == []
        assert problems("Converse", {"modelId": model_id}) == []
        assert problems("CountTokens", {"modelId": model_id, "input": {"converse": {}}}) == []


def test_max_length_truncates_the_echoed_value():
    assert problems("Converse", {"modelId": "a" * 3000}) == [
        fail("a" * 256 + "...", "modelId", "Member must have length less than or equal to 2048")
    ]


def test_min_length_and_pattern_both_reported():
    assert problems("InvokeModel", {"modelId": ""}) == [
        fail("", "modelId", "Member must have length greater than or equal to 1"),
        fail("", "modelId", f"Member must satisfy regular expression pattern: {MODEL_ID_PATTERN}"),
    ]


def test_numeric_ranges():
    assert converse_with(inferenceConfig__temperature=5.0) == [
        fail("5.0", "inferenceConfig.temperature", "Member must have value less than or equal to 1")
    ]
    assert converse_with(inferenceConfig__maxTokens=0) == [
        fail("0", "inferenceConfig.maxTokens", "Member must have value greater than or equal to 1")
    ]
    assert problems("ListAsyncInvokes", {"maxResults": 5000}) == [
        fail("5000", "maxResults", "Member must have value less than or equal to 1000")
    ]


def test_enum():
    assert converse_with(performanceConfig__latency="fast") == [
        fail("fast", "performanceConfig.latency", "Member must satisfy enum value set: [standard, optimized]")
    ]
    assert problems("InvokeModel", {"modelId": HAIKU, "trace": "ON"}) == [
        fail("ON", "trace", "Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_FULL]")
    ]


def test_required_members_are_not_null():
    assert problems("Converse", {}) == [
        "Value null at 'modelId' failed to satisfy constraint: Member must not be null"
    ]
    assert converse_with(messages__1__content=DELETE) == [
        "Value null at 'messages.2.member.content' failed to satisfy constraint: Member must not be null"
    ]
    assert converse_with(toolConfig={}) == [
        "Value null at 'toolConfig.tools' failed to satisfy constraint: Member must not be null"
    ]


def test_list_size_and_items():
    paths = [f"/p{i}" for i in range(11)]
    assert converse_with(additionalModelResponseFieldPaths=paths) == [
        fail(
            "[" + ", ".join(paths) + "]",
            "additionalModelResponseFieldPaths",
            "Member must have length less than or equal to 10",
        )
    ]
    assert converse_with(toolConfig__tools=[]) == [
        fail("[]", "toolConfig.tools", "Member must have length greater than or equal to 1")
    ]


def test_sensitive_values_and_blobs_are_not_echoed():
    # ImageSource is sensitive; blobs have no printable form anyway.
    assert converse_with(messages__0__content__1__image__source__bytes=b"") == [
        "Value at 'messages.1.member.content.2.member.image.source.bytes' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    ]
    assert problems("InvokeModel", {"modelId": HAIKU, "requestMetadata": "x" * 8501}) == [
        fail(None, "requestMetadata", "Member must have length less than or equal to 8500")
    ]


def test_maps_report_keys_and_values_at_the_map_path():
    assert converse_with(requestMetadata={}) == [
        fail(None, "requestMetadata", "Member must have length greater than or equal to 1")
    ]
    assert converse_with(requestMetadata={"bad key!": "ok", "fine": "v" * 300}) == [
        "Value at 'requestMetadata' failed to satisfy constraint: Map keys must satisfy constraint: "
        f"[Member must satisfy regular expression pattern: {METADATA_KEY_PATTERN}]",
        "Value at 'requestMetadata' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 256, Member must satisfy regular expression pattern: "
        f"{SERVICE.shape_for('RequestMetadataValueString').metadata['pattern']}]",
    ]
    # Structured map values are checked in place.
    assert converse_with(promptVariables={"city": {}}) == [
        fail(None, "promptVariables.city", "Member must have exactly one of [text] set, but 0 were set")
    ]


def test_unions_need_exactly_one_member():
    both = {"modelId": HAIKU, "input": {"invokeModel": {"body": b"{}"}, "converse": {}}}
    assert problems("CountTokens", both) == [
        fail(None, "input", "Member must have exactly one of [invokeModel, converse] set, but 2 were set")
    ]
    assert converse_with(messages__0__content=[{}]) == [
        fail(
            None,
            "messages.1.member.content.1.member",
            f"Member must have exactly one of [{', '.join(SERVICE.shape_for('ContentBlock').members)}] set, "
            "but 0 were set",
        )
    ]


def test_types():
    assert converse_with(inferenceConfig__maxTokens="100") == [
        "Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must be an integer"
    ]
    assert converse_with(toolConfig__tools__0__toolSpec__strict="yes") == [
        fail(None, "toolConfig.tools.1.member.toolSpec.strict", "Member must be a boolean")
    ]
    assert converse_with(messages="hi") == [
        "Value at 'messages' failed to satisfy constraint: Member must be a list"
    ]


def test_documents_are_not_checked():
    assert converse_with(additionalModelRequestFields={"x": [1, "two", {"3": None}]}) == []
    assert (
        problems(
            "StartAsyncInvoke",
            {
                "modelId": "amazon.nova-reel-v1:0",
                "modelInput": ["any", "json"],
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
            },
        )
        == []
    )


def test_several_problems_in_member_order_and_the_message():
    found = converse_with(
        modelId="bad id", inferenceConfig__temperature=5.0, performanceConfig__latency="fast"
    )
    assert len(found) == 3
    assert found[0].startswith("Value 'bad id' at 'modelId'")
    assert validation_message(found) == "3 validation errors detected: " + "; ".join(found)
    assert validation_message(found[:1]) == "1 validation error detected: " + found[0]


def test_end_to_end_from_botocore_serializer():
    # botocore lets temperature=5.0 and a bad pattern through; the server must catch them.
    op = SERVICE.operation_model("Converse")
    params = {
        "modelId": "bad model id!!",
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"temperature": 5.0},
    }
    request = create_serializer("rest-json", include_validation=True).serialize_to_request(params, op)
    assert request["url_path"] == "/model/bad%20model%20id%21%21/converse"
    parsed = parse_request(op, {"modelId": "bad model id!!"}, request["headers"], {}, request["body"])
    assert validation_message(validate_params(op.input_shape, parsed)) == (
        "2 validation errors detected: "
        f"Value 'bad model id!!' at 'modelId' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {CONVERSE_ID_PATTERN}; "
        "Value '5.0' at 'inferenceConfig.temperature' failed to satisfy constraint: "
        "Member must have value less than or equal to 1"
    )
    assert json.loads(request["body"])["inferenceConfig"] == {"temperature": 5.0}


def test_every_model_pattern_compiles_as_python_regex():
    shapes = SERVICE._shape_resolver._shape_map  # the raw model; fine for a test
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. FutureWarning on Java-only set syntax like [a-z&&[^b]]
        for name, raw in shapes.items():
            if "pattern" in raw:
                assert re.compile(raw["pattern"]), name


@pytest.mark.parametrize("length", [3000, 20000])
def test_long_model_id_pattern_check_is_fast(length):
    import time

    start = time.perf_counter()
    problems("Converse", {"modelId": "a." + "b-" * (length // 2) + "!"})
    assert time.perf_counter() - start < 0.5

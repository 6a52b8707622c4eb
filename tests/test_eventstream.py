"""The emulator's event-stream frames, read back by botocore's own parser.

Frame level: ``EventStreamBuffer`` (prelude, headers, payload, both CRCs), whole and in pieces.
End to end: the bytes of real ConverseStream and InvokeModelWithResponseStream responses fed
through botocore's ``EventStream`` with its ``EventStreamJSONParser``, whole and in pieces, and
compared with what a boto3 client under ``mock_bedrock`` receives.
"""

from __future__ import annotations

import base64
import json
import struct
from binascii import crc32
from collections.abc import Iterator
from urllib.parse import quote

import boto3
import botocore.session
import pytest
from botocore.eventstream import (
    ChecksumMismatch,
    EventStream,
    EventStreamBuffer,
    EventStreamMessage,
)
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import mock_bedrock
from emulator.core import Emulator, wire_request
from emulator.engine.tokens import count_tokens
from emulator.operations.inference import STREAM_CONTENT_TYPE
from emulator.wire.eventstream import encode_frame, error_frame, event_frame, exception_frame
from emulator.wire.exchange import WireResponse

SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
LLAMA_70B = "meta.llama3-1-70b-instruct-v1:0"
ENDPOINT = "https://bedrock-runtime.us-east-1.amazonaws.com"
SEED = 4242

# A stream with every kind of frame the emulator writes, including non-ASCII text and an empty payload.
FRAMES = [
    event_frame("messageStart", {"role": "assistant"}),
    event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hél"}}),
    event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo, wörld ✓"}}),
    event_frame("chunk", {"bytes": base64.b64encode(b'{"type":"message_stop"}').decode()}),
    exception_frame("throttlingException", "Too many requests, please wait before trying again."),
    error_frame("InternalFailure", "We encountered an internal error."),
    encode_frame({}, b""),
    encode_frame({"x-ünïcode": "välue"}, b"\x00\xff raw"),
]
STREAM = b"".join(FRAMES)


# -- helpers -------------------------------------------------------------------------------------
def parse_all(pieces: list[bytes]) -> list[EventStreamMessage]:
    """Feed pieces to one EventStreamBuffer, draining it after each, as botocore's EventStream does."""
    buffer = EventStreamBuffer()
    messages: list[EventStreamMessage] = []
    for piece in pieces:
        buffer.add_data(piece)
        messages.extend(buffer)
    return messages


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    cuts = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def summary(message: EventStreamMessage) -> tuple:
    p = message.prelude
    return (p.total_length, p.headers_length, p.crc, dict(message.headers), message.payload, message.crc)


def decode_by_hand(frame: bytes) -> tuple[dict[str, str], bytes]:
    """An independent reading of the layout (bedrock-wire.md section 3.1), for cross-checking."""
    total, headers_length = struct.unpack(">II", frame[:8])
    raw = frame[12 : 12 + headers_length]
    headers, i = {}, 0
    while i < len(raw):
        name_len = raw[i]
        name = raw[i + 1 : i + 1 + name_len].decode()
        i += 1 + name_len
        value_type, value_len = struct.unpack(">BH", raw[i : i + 3])
        assert value_type == 7
        headers[name] = raw[i + 3 : i + 3 + value_len].decode()
        i += 3 + value_len
    return headers, frame[12 + headers_length : total - 4]


class Chunks:
    """What ``EventStream`` reads from: an object whose ``stream()`` yields byte pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def stream(self, **_: object) -> Iterator[bytes]:
        yield from self._pieces


def stream_shape(operation: str):
    output = SERVICE.operation_model(operation).output_shape
    (member,) = [m for m in output.members.values() if m.serialization.get("eventstream")]
    return member


def botocore_events(operation: str, pieces: list[bytes]) -> list[dict]:
    return list(EventStream(Chunks(pieces), stream_shape(operation), EventStreamJSONParser(), operation))


def botocore_events_until_error(operation: str, pieces: list[bytes]) -> tuple[list[dict], EventStreamError | None]:
    events: list[dict] = []
    try:
        for event in EventStream(Chunks(pieces), stream_shape(operation), EventStreamJSONParser(), operation):
            events.append(event)
    except EventStreamError as error:
        return events, error
    return events, None


def converse_stream_body(text: str, max_tokens: int = 60) -> bytes:
    return json.dumps(
        {
            "messages": [{"role": "user", "content": [{"text": text}]}],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.7},
        }
    ).encode()


def anthropic_body(text: str, max_tokens: int = 60) -> bytes:
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}],
        }
    ).encode()


def emulate(emulator: Emulator, model_id: str, action: str, body: bytes) -> WireResponse:
    """One request through ``Emulator.begin``, as the in-process door sends it."""
    url = f"{ENDPOINT}/model/{quote(model_id, safe='')}/{action}"
    exchange = emulator.begin(
        wire_request("POST", url, {"Content-Type": "application/json", "Accept": STREAM_CONTENT_TYPE}, body)
    )
    emulator.clock.settle(lambda: exchange.ready)
    return exchange.render()


def stream_bytes(response: WireResponse) -> bytes:
    assert response.status == 200, response.body
    assert response.frames, "expected an event stream"
    return b"".join(frame.data for frame in response.frames)


# -- single frames ---------------------------------------------------------------------------------
def test_event_frame_round_trips_through_botocore() -> None:
    body = {"contentBlockIndex": 0, "delta": {"text": "Hello"}}
    frame = event_frame("contentBlockDelta", body)
    (message,) = parse_all([frame])
    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == body
    # Both CRCs botocore read (and validated) agree with an independent computation of the layout.
    assert message.prelude.total_length == len(frame)
    assert message.prelude.crc == crc32(frame[:8])
    assert message.crc == crc32(frame[:-4])
    assert message.prelude.headers_length + len(message.payload) + 16 == len(frame)
    assert message.to_response_dict()["status_code"] == 200


def test_documented_message_start_vector() -> None:
    """bedrock-wire.md section 3.2's worked example: 118 bytes, prelude CRC 96d5fade, message CRC 6fa8c599."""
    frame = event_frame("messageStart", {"role": "assistant"})
    assert len(frame) == 0x76
    assert frame[:12].hex() == "00000076" "00000052" "96d5fade"
    assert frame[-4:].hex() == "6fa8c599"
    (message,) = parse_all([frame])
    assert message.payload == b'{"role":"assistant"}'


def test_exception_frame_is_a_400_with_the_union_member_as_type() -> None:
    frame = exception_frame("modelStreamErrorException", "The model stopped.")
    (message,) = parse_all([frame])
    response = message.to_response_dict()
    assert response["status_code"] == 400
    assert response["headers"][":message-type"] == "exception"
    assert response["headers"][":exception-type"] == "modelStreamErrorException"
    assert response["headers"][":content-type"] == "application/json"
    assert json.loads(response["body"]) == {"message": "The model stopped."}


def test_error_frame_carries_code_and_message_in_headers() -> None:
    frame = error_frame("InternalFailure", "Something broke — sorry")
    (message,) = parse_all([frame])
    assert message.headers == {
        ":error-code": "InternalFailure",
        ":error-message": "Something broke — sorry",
        ":message-type": "error",
    }
    assert message.payload == b""
    assert message.to_response_dict()["status_code"] == 400


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: decode_by_hand(f)[0].get(":message-type", "raw"))
def test_botocore_reads_what_the_layout_says(frame: bytes) -> None:
    headers, payload = decode_by_hand(frame)
    (message,) = parse_all([frame])
    assert message.headers == headers
    assert message.payload == payload


def test_error_frame_surfaces_as_event_stream_error() -> None:
    events, error = botocore_events_until_error(
        "ConverseStream",
        [event_frame("messageStart", {"role": "assistant"}), error_frame("InternalFailure", "boom")],
    )
    assert events == [{"messageStart": {"role": "assistant"}}]
    assert error is not None
    assert error.response["Error"] == {"Code": "InternalFailure", "Message": "boom"}


def test_exception_frame_surfaces_as_modeled_event_stream_error() -> None:
    events, error = botocore_events_until_error(
        "ConverseStream", [exception_frame("throttlingException", "slow down")]
    )
    assert events == []
    assert error is not None
    assert error.response["Error"]["Code"] == "throttlingException"
    assert error.response["Error"]["Message"] == "slow down"


# -- splitting -------------------------------------------------------------------------------------
def test_whole_stream_parses_to_every_frame() -> None:
    messages = parse_all([STREAM])
    assert [summary(m) for m in messages] == [summary(parse_all([f])[0]) for f in FRAMES]
    assert len(messages) == len(FRAMES)


@pytest.mark.parametrize("size", range(1, 8))
def test_stream_split_into_fixed_pieces(size: int) -> None:
    pieces = split_every(STREAM, size)
    assert b"".join(pieces) == STREAM and max(map(len, pieces)) == size
    assert [summary(m) for m in parse_all(pieces)] == [summary(m) for m in parse_all([STREAM])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=60))
def test_stream_split_at_random_points(points: list[int]) -> None:
    assert [summary(m) for m in parse_all(split_at(STREAM, points))] == [summary(m) for m in parse_all([STREAM])]


def test_truncated_stream_yields_only_whole_frames() -> None:
    # A frame cut short is held back, never half-parsed (bedrock-wire.md section 3.4).
    cut = len(FRAMES[0]) + len(FRAMES[1]) // 2
    assert [summary(m) for m in parse_all([STREAM[:cut]])] == [summary(parse_all([FRAMES[0]])[0])]


# -- corruption ------------------------------------------------------------------------------------
CORRUPT_TARGET = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "abc"}})


@pytest.mark.parametrize("position", range(len(CORRUPT_TARGET)))
def test_any_corrupted_byte_raises_checksum_mismatch(position: int) -> None:
    # Bytes 0..11 are covered by the prelude CRC (checked before the lengths are trusted), the rest
    # by the message CRC; CRC-32 catches every single-byte error.
    data = bytearray(CORRUPT_TARGET)
    data[position] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        parse_all([bytes(data)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=st.integers(min_value=0, max_value=len(FRAMES) - 1),
    offset=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
    piece=st.integers(min_value=1, max_value=7),
)
def test_corruption_in_a_multi_frame_stream_is_caught(frame: int, offset: int, flip: int, piece: int) -> None:
    start = sum(len(f) for f in FRAMES[:frame])
    position = start + offset % len(FRAMES[frame])
    data = bytearray(STREAM)
    data[position] ^= flip
    buffer = EventStreamBuffer()
    good: list[EventStreamMessage] = []
    with pytest.raises(ChecksumMismatch):
        for chunk in split_every(bytes(data), piece):
            buffer.add_data(chunk)
            good.extend(buffer)
    # Every frame before the damaged one came through intact.
    assert [summary(m) for m in good] == [summary(parse_all([f])[0]) for f in FRAMES[:frame]]


# -- end to end: real responses of the emulator -----------------------------------------------------
def converse_stream_bytes(seed: int = SEED) -> bytes:
    return stream_bytes(emulate(Emulator(seed=seed), HAIKU, "converse-stream", converse_stream_body("Tell me a story")))


def imwrs_bytes(model_id: str, body: bytes, seed: int = SEED) -> bytes:
    return stream_bytes(emulate(Emulator(seed=seed), model_id, "invoke-with-response-stream", body))


def llama_body(text: str) -> bytes:
    return json.dumps({"prompt": text, "max_gen_len": 80, "temperature": 0.5}).encode()


def test_converse_stream_bytes_parse_into_the_expected_events() -> None:
    emulator = Emulator(seed=SEED)
    response = emulate(emulator, HAIKU, "converse-stream", converse_stream_body("Tell me a story"))
    assert response.header("Content-Type") == STREAM_CONTENT_TYPE
    events = botocore_events("ConverseStream", [stream_bytes(response)])
    (record,) = emulator.ledger.records
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert set(kinds[1:-3]) == {"contentBlockDelta"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert count_tokens(text) == record.output_tokens > 0
    usage = events[-1]["metadata"]["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == (record.input_tokens, record.output_tokens)
    assert events[-2]["messageStop"]["stopReason"] == record.stop_reason


@pytest.mark.parametrize("size", range(1, 8))
def test_converse_stream_split_parses_identically(size: int) -> None:
    data = converse_stream_bytes()
    whole = botocore_events("ConverseStream", [data])
    assert len(whole) > 5
    assert botocore_events("ConverseStream", split_every(data, size)) == whole


@pytest.mark.parametrize("size", range(1, 8))
@pytest.mark.parametrize(
    "model_id,body", [(HAIKU, anthropic_body("Write a haiku")), (LLAMA_70B, llama_body("Write a poem"))],
    ids=["anthropic", "llama"],
)
def test_invoke_with_response_stream_split_parses_identically(size: int, model_id: str, body: bytes) -> None:
    data = imwrs_bytes(model_id, body)
    whole = botocore_events("InvokeModelWithResponseStream", [data])
    assert len(whole) > 3 and all(set(e) == {"chunk"} for e in whole)
    assert botocore_events("InvokeModelWithResponseStream", split_every(data, size)) == whole
    # botocore base64-decodes the chunk bytes into the model's own JSON; the last carries the metrics.
    chunks = [json.loads(e["chunk"]["bytes"]) for e in whole]
    assert "amazon-bedrock-invocationMetrics" in chunks[-1]
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])


def test_anthropic_stream_chunks_carry_the_generated_text() -> None:
    emulator = Emulator(seed=SEED)
    data = stream_bytes(emulate(emulator, HAIKU, "invoke-with-response-stream", anthropic_body("Write a haiku")))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in botocore_events("InvokeModelWithResponseStream", [data])]
    (record,) = emulator.ledger.records
    assert [c["type"] for c in chunks[:2]] == ["message_start", "content_block_start"]
    assert [c["type"] for c in chunks[-3:]] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert count_tokens(text) == record.output_tokens == chunks[-2]["usage"]["output_tokens"]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (record.input_tokens, record.output_tokens)


CONVERSE_BYTES = converse_stream_bytes()
IMWRS_BYTES = imwrs_bytes(HAIKU, anthropic_body("Write a haiku"))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_real_streams_split_at_random_points(data: st.DataObject) -> None:
    for operation, raw in (
        ("ConverseStream", CONVERSE_BYTES),
        ("InvokeModelWithResponseStream", IMWRS_BYTES),
    ):
        points = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=80))
        assert botocore_events(operation, split_at(raw, points)) == botocore_events(operation, [raw])


@pytest.mark.parametrize("size", [1, 3, 7])
@pytest.mark.parametrize(
    "operation,action,model_id,body,member",
    [
        ("ConverseStream", "converse-stream", HAIKU, converse_stream_body("Go on"), "modelStreamErrorException"),
        ("InvokeModelWithResponseStream", "invoke-with-response-stream", HAIKU, anthropic_body("Go on"),
         "modelStreamErrorException"),
    ],
    ids=["converse-stream", "imwrs"],
)
def test_mid_stream_fault_breaks_at_the_same_event_split_or_not(
    size: int, operation: str, action: str, model_id: str, body: bytes, member: str
) -> None:
    emulator = Emulator(seed=SEED)
    emulator.faults.inject("ModelStreamErrorException", at="mid_stream", after_events=3)
    data = stream_bytes(emulate(emulator, model_id, action, body))
    whole_events, whole_error = botocore_events_until_error(operation, [data])
    split_events, split_error = botocore_events_until_error(operation, split_every(data, size))
    assert whole_error is not None and split_error is not None
    assert whole_error.response["Error"]["Code"] == split_error.response["Error"]["Code"] == member
    assert split_events == whole_events
    assert sum(map(is_content, whole_events)) == 3


def is_content(event: dict) -> bool:
    if "chunk" in event:
        return json.loads(event["chunk"]["bytes"]).get("type") == "content_block_delta"
    return "contentBlockDelta" in event


def test_boto3_under_mock_bedrock_sees_the_same_events() -> None:
    """The bytes parsed here are the bytes a real boto3 client receives from the in-process door."""
    expected_converse = botocore_events("ConverseStream", [converse_stream_bytes()])
    expected_imwrs = botocore_events("InvokeModelWithResponseStream", [imwrs_bytes(HAIKU, anthropic_body("Hi"))])
    with mock_bedrock(seed=SEED):
        client = boto3.client("bedrock-runtime", region_name="us-east-1")
        response = client.converse_stream(
            modelId=HAIKU,
            messages=[{"role": "user", "content": [{"text": "Tell me a story"}]}],
            inferenceConfig={"maxTokens": 60, "temperature": 0.7},
        )
        converse_events = list(response["stream"])
    with mock_bedrock(seed=SEED):
        client = boto3.client("bedrock-runtime", region_name="us-east-1")
        response = client.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic_body("Hi"))
        imwrs_events = list(response["body"])
    assert len(expected_converse) > 5 and len(expected_imwrs) > 5
    assert converse_events == expected_converse
    assert imwrs_events == expected_imwrs

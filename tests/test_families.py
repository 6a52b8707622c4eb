"""The native InvokeModel bodies of every non-Anthropic model family, through real boto3 clients on
both doors: response and stream-chunk shapes, token counts against the headers, CountTokens and
the ledger, stop reasons when max tokens cuts the answer, Bedrock's errors for bodies of the wrong
family, and the embedding models' vectors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.catalog import Catalog
from emulator.codecs import codec_for
from emulator.config import EmulatorConfig
from emulator.wire.errors import BedrockError
from tests.conftest import LLAMA_70B, Door
from tests.test_operations import headers_of, only_record

TITAN = "amazon.titan-text-express-v1"
NOVA = "amazon.nova-lite-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
MISTRAL_CHAT = "mistral.mistral-large-2407-v1:0"
COMMAND_R = "cohere.command-r-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
COHERE_EMBED = "cohere.embed-english-v3"

QUESTION = "Name three colours of the rainbow, please."
MALFORMED_START = "Malformed input request: "
MALFORMED_END = ", please reformat your input and try again."


def malformed(detail: str) -> str:
    return MALFORMED_START + detail + MALFORMED_END


# -- the families ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """How to ask one model family, and how to read its answer and its stream."""

    model: str
    body: Callable[[int], dict[str, Any]]
    # payload -> (text, input tokens or None, output tokens or None, stop reason), checking its shape
    read: Callable[[dict[str, Any]], tuple[str, int | None, int | None, str]]
    # chunks (all but the last may be checked freely) -> (text, stop reason), checking their shape
    read_stream: Callable[[list[dict[str, Any]]], tuple[str, str]]
    stops: tuple[str, str]  # (answer finished, answer cut by max tokens)


def _read_titan(p: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
    assert set(p) == {"inputTextTokenCount", "results"}
    [result] = p["results"]
    assert set(result) == {"tokenCount", "outputText", "completionReason"}
    return result["outputText"], p["inputTextTokenCount"], result["tokenCount"], result["completionReason"]


def _read_titan_stream(chunks: list[dict[str, Any]]) -> tuple[str, str]:
    keys = {"outputText", "index", "totalOutputTextTokenCount", "completionReason", "inputTextTokenCount"}
    for chunk in chunks[:-1]:
        assert set(chunk) == keys and chunk["index"] == 0
        assert chunk["completionReason"] is None and chunk["totalOutputTextTokenCount"] is None
    assert chunks[0]["inputTextTokenCount"] > 0
    assert all(c["inputTextTokenCount"] is None for c in chunks[1:])
    last = chunks[-1]
    assert last["totalOutputTextTokenCount"] == last["amazon-bedrock-invocationMetrics"]["outputTokenCount"]
    return "".join(c["outputText"] for c in chunks), last["completionReason"]


def _read_nova(p: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
    assert set(p) == {"output", "stopReason", "usage"}
    message = p["output"]["message"]
    assert message["role"] == "assistant"
    usage = p["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["cacheReadInputTokenCount"] == usage["cacheWriteInputTokenCount"] == 0
    return message["content"][0]["text"], usage["inputTokens"], usage["outputTokens"], p["stopReason"]


def _read_nova_stream(chunks: list[dict[str, Any]]) -> tuple[str, str]:
    kinds = [next(k for k in c if k != "amazon-bedrock-invocationMetrics") for c in chunks]
    n = kinds.count("contentBlockDelta")
    assert n >= 1
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * n + ["contentBlockStop", "messageStop", "metadata"]
    assert chunks[0] == {"messageStart": {"role": "assistant"}}
    assert all(c["contentBlockDelta"]["contentBlockIndex"] == 0 for c in chunks[1 : 1 + n])
    metadata = chunks[-1]["metadata"]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metadata["usage"] == {"inputTokens": metrics["inputTokenCount"], "outputTokens": metrics["outputTokenCount"]}
    text = "".join(c["contentBlockDelta"]["delta"]["text"] for c in chunks[1 : 1 + n])
    return text, chunks[-2]["messageStop"]["stopReason"]


def _read_mistral(p: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
    [output] = p["outputs"]
    assert set(output) == {"text", "stop_reason"}
    return output["text"], None, None, output["stop_reason"]


def _read_mistral_stream(chunks: list[dict[str, Any]]) -> tuple[str, str]:
    for chunk in chunks[:-1]:
        assert set(chunk) == {"outputs"} and chunk["outputs"][0]["stop_reason"] is None
    return "".join(c["outputs"][0]["text"] for c in chunks), chunks[-1]["outputs"][0]["stop_reason"]


def _read_mistral_chat(p: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
    [choice] = p["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    return choice["message"]["content"], None, None, choice["stop_reason"]


def _read_mistral_chat_stream(chunks: list[dict[str, Any]]) -> tuple[str, str]:
    for chunk in chunks[:-1]:
        assert set(chunk) == {"choices"} and chunk["choices"][0]["stop_reason"] is None
    text = "".join(c["choices"][0]["message"]["content"] for c in chunks)
    return text, chunks[-1]["choices"][0]["stop_reason"]


def _read_command_r(p: dict[str, Any]) -> tuple[str, int | None, int | None, str]:
    assert {"response_id", "text", "generation_id", "finish_reason", "meta"} <= set(p)
    assert p["response_id"] != p["generation_id"]
    billed = p["meta"]["billed_units"]
    return p["text"], billed["input_tokens"], billed["output_tokens"], p["finish_reason"]


def _read_command_r_stream(chunks: list[dict[str, Any]]) -> tuple[str, str]:
    types = [c["event_type"] for c in chunks]
    n = types.count("text-generation")
    assert n >= 1 and types == ["stream-start"] + ["text-generation"] * n + ["stream-end"]
    assert [c["is_finished"] for c in chunks] == [False] * (n + 1) + [True]
    end = chunks[-1]
    text = "".join(c["text"] for c in chunks[1 : 1 + n])
    # The stream-end event carries the whole response, the same as InvokeModel's.
    response_text, input_tokens, output_tokens, finish = _read_command_r(end["response"])
    assert response_text == text and finish == end["finish_reason"]
    assert end["response"]["generation_id"] == chunks[0]["generation_id"]
    metrics = end["amazon-bedrock-invocationMetrics"]
    assert (input_tokens, output_tokens) == (metrics["inputTokenCount"], metrics["outputTokenCount"])
    return text, end["finish_reason"]


FAMILIES = {
    "titan": Family(
        TITAN,
        lambda n: {"inputText": f"User: {QUESTION}\nBot:", "textGenerationConfig": {"maxTokenCount": n, "topP": 0.9}},
        _read_titan,
        _read_titan_stream,
        ("FINISH", "LENGTH"),
    ),
    "nova": Family(
        NOVA,
        lambda n: {
            "schemaVersion": "messages-v1",
            "system": [{"text": "You are terse."}],
            "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
            "inferenceConfig": {"maxTokens": n, "temperature": 0.5, "topP": 0.9, "topK": 20},
        },
        _read_nova,
        _read_nova_stream,
        ("end_turn", "max_tokens"),
    ),
    "mistral": Family(
        MISTRAL,
        lambda n: {"prompt": f"<s>[INST] {QUESTION} [/INST]", "max_tokens": n, "temperature": 0.5, "top_k": 50},
        _read_mistral,
        _read_mistral_stream,
        ("stop", "length"),
    ),
    "mistral-chat": Family(
        MISTRAL_CHAT,
        lambda n: {
            "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": QUESTION}],
            "max_tokens": n,
            "temperature": 0.5,
        },
        _read_mistral_chat,
        _read_mistral_chat_stream,
        ("stop", "length"),
    ),
    "command-r": Family(
        COMMAND_R,
        lambda n: {
            "message": QUESTION,
            "chat_history": [{"role": "USER", "message": "Hello."}, {"role": "CHATBOT", "message": "Hi."}],
            "preamble": "You are terse.",
            "max_tokens": n,
            "p": 0.5,
        },
        _read_command_r,
        _read_command_r_stream,
        ("COMPLETE", "MAX_TOKENS"),
    ),
}


# -- helpers ---------------------------------------------------------------------------------------


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def chunks_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    for event in response["body"]:
        assert set(event) == {"chunk"}, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    assert chunks, "an empty stream"
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert set(metrics) == {"inputTokenCount", "outputTokenCount", "invocationLatency", "firstByteLatency"}
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] > 0
    return chunks


def client_error(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def assert_validation(door: Door, err: ClientError, operation: str, message: str | None = None) -> str:
    assert err.response["Error"]["Code"] == "ValidationException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    record = door.ledger.records[-1]
    assert (record.operation, record.outcome) == (operation, "ValidationException")
    assert record.request_id == err.response["ResponseMetadata"]["RequestId"]
    text = err.response["Error"]["Message"]
    if message is not None:
        assert text == message
    return text


def norm(values: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in values))


def cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


# -- text families: InvokeModel --------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_invoke_model(door: Door, name: str) -> None:
    family = FAMILIES[name]
    client = door.client()
    body = encode(family.body(200))
    response = client.invoke_model(modelId=family.model, body=body, contentType="application/json")
    assert response["contentType"] == "application/json"
    raw = response["body"].read()
    headers = headers_of(response)
    assert int(headers["content-length"]) == len(raw)
    assert int(headers["x-amzn-bedrock-invocation-latency"]) > 0

    text, input_tokens, output_tokens, stop = family.read(json.loads(raw))
    assert text.strip()
    assert stop == family.stops[0]
    header_in = int(headers["x-amzn-bedrock-input-token-count"])
    header_out = int(headers["x-amzn-bedrock-output-token-count"])
    assert 0 < header_out < 200
    assert input_tokens in (None, header_in) and output_tokens in (None, header_out)

    record = only_record(door)
    assert record.request_id == headers["x-amzn-requestid"]
    assert (record.outcome, record.resolved_model, record.streamed) == ("ok", family.model, False)
    assert (record.input_tokens, record.output_tokens) == (header_in, header_out)
    assert record.stop_reason == "end_turn"

    counted = client.count_tokens(modelId=family.model, input={"invokeModel": {"body": body}})
    assert counted["inputTokens"] == header_in


@pytest.mark.parametrize("name", FAMILIES)
def test_invoke_model_tiny_max_tokens(door: Door, name: str) -> None:
    family = FAMILIES[name]
    response = door.client().invoke_model(modelId=family.model, body=encode(family.body(3)))
    _, _, output_tokens, stop = family.read(json.loads(response["body"].read()))
    assert stop == family.stops[1]
    assert headers_of(response)["x-amzn-bedrock-output-token-count"] == "3"
    assert output_tokens in (None, 3)
    record = only_record(door)
    assert (record.output_tokens, record.stop_reason) == (3, "max_tokens")


# -- text families: InvokeModelWithResponseStream --------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_invoke_model_with_response_stream(door: Door, name: str) -> None:
    family = FAMILIES[name]
    client = door.client()
    body = encode(family.body(200))
    response = client.invoke_model_with_response_stream(modelId=family.model, body=body)
    assert response["contentType"] == "application/json"
    assert headers_of(response)["content-type"] == "application/vnd.amazon.eventstream"
    chunks = chunks_of(response)
    text, stop = family.read_stream(chunks)
    assert text.strip()
    assert stop == family.stops[0]

    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    record = only_record(door)
    assert record.streamed and record.outcome == "ok"
    assert (record.input_tokens, record.output_tokens) == (metrics["inputTokenCount"], metrics["outputTokenCount"])
    assert 0 < metrics["outputTokenCount"] < 200
    counted = client.count_tokens(modelId=family.model, input={"invokeModel": {"body": body}})
    assert counted["inputTokens"] == metrics["inputTokenCount"]


@pytest.mark.parametrize("name", FAMILIES)
def test_invoke_model_with_response_stream_tiny_max_tokens(door: Door, name: str) -> None:
    family = FAMILIES[name]
    response = door.client().invoke_model_with_response_stream(modelId=family.model, body=encode(family.body(3)))
    chunks = chunks_of(response)
    _, stop = family.read_stream(chunks)
    assert stop == family.stops[1]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3
    assert only_record(door).stop_reason == "max_tokens"


@pytest.mark.parametrize("after_events", [1, 50])
@pytest.mark.parametrize("name", FAMILIES)
def test_mid_stream_fault_breaks_every_family_stream(door: Door, name: str, after_events: int) -> None:
    """A mid-stream fault replaces the rest of the stream, even when the answer is shorter than
    ``after_events``: the client never sees the final chunk, and sees the exception instead."""
    family = FAMILIES[name]
    door.faults.inject("ModelStreamErrorException", at="mid_stream", after_events=after_events,
                       operation="InvokeModelWithResponseStream")
    response = door.client().invoke_model_with_response_stream(modelId=family.model, body=encode(family.body(40)))
    received = []
    with pytest.raises(ClientError) as info:
        for event in response["body"]:
            received.append(json.loads(event["chunk"]["bytes"]))
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert received and all("amazon-bedrock-invocationMetrics" not in c for c in received)
    assert [r.outcome for r in door.ledger.records] == ["ModelStreamErrorException"]


# Every answer of more than one word contains a space: a space as the stop sequence always stops it.
STOPPED_BY_SEQUENCE = {
    "titan": (lambda b: {**b, "textGenerationConfig": {**b["textGenerationConfig"], "stopSequences": [" "]}},
              "STOP_CRITERIA_MET"),
    "nova": (lambda b: {**b, "inferenceConfig": {**b["inferenceConfig"], "stopSequences": [" "]}}, "stop_sequence"),
    "mistral": (lambda b: {**b, "stop": [" "]}, "stop"),
    "command-r": (lambda b: {**b, "stop_sequences": [" "]}, "COMPLETE"),
}


@pytest.mark.parametrize("name", STOPPED_BY_SEQUENCE)
def test_stop_sequence_ends_the_answer(door: Door, name: str) -> None:
    family = FAMILIES[name]
    with_stop, expected = STOPPED_BY_SEQUENCE[name]
    body = encode(with_stop(family.body(200)))
    client = door.client()
    response = client.invoke_model(modelId=family.model, body=body)
    text, _, _, stop = family.read(json.loads(response["body"].read()))
    assert stop == expected
    assert text.strip() and " " not in text  # cut before the stop sequence, which is left out
    record = door.ledger.records[-1]
    assert record.stop_reason == "stop_sequence"
    assert int(headers_of(response)["x-amzn-bedrock-output-token-count"]) == record.output_tokens
    streamed, stream_stop = family.read_stream(chunks_of(client.invoke_model_with_response_stream(
        modelId=family.model, body=body)))
    assert stream_stop == expected and " " not in streamed
    assert door.ledger.records[-1].stop_reason == "stop_sequence"


# -- family details --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["amazon.titan-text-lite-v1", "amazon.titan-text-premier-v1:0"])
def test_titan_siblings_and_default_max_token_count(door: Door, model: str) -> None:
    response = door.client().invoke_model(modelId=model, body=encode({"inputText": QUESTION}))
    text, input_tokens, output_tokens, _ = _read_titan(json.loads(response["body"].read()))
    assert text.strip() and input_tokens == only_record(door).input_tokens
    assert output_tokens is not None and 0 < output_tokens <= 512  # the documented default cap


def test_nova_accepts_both_spellings_of_inference_config(door: Door) -> None:
    client = door.client()
    messages = [{"role": "user", "content": [{"text": QUESTION}]}]
    snake = {"messages": messages, "inferenceConfig": {"max_new_tokens": 3, "top_p": 0.9, "top_k": 20}}
    camel = {"messages": messages, "inferenceConfig": {"maxTokens": 3, "topP": 0.9, "topK": 20}}
    for body in (snake, camel):
        payload = json.loads(client.invoke_model(modelId=NOVA, body=encode(body))["body"].read())
        assert payload["stopReason"] == "max_tokens" and payload["usage"]["outputTokens"] == 3
    first, second = door.ledger.records
    assert first.input_tokens == second.input_tokens > 0


def test_nova_inference_profile_and_turn_order(door: Door) -> None:
    client = door.client(max_attempts=1)
    body = FAMILIES["nova"].body(20)
    payload = json.loads(client.invoke_model(modelId="us.amazon.nova-lite-v1:0", body=encode(body))["body"].read())
    assert payload["output"]["message"]["content"][0]["text"].strip()
    body["messages"] = [{"role": "assistant", "content": [{"text": "Hi."}]}]
    err = client_error(lambda: client.invoke_model(modelId=NOVA, body=encode(body)))
    assert assert_validation(door, err, "InvokeModel").startswith("A conversation must start with a user message.")


def test_command_r_counts_history_documents_and_preamble(door: Door) -> None:
    client = door.client()
    bare = {"message": QUESTION}
    rich = {**bare, "preamble": "Be terse.", "chat_history": [{"role": "USER", "message": "Hi there."}],
            "documents": [{"title": "Rainbow", "snippet": "Red, orange, yellow, green, blue, indigo, violet."}]}
    counts = [
        client.count_tokens(modelId=COMMAND_R, input={"invokeModel": {"body": encode(b)}})["inputTokens"]
        for b in (bare, rich)
    ]
    assert 0 < counts[0] < counts[1]
    response = client.invoke_model(modelId=COMMAND_R, body=encode(rich))
    assert json.loads(response["body"].read())["meta"]["billed_units"]["input_tokens"] == counts[1]


# -- bodies of the wrong family --------------------------------------------------------------------

ANTHROPIC_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                  "messages": [{"role": "user", "content": QUESTION}]}
LLAMA_BODY = {"prompt": QUESTION, "max_gen_len": 50, "temperature": 0.5}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (TITAN, ANTHROPIC_BODY),
        (NOVA, ANTHROPIC_BODY),
        (MISTRAL, LLAMA_BODY),
        (MISTRAL_CHAT, LLAMA_BODY),
        (COMMAND_R, FAMILIES["nova"].body(50)),
        (LLAMA_70B, FAMILIES["titan"].body(50)),
        (TITAN_EMBED, FAMILIES["command-r"].body(50)),
        (COHERE_EMBED, {"inputText": QUESTION}),
    ],
    ids=["anthropic>titan", "anthropic>nova", "llama>mistral", "llama>mistral-chat", "nova>command-r",
         "titan>llama", "command-r>titan-embed", "titan-embed>cohere-embed"],
)
def test_wrong_family_body_is_malformed_input(door: Door, model: str, body: dict[str, Any]) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.invoke_model(modelId=model, body=encode(body)))
    message = assert_validation(door, err, "InvokeModel")
    assert message.startswith(MALFORMED_START) and message.endswith(MALFORMED_END)
    assert len(door.ledger.records) == 1  # refused before it reached a model, and recorded once
    assert door.ledger.records[0].input_tokens == 0


@pytest.mark.parametrize(
    ("model", "body", "detail"),
    [
        (MISTRAL, LLAMA_BODY, "#: extraneous key [max_gen_len] is not permitted"),
        (MISTRAL_CHAT, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": "many"},
         "#/max_tokens: expected type: Integer, found: String"),
        (TITAN, {"inputText": "Hi", "textGenerationConfig": {"maxTokenCount": 9000}},
         "#/textGenerationConfig/maxTokenCount: 9000 is not less or equal to 8192"),
        (TITAN, {"inputText": "Hi", "textGenerationConfig": {"max_tokens": 9}},
         "#/textGenerationConfig: extraneous key [max_tokens] is not permitted"),
        (NOVA, {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 6000}},
         "#/inferenceConfig/maxTokens: 6000 is not less or equal to 5120"),
        (NOVA, {"messages": [{"role": "user", "content": "Hi"}]},
         "#/messages/0/content: expected type: JSONArray, found: String"),
        (COMMAND_R, {"prompt": "Hi"}, "2 schema violations found"),
        (COMMAND_R, {"message": "Hi", "max_tokens": 5000}, "#/max_tokens: 5000 is not less or equal to 4000"),
        (TITAN_EMBED, {"inputText": "Hi", "dimensions": 300}, "#/dimensions: 300 is not a valid enum value"),
        (TITAN_EMBED, {"inputText": ""}, "#/inputText: expected minLength: 1, actual: 0"),
        (COHERE_EMBED, {"texts": ["Hi"]}, "#: required key [input_type] not found"),
        (COHERE_EMBED, {"input_type": "search_query"}, "#: required key [texts] not found"),
        (COHERE_EMBED, {"texts": ["x" * 2049], "input_type": "search_query"},
         "#/texts/0: expected maxLength: 2048, actual: 2049"),
    ],
)
def test_schema_violations_are_worded_like_bedrock(door: Door, model: str, body: dict[str, Any], detail: str) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.invoke_model(modelId=model, body=encode(body)))
    assert_validation(door, err, "InvokeModel", malformed(detail))


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("amazon.titan-text-lite-v1", {"inputText": "tok " * 4100}),  # a 4K window
        (MISTRAL, {"prompt": "tok " * 32_100}),  # a 32K window
        (COMMAND_R, {"message": "Hi.", "documents": [{"snippet": "tok " * 128_100}]}),  # documents count
    ],
    ids=["titan-lite", "mistral-7b", "command-r"],
)
def test_input_longer_than_the_context_window(door: Door, model: str, body: dict[str, Any]) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.invoke_model(modelId=model, body=encode(body)))
    assert_validation(door, err, "InvokeModel", "Input is too long for requested model.")
    err = client_error(lambda: client.count_tokens(modelId=model, input={"invokeModel": {"body": encode(body)}}))
    assert_validation(door, err, "CountTokens", "Input is too long for requested model.")


def test_bad_bodies_do_not_break_the_emulator(door: Door) -> None:
    client = door.client(max_attempts=1)
    bad = [b"", b"null", b"[1]", b'"text"', b"{", b"\xff\xfe", b'{"inputText": 7}', b'{"texts": "no", "input_type": 1}',
           b'{"messages": [{"role": "user", "content": [{"text": 5}]}]}', b'{"message": null}']
    models = [TITAN, NOVA, MISTRAL, MISTRAL_CHAT, COMMAND_R, TITAN_EMBED, COHERE_EMBED]
    for model in models:
        for raw in bad:
            err = client_error(lambda m=model, r=raw: client.invoke_model(modelId=m, body=r))
            assert err.response["Error"]["Code"] == "ValidationException", (model, raw)
            assert err.response["Error"]["Message"].startswith(MALFORMED_START), (model, raw)
    response = client.invoke_model(modelId=TITAN, body=encode(FAMILIES["titan"].body(5)))
    assert json.loads(response["body"].read())["results"][0]["tokenCount"] > 0
    totals = door.ledger.totals()
    assert totals["attempts"] == len(models) * len(bad) + 1
    assert totals["outcomes"] == {"ValidationException": len(models) * len(bad), "ok": 1}


_KEYS = ["inputText", "textGenerationConfig", "maxTokenCount", "messages", "role", "content", "text", "system",
         "inferenceConfig", "maxTokens", "max_new_tokens", "prompt", "max_tokens", "stop", "message", "chat_history",
         "documents", "texts", "input_type", "truncate", "embedding_types", "dimensions", "normalize", "images",
         "tool_calls", "function", "user", "USER", "search_query", "float", "binary", "image", "toolUse"]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10_000) | st.floats(allow_nan=False) | st.sampled_from(_KEYS)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), children, max_size=5),
    max_leaves=20,
)
_SPECS = [s for s in Catalog(EmulatorConfig()) if s.model_id in
          (TITAN, NOVA, MISTRAL, MISTRAL_CHAT, COMMAND_R, TITAN_EMBED, COHERE_EMBED)]
_VALID = [f.body(20) for f in FAMILIES.values()] + [
    {"inputText": "Hi.", "dimensions": 256, "normalize": False, "embeddingTypes": ["binary"]},
    {"texts": ["Hi.", "Yo."], "input_type": "search_query", "truncate": "END", "embedding_types": ["int8"]},
]


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same JSON type as ``value`` (edge cases of a valid body), or any JSON."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-2, 20_000)
    if isinstance(value, float):
        return st.floats(-1, 2)
    if isinstance(value, str):
        return st.text(max_size=30)
    return _JSON


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    """A valid body of some family with one value somewhere in it changed, or its key dropped."""
    body = json.loads(json.dumps(draw(st.sampled_from(_VALID))))
    node = body
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return body
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        how = draw(st.sampled_from(["like", "any", "drop"]))
        if how == "drop":
            del node[key]
        else:
            node[key] = draw(_like(child) if how == "like" else _JSON)
        return body


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_mutated() | _JSON)
def test_any_json_body_parses_or_gets_a_validation_exception(body: Any) -> None:
    raw = json.dumps(body).encode()
    for spec in _SPECS:
        try:
            prompt = codec_for(spec).parse(raw, spec)
        except BedrockError as error:
            assert error.code == "ValidationException" and error.status == 400
            assert error.message
        else:
            assert prompt.input_tokens() >= 0


# -- embeddings ------------------------------------------------------------------------------------


def titan_embed(door: Door, **body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    response = door.client().invoke_model(modelId=TITAN_EMBED, body=encode(body))
    return json.loads(response["body"].read()), headers_of(response)


def test_titan_embedding_default_dimension_norm_and_headers(door: Door) -> None:
    payload, headers = titan_embed(door, inputText="The quick brown fox.")
    assert set(payload) == {"embedding", "inputTextTokenCount", "embeddingsByType"}
    vector = payload["embedding"]
    assert len(vector) == 1024 and all(isinstance(x, float) for x in vector)
    assert abs(norm(vector) - 1.0) < 1e-9
    assert payload["embeddingsByType"] == {"float": vector}
    # Only the input count and the latency: an embedding has no output tokens.
    assert "x-amzn-bedrock-output-token-count" not in headers
    assert int(headers["x-amzn-bedrock-invocation-latency"]) > 0
    record = only_record(door)
    assert int(headers["x-amzn-bedrock-input-token-count"]) == payload["inputTextTokenCount"] == record.input_tokens > 0
    assert (record.outcome, record.output_tokens, record.streamed) == ("ok", 0, False)
    assert record.cost_usd > 0


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_titan_embedding_dimensions(door: Door, dimensions: int) -> None:
    payload, _ = titan_embed(door, inputText="Dimensions.", dimensions=dimensions, normalize=True)
    assert len(payload["embedding"]) == dimensions
    assert abs(norm(payload["embedding"]) - 1.0) < 1e-9


def test_titan_embedding_is_deterministic_and_text_dependent(door: Door) -> None:
    first, _ = titan_embed(door, inputText="Retry with backoff.")
    again, _ = titan_embed(door, inputText="Retry with backoff.")
    other, _ = titan_embed(door, inputText="Retry with back-off.")
    assert first["embedding"] == again["embedding"]
    assert first["embedding"] != other["embedding"]
    # Texts that share words are closer than texts that share none.
    near, _ = titan_embed(door, inputText="Retry the request with exponential backoff.")
    far, _ = titan_embed(door, inputText="Lunch menu: soup, bread and cheese.")
    assert cosine(first["embedding"], near["embedding"]) > cosine(first["embedding"], far["embedding"])


def test_titan_embedding_unnormalised_and_binary(door: Door) -> None:
    raw, _ = titan_embed(door, inputText="Scale me.", normalize=False)
    assert abs(norm(raw["embedding"]) - 1.0) > 1e-3
    unit, _ = titan_embed(door, inputText="Scale me.")
    assert cosine(raw["embedding"], unit["embedding"]) == pytest.approx(1.0, abs=1e-12)  # same direction
    both, _ = titan_embed(door, inputText="Scale me.", embeddingTypes=["float", "binary"])
    assert set(both["embeddingsByType"]) == {"float", "binary"}
    bits = both["embeddingsByType"]["binary"]
    assert bits == [1 if x > 0 else 0 for x in unit["embedding"]]


def test_titan_embedding_token_limit(door: Door) -> None:
    client = door.client(max_attempts=1)
    text = "tok " * 13_500  # 13,500 tokens in 54,000 characters: over both limits
    err = client_error(lambda: client.invoke_model(modelId=TITAN_EMBED, body=encode({"inputText": text[:49_000]})))
    message = assert_validation(door, err, "InvokeModel")
    assert message.startswith("400 Bad Request: Too many input tokens. Max input tokens: 8192, request input token")
    err = client_error(lambda: client.invoke_model(modelId=TITAN_EMBED, body=encode({"inputText": text})))
    assert_validation(door, err, "InvokeModel", malformed("#/inputText: expected maxLength: 50000, actual: 54000"))


def cohere_embed(door: Door, **body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    response = door.client().invoke_model(modelId=COHERE_EMBED, body=encode(body))
    return json.loads(response["body"].read()), headers_of(response)


def test_cohere_embeddings_of_several_texts(door: Door) -> None:
    texts = ["Red sky at night.", "Shepherd's delight.", "Red sky at night."]
    payload, headers = cohere_embed(door, texts=texts, input_type="search_document")
    assert set(payload) == {"embeddings", "id", "response_type", "texts"}
    assert payload["response_type"] == "embeddings_floats" and payload["texts"] == texts
    vectors = payload["embeddings"]
    assert len(vectors) == 3 and all(len(v) == 1024 for v in vectors)
    assert all(abs(norm(v) - 1.0) < 1e-9 for v in vectors)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]

    assert "x-amzn-bedrock-output-token-count" not in headers
    record = only_record(door)
    assert int(headers["x-amzn-bedrock-input-token-count"]) == record.input_tokens > 0
    counted = door.client().count_tokens(
        modelId=COHERE_EMBED, input={"invokeModel": {"body": encode({"texts": texts, "input_type": "search_document"})}}
    )
    assert counted["inputTokens"] == record.input_tokens


def test_cohere_embeddings_by_type(door: Door) -> None:
    types = ["float", "int8", "uint8", "binary", "ubinary"]
    payload, _ = cohere_embed(door, texts=["One.", "Two."], input_type="clustering", embedding_types=types)
    assert payload["response_type"] == "embeddings_by_type"
    by_type = payload["embeddings"]
    assert set(by_type) == set(types)
    floats = by_type["float"]
    assert [len(v) for v in floats] == [1024, 1024]
    assert all(-128 <= x <= 127 for v in by_type["int8"] for x in v)
    assert all(0 <= x <= 255 for v in by_type["uint8"] for x in v)
    assert [len(v) for v in by_type["binary"]] == [128, 128]
    assert all(0 <= x <= 255 for v in by_type["ubinary"] for x in v)
    # The int8 vector points where the float one does.
    assert cosine(floats[0], [float(x) for x in by_type["int8"][0]]) > 0.99


def test_cohere_query_and_document_of_one_text_are_close_but_not_equal(door: Door) -> None:
    text = "How do I retry a throttled request?"
    query, _ = cohere_embed(door, texts=[text], input_type="search_query")
    doc, _ = cohere_embed(door, texts=[text, "Sourdough needs a starter."], input_type="search_document")
    q, same, other = query["embeddings"][0], doc["embeddings"][0], doc["embeddings"][1]
    assert q != same
    assert cosine(q, same) > cosine(q, other)


def test_cohere_truncate(door: Door) -> None:
    client = door.client(max_attempts=1)
    short = client.count_tokens(
        modelId=COHERE_EMBED, input={"invokeModel": {"body": encode({"texts": ["Short."], "input_type": "clustering"})}}
    )["inputTokens"]
    too_long = "a, " * 600  # 1,200 tokens in 1,800 characters: within the character limit only
    for truncate in ("START", "END"):
        payload, headers = cohere_embed(door, texts=[too_long, "Short."], input_type="clustering", truncate=truncate)
        assert payload["texts"] == [too_long, "Short."] and len(payload["embeddings"]) == 2
        # The long text is cut to the model's 512 tokens; the short one is billed whole.
        assert int(headers["x-amzn-bedrock-input-token-count"]) == 512 + short == door.ledger.records[-1].input_tokens
    # Without truncate (NONE, Bedrock's documented default) the long text is refused.
    err = client_error(lambda: client.invoke_model(
        modelId=COHERE_EMBED, body=encode({"texts": [too_long], "input_type": "clustering"})))
    message = assert_validation(door, err, "InvokeModel")
    assert message.startswith(MALFORMED_START) and "texts[0]" in message and "512" in message


def test_embedding_models_do_not_stream_or_converse(door: Door) -> None:
    client = door.client(max_attempts=1)
    err = client_error(lambda: client.invoke_model_with_response_stream(
        modelId=TITAN_EMBED, body=encode({"inputText": "Stream me."})))
    assert_validation(door, err, "InvokeModelWithResponseStream", "The model is unsupported for streaming.")
    err = client_error(lambda: client.invoke_model_with_response_stream(
        modelId=COHERE_EMBED, body=encode({"texts": ["Stream me."], "input_type": "search_query"})))
    assert_validation(door, err, "InvokeModelWithResponseStream", "The model is unsupported for streaming.")
    err = client_error(lambda: client.converse(
        modelId=TITAN_EMBED, messages=[{"role": "user", "content": [{"text": "Hi."}]}]))
    message = assert_validation(door, err, "Converse")
    assert message.startswith("This action doesn't support the model that you provided.")
    assert [r.outcome for r in door.ledger.records] == ["ValidationException"] * 3


def test_multilingual_embeddings_live_in_their_own_space(door: Door) -> None:
    body = encode({"texts": ["Bonjour."], "input_type": "search_query"})
    client = door.client()
    english = json.loads(client.invoke_model(modelId=COHERE_EMBED, body=body)["body"].read())
    multi = json.loads(client.invoke_model(modelId="cohere.embed-multilingual-v3", body=body)["body"].read())
    assert len(multi["embeddings"][0]) == 1024
    assert multi["embeddings"] != english["embeddings"]


# -- catalogue -------------------------------------------------------------------------------------


def test_catalogue_limits_and_codecs() -> None:
    catalog = Catalog(EmulatorConfig())
    expected = {
        "amazon.titan-text-lite-v1": (4096, False),
        "amazon.titan-text-express-v1": (8192, False),
        "amazon.titan-text-premier-v1:0": (3072, False),
        "mistral.mixtral-8x7b-instruct-v0:1": (4096, False),
        "mistral.mistral-large-2402-v1:0": (8192, False),
        "cohere.command-r-plus-v1:0": (4000, False),
        TITAN_EMBED: (0, True),
        "cohere.embed-multilingual-v3": (0, True),
    }
    for model_id, (max_out, embedding) in expected.items():
        spec = catalog.resolve(model_id)
        assert spec is not None, model_id
        assert (spec.max_output_tokens, spec.embedding) == (max_out, embedding)
        codec = codec_for(spec)
        assert hasattr(codec, "parse") and hasattr(codec, "stream_chunks") != embedding

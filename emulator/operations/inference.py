"""The model operations: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream,
CountTokens. They go through the engine (admission, fleet, latency, generator, ledger)."""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from emulator.catalog import ModelSpec
from emulator.codecs import codec_for, converse
from emulator.codecs.embeddings import STREAMING_UNSUPPORTED, EmbeddingRequest
from emulator.codecs.prompt import INPUT_TOO_LONG, Prompt
from emulator.codecs.stream import StreamEvent
from emulator.engine.engine import Call, Invocation
from emulator.guardrails.converse import ConverseGuard, guard_for
from emulator.guardrails.invoke import InvokeGuard, invoke_guard_for
from emulator.operations.base import Exchange, base_headers, error_response, json_response
from emulator.wire import service
from emulator.wire.errors import BedrockError, validation
from emulator.wire.eventstream import error_frame, event_frame, exception_frame
from emulator.wire.exchange import Frame, WireResponse

if TYPE_CHECKING:
    from emulator.core import Emulator

OPERATIONS = ("Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens")
STREAMING = frozenset({"ConverseStream", "InvokeModelWithResponseStream"})
STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
# Converse on an embedding model (wording as client reports quote it).
CONVERSE_UNSUPPORTED = (
    "This action doesn't support the model that you provided. Try again with a supported text or chat model."
)


def handle(emulator: Emulator, operation: str, params: dict[str, Any]) -> Exchange:
    model = emulator.catalog.require(params["modelId"])
    if model.embedding and operation in ("Converse", "ConverseStream"):
        raise validation(CONVERSE_UNSUPPORTED)
    if model.embedding and operation == "InvokeModelWithResponseStream":
        raise validation(STREAMING_UNSUPPORTED)
    invocation, request, prompt = _build(operation, params, model)
    guard = _guardrail(emulator, operation, params)
    if guard is not None:
        return _guarded_exchange(emulator, guard, invocation)
    invoke_guard = _invoke_guardrail(emulator, operation, params, prompt)
    if invoke_guard is not None:
        return _invoke_guarded_exchange(emulator, invoke_guard, invocation)
    call = emulator.engine.submit(invocation)
    return Exchange(call, lambda: render(call, padding=emulator.config.front_door.stream_padding, request=request))


def build_invocation(
    operation: str, params: dict[str, Any], model: ModelSpec
) -> tuple[Invocation, EmbeddingRequest | None]:
    """The engine's view of the request, plus an embedding request, kept to render the vectors."""
    invocation, request, _prompt = _build(operation, params, model)
    return invocation, request


def _build(
    operation: str, params: dict[str, Any], model: ModelSpec
) -> tuple[Invocation, EmbeddingRequest | None, Prompt | None]:
    """``build_invocation``, plus the parsed text prompt (None for CountTokens and embeddings)."""
    model_id = params["modelId"]
    if operation == "CountTokens":
        tokens = _count_tokens(params["input"], model, model_id)
        return Invocation(operation, model_id, model, tokens, generates=False), None, None
    prompt = _parse(params if operation in ("Converse", "ConverseStream") else None, params.get("body", b""), model)
    if isinstance(prompt, EmbeddingRequest):
        embedding = Invocation(operation, model_id, model, input_tokens=prompt.input_tokens(),
                               temperature=0.0, prompt_digest=prompt.digest(), embedding=True)
        return embedding, prompt, None
    max_tokens = prompt.max_tokens or model.max_output_tokens
    invocation = Invocation(
        operation,
        model_id,
        model,
        input_tokens=prompt.input_tokens(),
        max_tokens=max_tokens,
        temperature=1.0 if prompt.temperature is None else prompt.temperature,
        prompt_digest=prompt.digest(),
        streaming=operation in STREAMING,
        # The request's max tokens bounds the work of generating a tool call's input.
        tools=tuple(replace(tool, max_tokens=max_tokens) for tool in prompt.tools),
        tool_choice=prompt.tool_choice,
        tool_name=prompt.tool_name,
        after_tool_result=prompt.after_tool_result,
        stop_sequences=tuple(prompt.stop_sequences),
    )
    return invocation, None, prompt


def _parse(converse_params: dict[str, Any] | None, body: Any, model: ModelSpec) -> Prompt | EmbeddingRequest:
    """A Converse request (``converse_params``) or a native body, parsed and checked against the
    model's context window, for every text family alike (embedding codecs check their own)."""
    if converse_params is not None:
        prompt = converse.parse(converse_params, model)
    else:
        prompt = codec_for(model).parse(body, model)
    # ``exceeds`` first sizes the text up without the tokenizer: a 26 MB Converse prompt (no body
    # cap applies to it) is refused at once, not after seconds of counting.
    if not isinstance(prompt, EmbeddingRequest) and prompt.exceeds(model.context_window):
        raise validation(INPUT_TOO_LONG)
    return prompt


def _count_tokens(count_input: dict[str, Any], model: ModelSpec, model_id: str) -> int:
    """CountTokens: the count the same request would be billed, after the same checks."""
    if "converse" in count_input:
        prompt = _parse({**count_input["converse"], "modelId": model_id}, None, model)
    else:
        prompt = _parse(None, count_input["invokeModel"]["body"], model)
    return prompt.input_tokens()


def render(call: Call, padding: bool = False, request: EmbeddingRequest | None = None) -> WireResponse:
    outcome = call.outcome
    assert outcome is not None
    if outcome.error is not None:
        return error_response(outcome.error, call.request_id, at=outcome.respond_at)
    op = call.invocation.operation
    if op == "CountTokens":
        return json_response(call.request_id, {"inputTokens": call.record.input_tokens}, outcome.respond_at)
    if op == "Converse":
        return json_response(call.request_id, converse.response(call), outcome.respond_at)
    if op == "ConverseStream":
        return _stream(call, converse.stream_events(call), padding)
    codec = codec_for(call.invocation.model)
    if request is not None:
        return _invoke_response(call, codec.response(call, request))
    if op == "InvokeModel":
        return _invoke_response(call, codec.response(call))
    return _stream(call, codec.stream_chunks(call))


def _invoke_response(call: Call, body: dict[str, Any]) -> WireResponse:
    outcome = call.outcome
    assert outcome is not None
    data = json.dumps(body).encode("utf-8")
    response = WireResponse(200, base_headers(call.request_id), data, ready_at=outcome.respond_at)
    response.headers += [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("X-Amzn-Bedrock-Input-Token-Count", str(call.record.input_tokens)),
    ]
    if not call.invocation.embedding:  # embedding models send only the input count and latency
        response.headers.append(("X-Amzn-Bedrock-Output-Token-Count", str(outcome.output_tokens)))
    response.headers.append(("X-Amzn-Bedrock-Invocation-Latency", str(max(1, round(call.record.latency_s * 1000)))))
    return response


def _stream(call: Call, events: list[StreamEvent], padding: bool = False) -> WireResponse:
    outcome = call.outcome
    assert outcome is not None
    pad = _padding(call.request_id) if padding else None
    op = call.invocation.operation
    headers = base_headers(call.request_id) + [("Content-Type", STREAM_CONTENT_TYPE)]
    if op == "InvokeModelWithResponseStream":
        headers.append(("X-Amzn-Bedrock-Content-Type", "application/json"))
    frames: list[Frame] = []
    content_sent = 0
    # An answer with fewer content events than the fault's after_events breaks after its last one.
    content_total = sum(event.content for event in events)
    break_after = min(outcome.stream_break_after, content_total)
    for event in events:
        at = min(outcome.first_byte_at + event.tokens * outcome.token_interval_s, outcome.finished_at)
        breaks_here = event.content or content_sent == content_total
        if outcome.stream_error is not None and breaks_here and content_sent >= break_after:
            frames.append(Frame(at, _stream_error_frame(op, outcome.stream_error)))
            break
        frames.append(Frame(at, _event_bytes(event, pad)))
        content_sent += event.content
    return WireResponse(200, headers, frames=frames, ready_at=outcome.first_byte_at)


_PAD_ALPHABET = string.ascii_letters + string.digits


def _padding(request_id: str) -> Callable[[], str]:
    """Real Bedrock pads each ConverseStream event with ``"p": "abcdefgh..."`` of random length
    (a prefix of a-zA-Z0-9), so payload sizes do not reveal token lengths; clients ignore it."""
    rng = random.Random(request_id)
    return lambda: _PAD_ALPHABET[: rng.randint(1, len(_PAD_ALPHABET))]


def _event_bytes(event: StreamEvent, pad: Callable[[], str] | None = None) -> bytes:
    if pad is not None and event.event_type != "chunk":
        return event_frame(event.event_type, {**event.payload, "p": pad()})
    if event.event_type == "chunk":
        payload = json.dumps(event.payload, separators=(",", ":")).encode("utf-8")
        return event_frame("chunk", {"bytes": base64.b64encode(payload).decode("ascii")})
    return event_frame(event.event_type, event.payload)


def _stream_error_frame(operation: str, error: BedrockError) -> bytes:
    member = service.stream_exception_members(operation).get(error.code)
    if member is None:  # not a member of this stream's union: an unmodeled error frame
        return error_frame(error.code, error.message)
    return exception_frame(member, error.message)


# -- guardrails: Converse / ConverseStream ``guardrailConfig`` (emulator.guardrails.converse) -----


def _guardrail(emulator: Emulator, operation: str, params: dict[str, Any]) -> ConverseGuard | None:
    """The request's guardrail with its input checked, or None (no guardrailConfig, or not Converse)."""
    if operation not in ("Converse", "ConverseStream"):
        return None
    return guard_for(emulator.config.guardrails, params)


def _guarded_exchange(emulator: Emulator, guard: ConverseGuard, invocation: Invocation) -> Exchange:
    # A blocked input still goes through admission (throttling, faults) but runs no model.
    call = emulator.engine.submit(guard.invocation(invocation))
    guard.submitted(call)
    padding = emulator.config.front_door.stream_padding
    return Exchange(call, lambda: _guarded_render(call, guard, padding))


def _guarded_render(call: Call, guard: ConverseGuard, padding: bool) -> WireResponse:
    """``render``, then the guardrail's output check (or blocked-input reply) over the answer."""
    outcome = call.outcome
    assert outcome is not None
    if outcome.error is not None:
        return render(call)
    if call.invocation.operation == "Converse":
        body = guard.converse_response(call, converse.response(call))
        return json_response(call.request_id, body, outcome.respond_at)
    return _stream(call, guard.stream_events(call, converse.stream_events(call)), padding)


# -- guardrails: InvokeModel / IMWRS ``X-Amzn-Bedrock-Guardrail*`` headers (emulator.guardrails.invoke)


def _invoke_guardrail(
    emulator: Emulator, operation: str, params: dict[str, Any], prompt: Prompt | None
) -> InvokeGuard | None:
    """The request's guardrail with its input checked, or None (no guardrail headers).
    ``prompt`` is the body already parsed (None for an embedding request)."""
    if operation not in ("InvokeModel", "InvokeModelWithResponseStream"):
        return None
    if not (params.get("guardrailIdentifier") or params.get("guardrailVersion")):
        return None
    return invoke_guard_for(emulator.config.guardrails, params, prompt)


def _invoke_guarded_exchange(emulator: Emulator, guard: InvokeGuard, invocation: Invocation) -> Exchange:
    call = emulator.engine.submit(guard.guard.invocation(invocation))
    guard.guard.submitted(call)
    return Exchange(call, lambda: _invoke_guarded_render(call, guard))


def _invoke_guarded_render(call: Call, guard: InvokeGuard) -> WireResponse:
    outcome = call.outcome
    assert outcome is not None
    if outcome.error is not None:
        return render(call)
    codec = codec_for(call.invocation.model)
    if call.invocation.operation == "InvokeModel":
        return _invoke_response(call, guard.response(call, codec))
    return _stream(call, guard.stream_chunks(call, codec))

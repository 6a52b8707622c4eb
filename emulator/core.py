"""The emulator: one request in (from any door), one AWS-shaped response out.

``Emulator.begin`` does the synchronous part (route, parse, validate against the service model,
decode the body, submit to the engine) and returns an ``Exchange``; the door then lets its clock
run until the exchange is ready and sends the response at the times the engine decided.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from emulator.catalog import Catalog, ModelSpec
from emulator.codecs import anthropic, converse, llama
from emulator.codecs.prompt import Prompt
from emulator.codecs.stream import StreamEvent
from emulator.config import EmulatorConfig
from emulator.engine.clock import Clock, VirtualClock
from emulator.engine.engine import Call, Engine, Invocation
from emulator.engine.faults import FaultSet
from emulator.engine.ledger import Ledger
from emulator.wire import service
from emulator.wire.errors import INVALID_MODEL, BedrockError, validation
from emulator.wire.eventstream import error_frame, event_frame, exception_frame
from emulator.wire.exchange import Frame, Headers, WireRequest, WireResponse
from emulator.wire.request_parser import RequestParseError, parse_request
from emulator.wire.validation import validate_params, validation_message

STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

# InvokeModel body formats by model family. Converse needs none: it is model-agnostic.
FAMILY_CODECS = {"anthropic": anthropic, "meta": llama}

IMPLEMENTED = frozenset(
    {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "CountTokens"}
)


@dataclass
class Exchange:
    """A request in flight: ``render()`` is valid once ``ready``."""

    call: Call | None
    render: Callable[[], WireResponse]

    @property
    def ready(self) -> bool:
        return self.call is None or self.call.decided


class Emulator:
    """The Bedrock Runtime emulator behind every door (in-process hook, HTTP server)."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, clock: Clock | None = None, seed: int | None = None
    ) -> None:
        config = config or EmulatorConfig()
        if seed is not None:
            config = config.replace(seed=seed)
        self.config = config
        self.clock = clock or VirtualClock()
        self.catalog = Catalog(config)
        self.engine = Engine(config, self.clock, self.catalog)

    @property
    def ledger(self) -> Ledger:
        return self.engine.ledger

    @property
    def faults(self) -> FaultSet:
        return self.engine.faults

    def reset(self) -> None:
        """Forget the ledger, the warm containers, the faults and the account bucket."""
        with self.clock.lock:
            self.engine = Engine(self.config, self.clock, self.catalog)

    # -- one request -------------------------------------------------------------------------
    def begin(self, request: WireRequest) -> Exchange:
        with self.clock.lock:
            self.clock.sync()
            try:
                return self._begin(request)
            except BedrockError as error:
                return self._refused(request, error)

    def _begin(self, request: WireRequest) -> Exchange:
        found = service.match_route(request.method, request.path)
        if found is None:
            raise BedrockError(
                "UnknownOperationException",
                f"No Bedrock Runtime operation matches {request.method} {request.path}",
            )
        op, labels = found
        request.operation = op.name
        request.model_id = labels.get("modelId", "")
        if op.name not in IMPLEMENTED:
            raise BedrockError(
                "UnknownOperationException", f"{op.name} is not emulated by this version of bedrock-chaos."
            )
        try:
            params = parse_request(op, labels, request.headers, request.query, request.body)
        except RequestParseError as error:
            raise validation(error.message) from None
        problems = validate_params(op.input_shape, params)
        if problems:
            raise validation(validation_message(problems))
        model = self.catalog.resolve(params["modelId"])
        if model is None:
            raise validation(INVALID_MODEL)
        invocation = self._invocation(op.name, params, model)
        call = self.engine.submit(invocation)
        return Exchange(call, lambda: self._render(call))

    def _invocation(self, operation: str, params: dict, model: ModelSpec) -> Invocation:
        model_id = params["modelId"]
        if operation == "CountTokens":
            tokens = self._count_tokens(params["input"], model)
            return Invocation(operation, model_id, model, tokens, generates=False)
        if operation in ("Converse", "ConverseStream"):
            prompt = converse.parse(params, model)
        else:
            prompt = self._codec(model).parse(params.get("body", b""), model)
        return Invocation(
            operation,
            model_id,
            model,
            input_tokens=prompt.input_tokens(),
            max_tokens=prompt.max_tokens or model.max_output_tokens,
            temperature=1.0 if prompt.temperature is None else prompt.temperature,
            prompt_digest=prompt.digest(),
            streaming=operation in ("ConverseStream", "InvokeModelWithResponseStream"),
        )

    def _codec(self, model: ModelSpec):  # -> module with parse/response/stream_chunks
        codec = FAMILY_CODECS.get(model.family)
        if codec is None:
            raise validation(
                f"InvokeModel bodies of the {model.family} family are not emulated yet; use Converse "
                f"with {model.model_id}."
            )
        return codec

    def _count_tokens(self, count_input: dict, model: ModelSpec) -> int:
        if "converse" in count_input:
            return converse.count_input(count_input["converse"])
        prompt: Prompt = self._codec(model).parse(count_input["invokeModel"]["body"], model)
        return prompt.input_tokens()

    def _refused(self, request: WireRequest, error: BedrockError) -> Exchange:
        """An error found before the engine ran: recorded, answered at once."""
        record = self.engine.record_refusal(request.operation, request.model_id, error.code)
        response = _error_response(error, record.request_id, at=self.clock.now)
        return Exchange(None, lambda: response)

    # -- responses ---------------------------------------------------------------------------
    def _render(self, call: Call) -> WireResponse:
        outcome = call.outcome
        assert outcome is not None
        if outcome.error is not None:
            return _error_response(outcome.error, call.request_id, at=outcome.respond_at)
        op = call.invocation.operation
        if op == "CountTokens":
            return _json_response(call, {"inputTokens": call.record.input_tokens})
        if op == "Converse":
            return _json_response(call, converse.response(call))
        if op == "ConverseStream":
            return self._stream(call, converse.stream_events(call))
        codec = self._codec(call.invocation.model)
        if op == "InvokeModel":
            body = json.dumps(codec.response(call)).encode("utf-8")
            response = WireResponse(200, _base_headers(call.request_id), body, ready_at=outcome.respond_at)
            response.headers += [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("X-Amzn-Bedrock-Input-Token-Count", str(call.record.input_tokens)),
                ("X-Amzn-Bedrock-Output-Token-Count", str(outcome.output_tokens)),
                ("X-Amzn-Bedrock-Invocation-Latency", str(max(1, round(call.record.latency_s * 1000)))),
            ]
            return response
        return self._stream(call, codec.stream_chunks(call))

    def _stream(self, call: Call, events: list[StreamEvent]) -> WireResponse:
        outcome = call.outcome
        assert outcome is not None
        op = call.invocation.operation
        headers = _base_headers(call.request_id) + [("Content-Type", STREAM_CONTENT_TYPE)]
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
            frames.append(Frame(at, _event_bytes(event)))
            content_sent += event.content
        return WireResponse(200, headers, frames=frames, ready_at=outcome.first_byte_at)


class EmulatorHandle:
    """What every door hands its user: the emulator's ledger, faults, clock and config."""

    emulator: Emulator

    @property
    def ledger(self) -> Ledger:
        return self.emulator.ledger

    @property
    def faults(self) -> FaultSet:
        return self.emulator.faults

    @property
    def clock(self) -> Clock:
        return self.emulator.clock

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    def reset(self) -> None:
        """Forget the ledger, the warm containers, the faults and the account bucket."""
        self.emulator.reset()


def _base_headers(request_id: str) -> list[tuple[str, str]]:
    return [("x-amzn-RequestId", request_id)]


def _json_response(call: Call, body: dict) -> WireResponse:
    data = json.dumps(body).encode("utf-8")
    headers = _base_headers(call.request_id) + [("Content-Type", "application/json")]
    return WireResponse(200, headers, data, ready_at=call.outcome.respond_at)  # type: ignore[union-attr]


def _error_response(error: BedrockError, request_id: str, at: float) -> WireResponse:
    return WireResponse(error.status, _base_headers(request_id) + error.headers(), error.body(), ready_at=at)


def _event_bytes(event: StreamEvent) -> bytes:
    if event.event_type == "chunk":
        payload = json.dumps(event.payload, separators=(",", ":")).encode("utf-8")
        return event_frame("chunk", {"bytes": base64.b64encode(payload).decode("ascii")})
    return event_frame(event.event_type, event.payload)


def _stream_error_frame(operation: str, error: BedrockError) -> bytes:
    member = service.stream_exception_members(operation).get(error.code)
    if member is None:  # not a member of this stream's union: an unmodeled error frame
        return error_frame(error.code, error.message)
    return exception_frame(member, error.message)


def wire_request(method: str, url: str, headers: Headers | dict, body: bytes) -> WireRequest:
    """A WireRequest from a full URL (as botocore's prepared request carries it)."""
    parts = urlsplit(url)
    hdrs = headers if isinstance(headers, Headers) else Headers(headers)
    return WireRequest(method, parts.path, hdrs, body, parse_qs(parts.query, keep_blank_values=True))

"""The emulator: one request in (from any door), one AWS-shaped response out.

``Emulator.begin`` does the synchronous part (route, parse, validate against the service model,
decode the body, submit to the engine) and returns an ``Exchange``; the door then lets its clock
run until the exchange is ready and sends the response at the times the engine decided.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from emulator.catalog import Catalog
from emulator.config import EmulatorConfig
from emulator.engine.clock import Clock, VirtualClock
from emulator.engine.engine import Engine
from emulator.engine.faults import FaultSet
from emulator.engine.ledger import Ledger
from emulator.operations import HANDLERS
from emulator.operations.base import Exchange, error_response
from emulator.wire import service
from emulator.wire.errors import BedrockError, validation
from emulator.wire.exchange import Headers, WireRequest, WireResponse
from emulator.wire.request_parser import RequestParseError, parse_request
from emulator.wire.validation import validate_params, validation_message

__all__ = ["Emulator", "EmulatorHandle", "Exchange", "wire_request"]

log = logging.getLogger("bedrock_chaos")


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
                exchange = self._begin(request)
            except BedrockError as error:
                exchange = self._refused(request, error)
            except Exception:  # a bug of ours must still come back AWS-shaped, never as a dropped call
                log.exception("bedrock-chaos: internal error on %s %s", request.method, request.path)
                exchange = self._refused(request, BedrockError("InternalServerException"))
        exchange = _guarded(exchange, self.clock)
        retry_after = self.config.front_door.retry_after_ms
        if retry_after is not None:
            exchange = _with_retry_after(exchange, retry_after)
        return exchange

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
        handler = HANDLERS.get(op.name)
        if handler is None:
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
        return handler(self, op.name, params)

    def _refused(self, request: WireRequest, error: BedrockError) -> Exchange:
        """An error found before the engine ran: recorded, answered at once."""
        record = self.engine.record_refusal(request.operation, request.model_id, error.code)
        response = error_response(error, record.request_id, at=self.clock.now)
        return Exchange(None, lambda: response)


def _guarded(exchange: Exchange, clock: Clock) -> Exchange:
    """Rendering errors become an InternalServerException response too."""
    render = exchange.render

    def rendered() -> WireResponse:
        try:
            return render()
        except Exception:
            log.exception("bedrock-chaos: internal error while rendering a response")
            request_id = exchange.call.request_id if exchange.call else "internal-error"
            return error_response(BedrockError("InternalServerException"), request_id, at=clock.now)

    return Exchange(exchange.call, rendered)


def _with_retry_after(exchange: Exchange, retry_after_ms: int) -> Exchange:
    """Throttled responses carry ``x-amz-retry-after`` (milliseconds), when the config asks."""
    render = exchange.render

    def rendered() -> WireResponse:
        response = render()
        if response.status == 429:
            response.headers.append(("x-amz-retry-after", str(retry_after_ms)))
        return response

    return Exchange(exchange.call, rendered)


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


def wire_request(method: str, url: str, headers: Headers | dict, body: bytes) -> WireRequest:
    """A WireRequest from a full URL (as botocore's prepared request carries it)."""
    parts = urlsplit(url)
    hdrs = headers if isinstance(headers, Headers) else Headers(headers)
    return WireRequest(method, parts.path, hdrs, body, parse_qs(parts.query, keep_blank_values=True))

"""The engine: every attempt goes admission -> fleet -> latency -> generator -> ledger.

It is driven by a clock (virtual or wall) and never reads real time itself. Each attempt costs
a few plain-attribute updates and one simpy timeout (the container release; an idle container
also gets a keep-alive timer), no
``Process``; ``benchmarks/engine_throughput.py`` measures what that buys (tens of thousands of
attempts per real second on a 2-core machine).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.catalog import Catalog, ModelSpec
from emulator.config import EmulatorConfig
from emulator.engine.bucket import TokenBucket
from emulator.engine.clock import Clock
from emulator.engine.faults import Fault, FaultSet
from emulator.engine.fleet import ModelFleet, Slot
from emulator.engine.generator import draw_length, plan_answer, render_text, request_rng
from emulator.engine.latency import LatencyModel
from emulator.engine.ledger import Ledger, LedgerRecord
from emulator.engine.toolgen import ToolCall, ToolDef
from emulator.wire.errors import BedrockError, with_model_error_fields

log = logging.getLogger("bedrock_chaos")


@dataclass
class Invocation:
    """What the engine needs to know about one attempt, whatever its wire format."""

    operation: str
    model_id: str  # as the caller named it
    model: ModelSpec
    input_tokens: int
    max_tokens: int = 1
    temperature: float = 1.0
    prompt_digest: bytes = b""
    streaming: bool = False
    generates: bool = True  # False for CountTokens: no model run, no fleet
    embedding: bool = False  # an embedding model: prefill only, no output tokens
    # Tools offered and how the model may use them: auto | any | tool (tool_name) | none.
    tools: tuple[ToolDef, ...] = ()
    tool_choice: str = "auto"
    tool_name: str | None = None
    after_tool_result: bool = False  # the last user turn answers a tool call
    stop_sequences: tuple[str, ...] = ()


@dataclass
class Outcome:
    """How an attempt turns out. Known once it has a container (or was refused)."""

    error: BedrockError | None
    respond_at: float  # engine time the (first byte of the) response goes out
    first_byte_at: float = 0.0
    finished_at: float = 0.0
    output_tokens: int = 0
    stop_reason: str = "end_turn"
    token_interval_s: float = 0.0
    # A stream that breaks: after how many content events, and with what.
    stream_error: BedrockError | None = None
    stream_break_after: int = 0
    tool_call: ToolCall | None = None  # the answer ends in this call (stop reason tool_use)
    stop_sequence: str | None = None  # the stop sequence the answer ran into
    _text: Callable[[], list[str]] | None = field(default=None, repr=False)

    def pieces(self) -> list[str]:
        """The generated text, as pieces of known token counts (rendered on demand). With a tool
        call, the text before it (often none)."""
        return self._text() if self._text else []

    @property
    def text(self) -> str:
        return "".join(self.pieces())


@dataclass(eq=False)
class Call:
    invocation: Invocation
    record: LedgerRecord
    arrived_at: float
    outcome: Outcome | None = None

    @property
    def request_id(self) -> str:
        return self.record.request_id

    @property
    def decided(self) -> bool:
        return self.outcome is not None


class Engine:
    def __init__(self, config: EmulatorConfig, clock: Clock, catalog: Catalog | None = None) -> None:
        self.config = config
        self.clock = clock
        self.env = clock.env
        self.catalog = catalog or Catalog(config)
        seed = config.seed
        # Separate streams, so adding a fault does not shift every later latency draw.
        self._ids = random.Random(f"{seed}:ids")
        self._timing = random.Random(f"{seed}:timing")
        self._lengths = random.Random(f"{seed}:lengths")
        self.faults = FaultSet(random.Random(f"{seed}:faults"))
        self.ledger = Ledger()
        self.account = TokenBucket(config.account.requests_per_second, config.account.burst, self.env.now)
        self.fleets: dict[str, ModelFleet] = {}
        self._latency = {name: LatencyModel(p) for name, p in config.size_classes.items()}
        self._sequence = 0

    # -- public ----------------------------------------------------------------------------
    def submit(self, invocation: Invocation) -> Call:
        """Admit one attempt at the current engine time (takes ``clock.lock`` itself)."""
        with self.clock.lock:
            return self._submit(invocation)

    def fleet(self, model: ModelSpec) -> ModelFleet:
        fleet = self.fleets.get(model.model_id)
        if fleet is None:
            fc = self.config.fleet
            fleet = ModelFleet(
                self.env,
                self._latency[model.size_class],
                self._timing,
                fc.keep_alive_s,
                fc.container_concurrency,
                fc.max_containers,
            )
            self.fleets[model.model_id] = fleet
        return fleet

    def new_request_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # -- the path of one attempt ---------------------------------------------------------------
    def _submit(self, inv: Invocation) -> Call:
        now = self.env.now
        self._sequence += 1
        record = self.ledger.append(
            LedgerRecord(
                request_id=self.new_request_id(),
                sequence=self._sequence,
                time=round(self.clock.epoch + now, 6),
                model_id=inv.model_id,
                resolved_model=inv.model.model_id,
                operation=inv.operation,
                input_tokens=inv.input_tokens,
                streamed=inv.streaming,
            )
        )
        call = Call(inv, record, now)
        front = self.config.front_door
        if not self.account.try_take(now):
            self._refuse(call, BedrockError("ThrottlingException"), front.error_latency_s)
            return call
        fault = self._fault("admission", inv)
        if fault is not None:
            self._refuse(call, self._error(fault, inv), front.error_latency_s)
            return call
        if not inv.generates:
            record.outcome = "ok"
            record.latency_s = front.count_tokens_latency_s
            call.outcome = Outcome(None, respond_at=now + front.count_tokens_latency_s)
            return call
        fleet = self.fleet(inv.model)
        fleet.acquire(lambda slot: self._run_guarded(call, fleet, slot))
        return call

    def _refuse(self, call: Call, error: BedrockError, delay: float) -> None:
        call.record.outcome = error.code
        call.record.input_tokens = 0
        call.record.latency_s = delay
        call.outcome = Outcome(error, respond_at=call.arrived_at + delay)

    def _run_guarded(self, call: Call, fleet: ModelFleet, slot: Slot) -> None:
        """``_run``, but a bug in it costs one InternalServerException, not a leaked container
        slot and a record stuck at "pending" (it runs inside simpy callbacks, far from any door)."""
        try:
            self._run(call, fleet, slot)
        except Exception:
            log.exception("bedrock-chaos: internal error while running %s", call.request_id)
            call.record.outcome = "InternalServerException"
            call.outcome = Outcome(BedrockError("InternalServerException"), respond_at=self.env.now)
            self._release_at(fleet, slot, self.env.now)

    def _run(self, call: Call, fleet: ModelFleet, slot: Slot) -> None:
        inv, record = call.invocation, call.record
        now = self.env.now
        timing = fleet.latency.draw(self._timing, inv.input_tokens, slot.concurrent)
        first_byte = slot.start_at + timing.ttft_s
        record.cold = slot.cold_start_s > 0
        record.cold_start_s = slot.cold_start_s
        record.queue_s = now - call.arrived_at
        record.ttft_s = first_byte - call.arrived_at

        fault = self._fault("first_byte", inv)
        if fault is not None:
            record.outcome = fault.code
            record.latency_s = record.ttft_s
            call.outcome = Outcome(self._error(fault, inv), respond_at=first_byte)
            self._release_at(fleet, slot, first_byte)
            return

        out = self.config.output
        seed, seq = self.config.seed, record.sequence
        # At temperature 0 the length, like the text, follows from the prompt alone.
        length_rng = self._lengths if inv.temperature > 0 else request_rng(seed, 0, inv.prompt_digest, 0)
        if inv.embedding:
            tokens, stop = 0, "end_turn"
        else:
            tokens, stop = draw_length(length_rng, out.median_tokens, out.length_sigma, inv.max_tokens)

        def text_rng() -> random.Random:
            return request_rng(seed, seq, inv.prompt_digest, inv.temperature)

        def text() -> list[str]:
            return render_text(text_rng(), tokens)

        tool_call, stop_sequence = None, None
        if not inv.embedding and (inv.tools or inv.stop_sequences):
            # Tool call or text, and where a stop sequence cuts it, follow from the attempt's own
            # seeded streams (salted apart from the text's), like the text itself.
            answer = plan_answer(
                text_rng=text_rng,
                salted_rng=lambda salt: request_rng(seed, seq, inv.prompt_digest + salt, inv.temperature),
                drawn=(tokens, stop),
                max_tokens=inv.max_tokens,
                tools=inv.tools,
                tool_choice=inv.tool_choice,
                tool_name=inv.tool_name,
                after_tool_result=inv.after_tool_result,
                preamble=inv.model.family == "anthropic",
                stop_sequences=inv.stop_sequences,
            )
            tokens, stop, text = answer.tokens, answer.stop_reason, answer.pieces
            tool_call, stop_sequence = answer.tool_call, answer.stop_sequence

        finished = first_byte + tokens * timing.token_interval_s
        outcome = Outcome(
            None,
            respond_at=finished if not inv.streaming else first_byte,
            first_byte_at=first_byte,
            finished_at=finished,
            output_tokens=tokens,
            stop_reason=stop,
            token_interval_s=timing.token_interval_s,
            tool_call=tool_call,
            stop_sequence=stop_sequence,
            _text=text,
        )
        fault = self._fault("mid_stream", inv) or self._fault("completion", inv)
        if fault is not None:
            error = self._error(fault, inv)
            if inv.streaming and fault.at == "mid_stream":
                outcome.stream_error = error
                outcome.stream_break_after = fault.after_events
            else:
                outcome.error = error
                outcome.respond_at = finished
            record.outcome = fault.code
        else:
            record.outcome = "ok"
        record.output_tokens = tokens
        record.stop_reason = stop
        record.latency_s = finished - call.arrived_at
        record.cost_usd = self._cost(inv.model, inv.input_tokens, tokens)
        call.outcome = outcome
        self._release_at(fleet, slot, finished)

    def _release_at(self, fleet: ModelFleet, slot: Slot, when: float) -> None:
        timer = self.env.timeout(max(0.0, when - self.env.now))
        timer.callbacks.append(lambda _ev: fleet.release(slot.container))

    def _fault(self, point: str, inv: Invocation) -> Fault | None:
        if not len(self.faults):
            return None
        return self.faults.draw(point, inv.model.model_id, inv.operation)  # type: ignore[arg-type]

    def _error(self, fault: Fault, inv: Invocation) -> BedrockError:
        return BedrockError(fault.code, fault.message, **with_model_error_fields(fault.code, inv.model_id))

    def _cost(self, model: ModelSpec, input_tokens: int, output_tokens: int) -> float:
        """A model's own configured price first, then its list price if asked for, then the flat default."""
        pricing = self.config.pricing
        pin, pout = pricing.input_per_million, pricing.output_per_million
        if pricing.use_list_prices and model.list_input_per_million is not None:
            pin, pout = model.list_input_per_million, model.list_output_per_million or 0.0
        if model.input_per_million is not None:
            pin = model.input_per_million
        if model.output_per_million is not None:
            pout = model.output_per_million
        return round((input_tokens * pin + output_tokens * pout) / 1e6, 12)

    def record_refusal(self, operation: str, model_id: str, code: str) -> LedgerRecord:
        """Record an attempt refused before it reached the engine (bad input, unknown route)."""
        with self.clock.lock:
            self._sequence += 1
            return self.ledger.append(
                LedgerRecord(
                    request_id=self.new_request_id(),
                    sequence=self._sequence,
                    time=round(self.clock.epoch + self.env.now, 6),
                    model_id=model_id,
                    resolved_model="",
                    operation=operation,
                    outcome=code,
                )
            )

"""Guardrails on Converse and ConverseStream: the request's ``guardrailConfig``.

* The **input** is checked before the request reaches the engine. The checked text is every
  ``guardContent`` block (in ``system`` or ``messages``) if there are any, else the text blocks
  of every message. If the guardrail blocks it, no model runs: the reply is the guardrail's
  blocked-input message, ``stopReason`` is ``guardrail_intervened`` and usage is zero (the ledger
  records the attempt with no tokens and no cost). A masked input does not stop the model.
* The **output** is checked when the answer is rendered. A blocked answer is replaced by the
  blocked-outputs message, a masked one by its masked text; either way ``stopReason`` becomes
  ``guardrail_intervened`` (the model ran, so its tokens are still billed).
* ConverseStream in ``sync`` mode (the default) checks the whole answer before any of it goes out;
  in ``async`` mode the chunks go out as generated and the stream is cut after the chunk that
  completes blocked content (masking is not applied, as on AWS).
* With ``trace`` ``enabled`` (or ``enabled_full``, which also lists what was checked and not
  found), the response carries ``trace.guardrail``: the input assessment, the output assessments,
  the model's original output when it was replaced, and the action reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from emulator.codecs.stream import StreamEvent
from emulator.engine.engine import Call, Invocation
from emulator.guardrails.evaluate import (
    REASON_NONE,
    Evaluation,
    Guardrail,
    GuardrailNotFound,
    TextBlock,
    evaluate,
    is_guarded,
    resolve,
)
from emulator.guardrails.policy import GuardrailConfig
from emulator.wire.errors import validation

STOP_REASON = "guardrail_intervened"
# The first is what Bedrock answers for an unknown guardrail on Converse (seen in client reports);
# the other two are worded after it and not confirmed.
INVALID_GUARDRAIL = "The provided guardrail identifier is invalid."
INVALID_GUARDRAIL_VERSION = "The provided guardrail version is invalid."
INCOMPLETE_GUARDRAIL = "Guardrail identifier and guardrail version must both be provided in guardrailConfig."
@dataclass
class ConverseGuard:
    guardrail: Guardrail
    trace: str  # "disabled", "enabled" or "enabled_full"
    stream_mode: str  # "sync" or "async"
    input: Evaluation

    @property
    def full(self) -> bool:
        return self.trace == "enabled_full"

    # -- around the engine -----------------------------------------------------------------------
    def invocation(self, invocation: Invocation) -> Invocation:
        """What goes to the engine: a blocked input only passes admission (throttling, faults)."""
        if not self.input.blocked:
            return invocation
        return replace(invocation, input_tokens=0, generates=False)

    def submitted(self, call: Call) -> None:
        """A blocked input's attempt answers once the guardrail has run, with nothing generated."""
        outcome = call.outcome
        if not self.input.blocked or outcome is None or outcome.error is not None:
            return
        outcome.respond_at = outcome.first_byte_at = outcome.finished_at = call.arrived_at + self.input.latency_s
        outcome.stop_reason = STOP_REASON
        call.record.latency_s = self.input.latency_s
        call.record.stop_reason = STOP_REASON

    # -- the answer ------------------------------------------------------------------------------
    # Only text is checked; tool calls pass unchecked unless the whole answer is replaced.
    def converse_response(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        """A rendered Converse body with the guardrail applied to its answer."""
        content: list[dict[str, Any]] = body["output"]["message"]["content"]
        texts = [block["text"] for block in content if "text" in block]
        output: Evaluation | None = None
        if self.input.blocked:
            content[:] = [{"text": self.guardrail.config.blocked_input_messaging}]
        else:
            output = evaluate(self.guardrail, "OUTPUT", [TextBlock(t) for t in texts], full=self.full)
            if output.blocked:
                content[:] = [{"text": output.outputs[0]}]
            elif output.masked:
                masked = iter(output.outputs)
                content[:] = [{"text": next(masked)} if "text" in block else block for block in content]
        if self.input.blocked or (output is not None and output.intervened):
            body["stopReason"] = STOP_REASON
            call.record.stop_reason = STOP_REASON
        if self.trace != "disabled":
            replaced = texts if output is not None and output.intervened else None
            body["trace"] = {**body.get("trace", {}), **self._trace(output, replaced)}
        return body

    def stream_events(self, call: Call, events: list[StreamEvent]) -> list[StreamEvent]:
        """Rendered ConverseStream events with the guardrail applied to the answer's text."""
        text_deltas = [e for e in events if _is_text_delta(e)]
        original = "".join(e.payload["delta"]["text"] for e in text_deltas)
        total = next((e.tokens for e in events if e.event_type == "messageStop"), 0)
        output: Evaluation | None = None
        if self.input.blocked:
            events = _replace_content(events, self.guardrail.config.blocked_input_messaging, 0)
        elif self.stream_mode == "async":
            events, output = self._async_cut(events)
        else:
            output = self._check_output(original)
            if output.blocked:  # sent once the whole answer has been generated and checked
                events = _replace_content(events, output.outputs[0], total)
            elif output.masked:
                last = text_deltas[-1]
                events = [_delta(e.tokens, output.outputs[0]) if e is last else e
                          for e in events if e is last or not _is_text_delta(e)]
        intervened = self.input.blocked or (
            output is not None and (output.blocked if self.stream_mode == "async" else output.intervened)
        )
        out: list[StreamEvent] = []
        for event in events:
            if event.event_type == "messageStop" and intervened:
                event = replace(event, payload={**event.payload, "stopReason": STOP_REASON})
                call.record.stop_reason = STOP_REASON
            if event.event_type == "metadata" and self.trace != "disabled":
                trace = self._trace(output, [original] if intervened and output is not None else None)
                event = replace(event, payload={**event.payload, "trace": {**event.payload.get("trace", {}), **trace}})
            out.append(event)
        return out

    def _async_cut(self, events: list[StreamEvent]) -> tuple[list[StreamEvent], Evaluation]:
        """The events sent before the check caught up: content up to the text delta that
        completes blocked text, that block's stop, then the closing events."""
        text = ""
        for position, event in enumerate(events):
            if not _is_text_delta(event):
                continue
            text += event.payload["delta"]["text"]
            checked = self._check_output(text)
            if checked.blocked:
                index = event.payload["contentBlockIndex"]
                closing = [e for e in events if e.event_type in ("messageStop", "metadata")]
                stop = StreamEvent(event.tokens, "contentBlockStop", {"contentBlockIndex": index})
                return events[: position + 1] + [stop] + closing, checked
        return events, self._check_output(text)

    def _check_output(self, text: str) -> Evaluation:
        return evaluate(self.guardrail, "OUTPUT", [TextBlock(text)], full=self.full)

    def _trace(self, output: Evaluation | None, replaced: list[str] | None) -> dict[str, Any]:
        """``replaced``: the model's own text, when the guardrail changed what the caller got."""
        gid = self.guardrail.guardrail_id
        guardrail: dict[str, Any] = {"inputAssessment": {gid: self.input.assessment}}
        if output is not None:
            guardrail["outputAssessments"] = {gid: [output.assessment]}
            if replaced is not None:
                guardrail["modelOutput"] = replaced
        done = [e for e in (self.input, output) if e is not None]
        deciding = next((e for e in done if e.blocked), None) or next((e for e in done if e.masked), None)
        guardrail["actionReason"] = deciding.action_reason if deciding else REASON_NONE
        return {"guardrail": guardrail}


def _delta(tokens: int, text: str) -> StreamEvent:
    return StreamEvent(tokens, "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}, True)


def _is_text_delta(event: StreamEvent) -> bool:
    return event.event_type == "contentBlockDelta" and "text" in event.payload.get("delta", {})


_CONTENT_EVENTS = frozenset({"contentBlockStart", "contentBlockDelta", "contentBlockStop"})


def _replace_content(events: list[StreamEvent], text: str, tokens: int) -> list[StreamEvent]:
    """The stream with every content block (text or tool call) replaced by one text block."""
    out: list[StreamEvent] = []
    for event in events:
        if event.event_type == "messageStop":
            out += [_delta(tokens, text), StreamEvent(tokens, "contentBlockStop", {"contentBlockIndex": 0})]
        if event.event_type not in _CONTENT_EVENTS:
            out.append(event)
    return out


def guard_for(guardrails: Mapping[str, GuardrailConfig], params: dict[str, Any]) -> ConverseGuard | None:
    """The guardrail a Converse request asks for, with its input already checked; None if none."""
    config = params.get("guardrailConfig")
    if not config:
        return None
    identifier = config.get("guardrailIdentifier") or ""
    version = config.get("guardrailVersion") or ""
    if not identifier and not version:
        return None
    if not identifier or not version:
        raise validation(INCOMPLETE_GUARDRAIL)
    guardrail = requested(guardrails, identifier, version)
    trace = config.get("trace") or "disabled"
    checked = evaluate(guardrail, "INPUT", input_blocks(params), full=trace == "enabled_full")
    return ConverseGuard(guardrail, trace, config.get("streamProcessingMode") or "sync", checked)


def requested(guardrails: Mapping[str, GuardrailConfig], identifier: str, version: str) -> Guardrail:
    """The guardrail a model request names, or the ValidationException Bedrock answers."""
    try:
        return resolve(guardrails, identifier, version)
    except GuardrailNotFound as missing:
        raise validation(INVALID_GUARDRAIL if missing.missing == "identifier" else INVALID_GUARDRAIL_VERSION) from None


def input_blocks(params: dict[str, Any]) -> list[TextBlock]:
    """What the input check reads: the guardContent blocks if any, else every message's text."""
    # A member sent as JSON null counts as absent (as in the service model's union rule).
    guarded_texts = [(block.get("guardContent") or {}).get("text") for block in _content_blocks(params)]
    marked = [TextBlock(text["text"], is_guarded(text.get("qualifiers"))) for text in guarded_texts if text]
    if marked:
        return marked
    return [
        TextBlock(block["text"])
        for message in params.get("messages") or []
        for block in message.get("content") or []
        if isinstance(block.get("text"), str)
    ]


def _content_blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = list(params.get("system") or [])
    for message in params.get("messages") or []:
        blocks += message.get("content") or []
    return blocks

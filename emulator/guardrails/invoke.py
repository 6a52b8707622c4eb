"""Guardrails on InvokeModel and InvokeModelWithResponseStream: the ``X-Amzn-Bedrock-Guardrail*``
headers (``guardrailIdentifier``, ``guardrailVersion``, ``trace``).

* The **input** checked is the text of the parsed body (the ``Prompt``'s system and turns). If
  the guardrail blocks it, no model runs (as on Converse: same ledger, zero tokens) and the reply
  is the blocked-input message in the model family's own response format, with its ordinary
  stop reason (``end_turn`` for Claude, ``stop`` for Llama, ...).
* The **output** is checked when the answer is rendered: a blocked answer is replaced by the
  blocked-outputs message, a masked one by its masked text (the model ran: its tokens are billed).
* Every answer carries the top-level ``amazon-bedrock-guardrailAction`` (``INTERVENED`` or
  ``NONE``); with ``trace`` ``ENABLED`` / ``ENABLED_FULL`` also ``amazon-bedrock-trace``:
  ``{"guardrail": {"input": {id: assessment}, "outputs": [{id: assessment}], "modelOutput": [...]}}``
  (``modelOutput``: the model's own answer, when the guardrail replaced it).
* InvokeModelWithResponseStream checks the whole answer before sending it (``sync`` processing)
  and puts both fields on the last chunk, next to ``amazon-bedrock-invocationMetrics``.

The answer is rendered by the family's codec from an ``Outcome`` whose text is replaced, so no
codec knows about guardrails. The input tagging of InvokeModel bodies
(``amazon-bedrock-guardrailConfig`` / ``tagSuffix``) is not emulated: the whole prompt is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from emulator.codecs.prompt import Prompt
from emulator.codecs.stream import StreamEvent
from emulator.engine.engine import Call, Outcome
from emulator.engine.generator import phrase_pieces
from emulator.guardrails.converse import STOP_REASON, ConverseGuard, requested
from emulator.guardrails.evaluate import Evaluation, TextBlock, evaluate
from emulator.guardrails.policy import GuardrailConfig
from emulator.wire.errors import validation

ACTION_FIELD = "amazon-bedrock-guardrailAction"
TRACE_FIELD = "amazon-bedrock-trace"
METRICS_FIELD = "amazon-bedrock-invocationMetrics"
# Worded by the emulator (Bedrock's own wording for these two is not confirmed).
INCOMPLETE_GUARDRAIL = "guardrailIdentifier and guardrailVersion must both be provided to use a guardrail."
EMBEDDING_UNSUPPORTED = "Guardrails are not supported for embedding models. Remove guardrailIdentifier."


class Codec(Protocol):
    def response(self, call: Call) -> dict[str, Any]: ...
    def stream_chunks(self, call: Call) -> list[StreamEvent]: ...


@dataclass
class InvokeGuard:
    """A guardrail on one InvokeModel request; the Converse guard does the checking and billing."""

    guard: ConverseGuard

    @property
    def input(self) -> Evaluation:
        return self.guard.input

    def response(self, call: Call, codec: Codec) -> dict[str, Any]:
        """The family's response body, with the guardrail applied and its fields added."""
        if self.input.blocked:
            return self._mark(codec.response(self._shown(call, None)), None, None)
        output = self._check_output(_outcome(call).text)
        if not output.intervened:
            return self._mark(codec.response(call), output, None)
        original = json.dumps(codec.response(call), separators=(",", ":"))
        return self._mark(codec.response(self._shown(call, output)), output, [original])

    def stream_chunks(self, call: Call, codec: Codec) -> list[StreamEvent]:
        """The family's stream chunks of the checked answer, the guardrail's fields on the last."""
        if self.input.blocked:
            chunks, output, original = codec.stream_chunks(self._shown(call, None)), None, None
        else:
            text = _outcome(call).text
            output = self._check_output(text)
            shown = self._shown(call, output) if output.intervened else call
            chunks, original = codec.stream_chunks(shown), [text] if output.intervened else None
        last = next((c for c in reversed(chunks) if METRICS_FIELD in c.payload), chunks[-1])
        return [replace(c, payload=self._mark(dict(c.payload), output, original)) if c is last else c
                for c in chunks]

    # -- helpers ---------------------------------------------------------------------------------
    def _check_output(self, text: str) -> Evaluation:
        return evaluate(self.guard.guardrail, "OUTPUT", [TextBlock(text)], full=self.guard.full)

    def _shown(self, call: Call, output: Evaluation | None) -> Call:
        """The call as the codec should render it: the answer's text replaced (the blocked-input
        message when ``output`` is None). A blocked answer loses its tool call and ends as a turn.
        The ledger records the intervention as Converse does (``guardrail_intervened``)."""
        outcome = _outcome(call)
        if output is None or output.blocked:
            text = self.guard.guardrail.config.blocked_input_messaging if output is None else output.outputs[0]
            shown = replace(outcome, tool_call=None, stop_reason="end_turn", stop_sequence=None)
        else:
            text, shown = output.outputs[0], outcome
        call.record.stop_reason = STOP_REASON
        pieces = phrase_pieces(text) or [text]
        return replace(call, outcome=replace(shown, _text=lambda: pieces))

    def _mark(self, body: dict[str, Any], output: Evaluation | None, original: list[str] | None) -> dict[str, Any]:
        intervened = self.input.blocked or (output is not None and output.intervened)
        body[ACTION_FIELD] = "INTERVENED" if intervened else "NONE"
        if self.guard.trace != "disabled":
            gid = self.guard.guardrail.guardrail_id
            guardrail: dict[str, Any] = {"input": {gid: self.input.assessment}}
            if output is not None:
                guardrail["outputs"] = [{gid: output.assessment}]
            if original is not None:
                guardrail["modelOutput"] = original
            body[TRACE_FIELD] = {"guardrail": guardrail}
        return body


def _outcome(call: Call) -> Outcome:
    assert call.outcome is not None
    return call.outcome


def invoke_guard_for(
    guardrails: Mapping[str, GuardrailConfig], params: dict[str, Any], prompt: Prompt | None
) -> InvokeGuard | None:
    """The guardrail an InvokeModel request's headers name, its input already checked; None if
    none. ``prompt`` is the parsed body, None for an embedding model (which takes no guardrail)."""
    identifier = params.get("guardrailIdentifier") or ""
    version = params.get("guardrailVersion") or ""
    if not identifier and not version:
        return None
    if prompt is None:
        raise validation(EMBEDDING_UNSUPPORTED)
    if not identifier or not version:
        raise validation(INCOMPLETE_GUARDRAIL)
    guardrail = requested(guardrails, identifier, version)
    trace = (params.get("trace") or "DISABLED").lower()
    blocks = [TextBlock(text) for text in [*prompt.system, *(text for _, text in prompt.turns)] if text]
    checked = evaluate(guardrail, "INPUT", blocks, full=trace == "enabled_full")
    return InvokeGuard(ConverseGuard(guardrail, trace, "sync", checked))

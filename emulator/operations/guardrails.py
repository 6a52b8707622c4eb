"""The guardrail operations: ApplyGuardrail (a configured guardrail) and InvokeGuardrailChecks
(inline checks). Neither runs a model: they are answered after the guardrail's processing time,
recorded in the ledger like any attempt (no tokens, no cost), and subject to admission faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.guardrails.checks import run_checks
from emulator.guardrails.evaluate import GuardrailNotFound, TextBlock, evaluate, is_guarded, resolve
from emulator.operations.base import Exchange, json_response
from emulator.wire.errors import BedrockError, validation

if TYPE_CHECKING:
    from emulator.core import Emulator

OPERATIONS = ("ApplyGuardrail", "InvokeGuardrailChecks")

# Not captured from the real service; worded like its other not-found messages.
EMPTY_IDENTIFIER = "The provided guardrail identifier is invalid."
EMPTY_VERSION = "The provided guardrail version is invalid."
NO_CHECKS = "At least one check must be specified in checks."


def guardrail_not_found(missing: GuardrailNotFound) -> BedrockError:
    if missing.missing == "identifier":
        message = f"The guardrail {missing.identifier} was not found."
    else:
        message = f"Version {missing.version} of the guardrail {missing.identifier} was not found."
    return BedrockError("ResourceNotFoundException", message)


def handle(emulator: Emulator, operation: str, params: dict[str, Any]) -> Exchange:
    fault = emulator.faults.draw("admission", "", operation) if len(emulator.faults) else None
    if fault is not None:
        raise BedrockError(fault.code, fault.message)
    if operation == "ApplyGuardrail":
        body, latency_s = _apply(emulator, params)
        named = params["guardrailIdentifier"]
    else:
        if not any(params["checks"].get(k) for k in ("contentFilter", "promptAttack", "sensitiveInformation")):
            raise validation(NO_CHECKS)
        body, latency_s = run_checks(params["messages"], params["checks"])
        named = ""
    # A guardrail call is an attempt like any other: one ledger record, outcome "ok", no tokens.
    record = emulator.engine.record_refusal(operation, named, "ok")
    record.latency_s = latency_s
    response = json_response(record.request_id, body, at=emulator.clock.now + latency_s)
    return Exchange(None, lambda: response)


def _apply(emulator: Emulator, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
    identifier, version = params["guardrailIdentifier"], params["guardrailVersion"]
    if not identifier:
        raise validation(EMPTY_IDENTIFIER)
    if not version:
        raise validation(EMPTY_VERSION)
    try:
        guardrail = resolve(emulator.config.guardrails, identifier, version)
    except GuardrailNotFound as missing:
        raise guardrail_not_found(missing) from None
    blocks: list[TextBlock] = []
    images = 0
    for block in params["content"]:
        text = block.get("text")  # JSON null counts as absent, as in the union rule
        if text is not None:
            blocks.append(TextBlock(text["text"], is_guarded(text.get("qualifiers"))))
        else:
            images += 1
    full = params.get("outputScope") == "FULL"
    result = evaluate(guardrail, params["source"], blocks, full=full, images=images)
    body = {
        "usage": result.usage,
        "action": result.action,
        "actionReason": result.action_reason,
        "outputs": [{"text": text} for text in result.outputs],
        "assessments": [result.assessment],
        "guardrailCoverage": result.coverage,
    }
    return body, result.latency_s

"""InvokeGuardrailChecks: inline checks, no configured guardrail, scores instead of actions.

* ``contentFilter``: one severity score per requested category, the worst over every text block
  of every message (any role).
* ``promptAttack``: one severity score per requested category, over the ``user`` messages only:
  a system prompt is full of instructions and an answer cannot attack its own prompt.
* ``sensitiveInformation``: one entry per entity found, with its message and content-block
  index and character offsets (``endOffset`` exclusive, as in a Python slice).

Usage is the text units (started 1,000-character blocks) each check read. Scores come from the
keyword model in ``detectors``; PII types it cannot detect (NAME, ADDRESS, ...) never match.
"""

from __future__ import annotations

from typing import Any

from emulator.guardrails.detectors import find_pii, score
from emulator.guardrails.evaluate import text_units

# Beyond this many entities the result is cut and ``truncated`` set (the service has a limit too).
MAX_ENTITIES = 100
_BASE_LATENCY_S = 0.035
_LATENCY_PER_UNIT_S = 0.01


def _distinct(items: list[dict[str, Any]], key: str) -> list[str]:
    """The requested categories (or entity types), once each, in the order first asked for."""
    return list(dict.fromkeys(item[key] for item in items))


def run_checks(messages: list[dict[str, Any]], checks: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """The response body of InvokeGuardrailChecks and the time the checks took."""
    blocks = [
        (m_index, c_index, message["role"], block["text"])
        for m_index, message in enumerate(messages)
        for c_index, block in enumerate(message["content"])
        if block.get("text") is not None
    ]
    results: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    if checks.get("contentFilter"):
        texts = [text for *_, text in blocks]
        categories = _distinct(checks["contentFilter"]["categories"], "category")
        results["contentFilter"] = {"results": _scores(texts, categories)}
        usage["contentFilter"] = {"textUnits": text_units(texts)}
    if checks.get("promptAttack"):
        texts = [text for _, _, role, text in blocks if role == "user"]
        categories = _distinct(checks["promptAttack"]["categories"], "category")
        results["promptAttack"] = {"results": _scores(texts, categories)}
        usage["promptAttack"] = {"textUnits": text_units(texts)}
    if checks.get("sensitiveInformation"):
        types = _distinct(checks["sensitiveInformation"]["entities"], "type")
        found = [
            {
                "type": span.kind,
                "confidenceScore": span.score,
                "beginOffset": span.start,
                "endOffset": span.end,
                "messageIndex": m_index,
                "contentIndex": c_index,
            }
            for m_index, c_index, _, text in blocks
            for span in find_pii(text, types)
        ]
        truncated = len(found) > MAX_ENTITIES
        results["sensitiveInformation"] = {"results": found[:MAX_ENTITIES], "truncated": truncated}
        usage["sensitiveInformation"] = {"textUnits": text_units([text for *_, text in blocks])}
    units = sum(entry["textUnits"] for entry in usage.values())
    return {"results": results, "usage": usage}, round(_BASE_LATENCY_S + _LATENCY_PER_UNIT_S * units, 3)


def _scores(texts: list[str], categories: list[str]) -> list[dict[str, Any]]:
    return [
        {"category": category, "severityScore": max((score(t, category) for t in texts), default=0.0)}
        for category in categories
    ]

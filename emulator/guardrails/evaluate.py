"""Applying one configured guardrail to some text: the assessment ApplyGuardrail and Converse report.

``evaluate`` runs every policy the guardrail has over the guarded text blocks and returns what
the service would: the action, the texts to hand back (the blocked message, or the text with
anonymized matches replaced by ``{TYPE}`` / ``{regex name}``), the assessment in the service
model's ``GuardrailAssessment`` shape, and the usage in text units (one unit per started 1,000
characters of each guarded block, counted once per kind of policy that ran).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.guardrails.detectors import (
    PROMPT_ATTACK_CATEGORIES,
    Span,
    blocks_at,
    confidence,
    find_pii,
    find_profanity,
    find_regex,
    phrase_pattern,
    score,
)
from emulator.guardrails.policy import ContentPolicy, GuardrailConfig, SensitiveInformationPolicy, WordPolicy

Source = Literal["INPUT", "OUTPUT"]

# Guardrail ARNs need a region and an account the emulator does not know: these stand in.
ARN_REGION = "us-east-1"
ARN_ACCOUNT = "123456789012"
_ARN_PREFIX = "arn:aws"
# What the assessment says about an action taken (config says BLOCK, the service says BLOCKED).
_TAKEN = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "NONE": "NONE"}
# Seen in ApplyGuardrail responses ("Guardrail blocked."); the other two follow its pattern.
REASON_BLOCKED = "Guardrail blocked."
REASON_MASKED = "Guardrail masked."
REASON_NONE = "No action."
# Processing time: a fixed cost plus a little per text unit each policy reads.
_BASE_LATENCY_S = 0.045
_LATENCY_PER_UNIT_S = 0.012


@dataclass(frozen=True)
class Guardrail:
    guardrail_id: str
    version: str
    arn: str
    config: GuardrailConfig


class GuardrailNotFound(Exception):
    """No such guardrail (``missing == "identifier"``) or no such version of it."""

    def __init__(self, missing: Literal["identifier", "version"], identifier: str, version: str) -> None:
        self.missing = missing
        self.identifier = identifier
        self.version = version
        super().__init__(f"{missing}: {identifier} {version}")


def guardrail_id(identifier: str) -> str:
    """The id in a guardrail identifier, which is the id itself or the guardrail's ARN."""
    if identifier.startswith(_ARN_PREFIX) and ":guardrail/" in identifier:
        return identifier.rsplit("/", 1)[-1]
    return identifier


def resolve(guardrails: Mapping[str, GuardrailConfig], identifier: str, version: str) -> Guardrail:
    gid = guardrail_id(identifier)
    config = guardrails.get(gid) if gid else None
    if config is None:
        raise GuardrailNotFound("identifier", identifier, version)
    if version not in config.versions:
        raise GuardrailNotFound("version", identifier, version)
    arn = identifier if identifier != gid else f"arn:aws:bedrock:{ARN_REGION}:{ARN_ACCOUNT}:guardrail/{gid}"
    return Guardrail(gid, version, arn, config)


# Qualifiers that mark text for contextual grounding rather than for the other policies.
_GROUNDING_ONLY = frozenset({"grounding_source", "query"})


def is_guarded(qualifiers: list[str] | None) -> bool:
    """Text qualified only as a grounding source or query is not checked by the other policies."""
    return not qualifiers or not set(qualifiers) <= _GROUNDING_ONLY


def text_units(texts: list[str]) -> int:
    return sum(math.ceil(len(t) / 1000) for t in texts)


@dataclass
class TextBlock:
    text: str
    guarded: bool = True  # False: carried along but not checked (e.g. a grounding source)


@dataclass
class Evaluation:
    source: Source
    blocked: bool
    masked: bool
    outputs: list[str]
    assessment: dict[str, Any]
    usage: dict[str, int]
    coverage: dict[str, Any]
    latency_s: float

    @property
    def intervened(self) -> bool:
        return self.blocked or self.masked

    @property
    def action(self) -> str:
        return "GUARDRAIL_INTERVENED" if self.intervened else "NONE"

    @property
    def action_reason(self) -> str:
        return REASON_BLOCKED if self.blocked else REASON_MASKED if self.masked else REASON_NONE


@dataclass
class _Run:
    """What the policies found so far in one evaluation."""

    texts: list[str]
    full: bool
    blocked: bool = False
    masks: dict[int, list[tuple[Span, str]]] = field(default_factory=dict)

    def mask(self, index: int, span: Span, placeholder: str) -> None:
        self.masks.setdefault(index, []).append((span, placeholder))


def evaluate(
    guardrail: Guardrail, source: Source, blocks: list[TextBlock], *, full: bool = False, images: int = 0
) -> Evaluation:
    """Run ``guardrail`` over ``blocks``. ``full`` also lists what was checked and not found
    (outputScope FULL, trace enabled_full): PII types and content filters, not words or regexes."""
    config = guardrail.config
    run = _Run([b.text for b in blocks if b.guarded], full)
    units = text_units(run.texts)
    assessment: dict[str, Any] = {}
    usage = {
        "topicPolicyUnits": 0,
        "contentPolicyUnits": 0,
        "wordPolicyUnits": 0,
        "sensitiveInformationPolicyUnits": 0,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
        "contentPolicyImageUnits": 0,
    }
    if config.word_policy and (config.word_policy.words or config.word_policy.managed_word_lists):
        usage["wordPolicyUnits"] = units
        _words(run, config.word_policy, assessment)
    if config.sensitive_information_policy:
        policy = config.sensitive_information_policy
        # Regex filters are free of charge on AWS; PII detection is billed.
        usage["sensitiveInformationPolicyUnits"] = units if policy.pii_entities else 0
        usage["sensitiveInformationPolicyFreeUnits"] = units if policy.regexes else 0
        _sensitive(run, policy, assessment)
    if config.content_policy and config.content_policy.filters:
        usage["contentPolicyUnits"] = units
        _content(run, config.content_policy, source, assessment)

    masked = bool(run.masks) and not run.blocked
    if run.blocked:
        message = config.blocked_input_messaging if source == "INPUT" else config.blocked_outputs_messaging
        outputs = [message]
    elif masked:
        outputs = [_apply_masks(text, run.masks.get(i, [])) for i, text in enumerate(run.texts)]
    else:
        outputs = []
    latency_s = round(_BASE_LATENCY_S + _LATENCY_PER_UNIT_S * sum(usage.values()), 3)
    coverage: dict[str, Any] = {
        "textCharacters": {"guarded": sum(len(t) for t in run.texts), "total": sum(len(b.text) for b in blocks)}
    }
    if images:
        coverage["images"] = {"guarded": 0, "total": images}
    assessment["invocationMetrics"] = {
        "guardrailProcessingLatency": round(latency_s * 1000),
        "usage": usage,
        "guardrailCoverage": coverage,
    }
    assessment["appliedGuardrailDetails"] = {
        "guardrailId": guardrail.guardrail_id,
        "guardrailVersion": guardrail.version,
        "guardrailArn": guardrail.arn,
        "guardrailOrigin": ["REQUEST"],
        "guardrailOwnership": "SELF",
    }
    return Evaluation(source, run.blocked, masked, outputs, assessment, usage, coverage, latency_s)


def _words(run: _Run, policy: WordPolicy, assessment: dict[str, Any]) -> None:
    action = _TAKEN[policy.action]
    custom: list[dict[str, Any]] = []
    seen: set[str] = set()
    for word in policy.words:
        key = " ".join(word.lower().split())
        if key not in seen and any(phrase_pattern(word).search(t) for t in run.texts):
            seen.add(key)
            custom.append({"match": word, "action": action, "detected": True})
    managed: list[dict[str, Any]] = []
    if "PROFANITY" in policy.managed_word_lists:
        found: set[str] = set()
        for text in run.texts:
            for span in find_profanity(text):
                if span.match.lower() not in found:
                    found.add(span.match.lower())
                    managed.append({"match": span.match, "type": "PROFANITY", "action": action, "detected": True})
    if custom or managed:
        assessment["wordPolicy"] = {"customWords": custom, "managedWordLists": managed}
        run.blocked = run.blocked or action == "BLOCKED"


def _sensitive(run: _Run, policy: SensitiveInformationPolicy, assessment: dict[str, Any]) -> None:
    actions = {entity.type: entity.action for entity in policy.pii_entities}
    pii: list[dict[str, Any]] = []
    for index, text in enumerate(run.texts):
        for span in find_pii(text, actions):
            pii.append(_note(run, index, span, actions[span.kind], f"{{{span.kind}}}", type=span.kind))
    if run.full:
        found = {entry["type"] for entry in pii}
        pii += [{"match": "", "type": t, "action": "NONE", "detected": False} for t in actions if t not in found]
    regexes: list[dict[str, Any]] = []
    for rule in policy.regexes:
        for index, text in enumerate(run.texts):
            for span in find_regex(text, rule.name, rule.pattern):
                entry = _note(run, index, span, rule.action, f"{{{rule.name}}}", name=rule.name, regex=rule.pattern)
                regexes.append(entry)
    if pii or regexes:
        assessment["sensitiveInformationPolicy"] = {"piiEntities": pii, "regexes": regexes}


def _note(run: _Run, index: int, span: Span, action: str, placeholder: str, **entry: Any) -> dict[str, Any]:
    """Record what an action does to the run, and the assessment entry that reports it."""
    if action == "BLOCK":
        run.blocked = True
    elif action == "ANONYMIZE":
        run.mask(index, span, placeholder)
    return {**entry, "match": span.match, "action": _TAKEN[action], "detected": True}


def _content(run: _Run, policy: ContentPolicy, source: Source, assessment: dict[str, Any]) -> None:
    filters: list[dict[str, Any]] = []
    for rule in policy.filters:
        if rule.type == "PROMPT_ATTACK" and source == "OUTPUT":
            continue  # prompt attacks are a property of what users send, never of answers
        strength = rule.input_strength if source == "INPUT" else rule.output_strength
        categories = PROMPT_ATTACK_CATEGORIES if rule.type == "PROMPT_ATTACK" else (rule.type,)
        worst = max((score(t, c) for t in run.texts for c in categories), default=0.0)
        found = confidence(worst)
        hit = blocks_at(strength, found)
        run.blocked = run.blocked or hit
        if hit or run.full:
            filters.append({
                "type": rule.type,
                "confidence": found,
                "filterStrength": strength,
                "action": "BLOCKED" if hit else "NONE",
                "detected": hit,
            })
    if filters:
        assessment["contentPolicy"] = {"filters": filters}


def _apply_masks(text: str, masks: list[tuple[Span, str]]) -> str:
    """Replace each masked span by its placeholder; where two overlap, the earlier one wins."""
    kept: list[tuple[Span, str]] = []
    for span, placeholder in sorted(masks, key=lambda m: (m[0].start, -m[0].end)):
        if not kept or span.start >= kept[-1][0].end:
            kept.append((span, placeholder))
    for span, placeholder in reversed(kept):
        text = text[: span.start] + placeholder + text[span.end :]
    return text

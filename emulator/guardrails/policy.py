"""How a guardrail is configured: the ``guardrails:`` section of the emulator's config.

The shape follows the control plane's ``CreateGuardrail`` (word policy, sensitive-information
policy with PII entities and regexes, content policy), in the config file's snake_case::

    guardrails:
      abc123def456:                      # the guardrail id, as ``[a-z0-9]+``
        versions: [DRAFT, "1"]           # the versions that exist; all share these policies
        blocked_input_messaging: Sorry, the model cannot answer this question.
        word_policy:
          words: [acme secret, codename]
          managed_word_lists: [PROFANITY]
        sensitive_information_policy:
          pii_entities:
            - {type: EMAIL, action: ANONYMIZE}
            - {type: US_SOCIAL_SECURITY_NUMBER, action: BLOCK}
          regexes:
            - {name: order-id, pattern: "ORD-[0-9]{6}", action: ANONYMIZE}
        content_policy:
          filters:
            - {type: VIOLENCE, input_strength: HIGH, output_strength: MEDIUM}
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emulator.guardrails.detectors import PII_TYPES

# The console's default text for both messages when a guardrail is created.
DEFAULT_BLOCKED_MESSAGING = "Sorry, the model cannot answer this question."
VERSION_PATTERN = re.compile(r"DRAFT|[1-9][0-9]{0,7}")
ID_PATTERN = r"^[a-z0-9]+$"

Strength = Literal["NONE", "LOW", "MEDIUM", "HIGH"]
ContentFilterType = Literal["HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"]
SensitiveAction = Literal["BLOCK", "ANONYMIZE", "NONE"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class WordPolicy(_Strict):
    words: list[str] = Field(
        default_factory=list, description="Words or phrases to block, matched case-insensitively as whole words."
    )
    managed_word_lists: list[Literal["PROFANITY"]] = Field(
        default_factory=list, description="AWS-managed lists; PROFANITY is the only one."
    )
    action: Literal["BLOCK", "NONE"] = Field("BLOCK", description="NONE detects without intervening.")

    @field_validator("words")
    @classmethod
    def _words_not_blank(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("a word or phrase must not be blank")
        return words


class PiiEntity(_Strict):
    type: str = Field(description=f"One of {', '.join(PII_TYPES)}.")
    action: SensitiveAction = Field("BLOCK", description="ANONYMIZE replaces a match with {TYPE}.")

    @field_validator("type")
    @classmethod
    def _detectable(cls, value: str) -> str:
        # Refused rather than accepted and never matched: a silent gap would look like a pass.
        if value not in PII_TYPES:
            raise ValueError(f"PII type {value!r} is not detected by the emulator; supported: {', '.join(PII_TYPES)}")
        return value


class RegexFilter(_Strict):
    name: str = Field(min_length=1, max_length=100)
    pattern: str = Field(min_length=1, description="A Python regular expression.")
    description: str | None = None
    action: SensitiveAction = Field("BLOCK", description="ANONYMIZE replaces a match with {name}.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"invalid regular expression: {error}") from None
        return pattern


class SensitiveInformationPolicy(_Strict):
    pii_entities: list[PiiEntity] = Field(default_factory=list)
    regexes: list[RegexFilter] = Field(default_factory=list)


class ContentFilter(_Strict):
    type: ContentFilterType
    input_strength: Strength = "HIGH"
    output_strength: Strength = "HIGH"


class ContentPolicy(_Strict):
    filters: list[ContentFilter] = Field(default_factory=list)


class GuardrailConfig(_Strict):
    """One guardrail: its versions, its policies and what a caller is told when it blocks."""

    versions: list[str] = Field(default_factory=lambda: ["DRAFT"], description="DRAFT and/or numbered versions.")
    blocked_input_messaging: str = Field(DEFAULT_BLOCKED_MESSAGING, min_length=1, max_length=500)
    blocked_outputs_messaging: str = Field(DEFAULT_BLOCKED_MESSAGING, min_length=1, max_length=500)
    word_policy: WordPolicy | None = None
    sensitive_information_policy: SensitiveInformationPolicy | None = None
    content_policy: ContentPolicy | None = None

    @field_validator("versions", mode="before")
    @classmethod
    def _versions(cls, value: Any) -> Any:
        # YAML reads `versions: 1` or `versions: [1, 2]` as integers; a version is a string.
        items = value if isinstance(value, list) else [value]
        out = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in items]
        for v in out:
            if not isinstance(v, str) or not VERSION_PATTERN.fullmatch(v):
                raise ValueError(f"version {v!r} must be DRAFT or a number from 1 to 99999999")
        if not out:
            raise ValueError("a guardrail needs at least one version")
        return out

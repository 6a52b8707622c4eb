"""Emulated Bedrock Guardrails: policies from the config, checked by deterministic detectors.

* ``policy``: the ``guardrails:`` config section (word, sensitive-information, content policies);
* ``detectors``: PII patterns, the profanity list, the keyword model for content and prompt attacks;
* ``evaluate``: one guardrail over some text -> action, outputs, assessment, usage;
* ``checks``: InvokeGuardrailChecks;
* ``converse``: the ``guardrailConfig`` hook of Converse and ConverseStream.
"""

from emulator.guardrails.evaluate import Evaluation, Guardrail, GuardrailNotFound, evaluate, resolve
from emulator.guardrails.policy import GuardrailConfig

__all__ = ["Evaluation", "Guardrail", "GuardrailConfig", "GuardrailNotFound", "evaluate", "resolve"]

"""The models the emulator serves: real Bedrock model ids with what drives their behaviour.

Size class decides timing (cold start, time to first token, decode speed); family decides the
InvokeModel body format. Limits come from the providers' model cards. Prices are left to the
config's default ($5 / $15 per 1M tokens, the brief's numbers) unless a config sets them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from emulator.config import EmulatorConfig, SizeClass


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    family: str  # anthropic | meta | amazon-nova | amazon-titan | mistral | cohere
    size_class: SizeClass
    max_output_tokens: int
    context_window: int
    input_per_million: float | None = None
    output_per_million: float | None = None


_BUILTIN = (
    ModelSpec("anthropic.claude-3-haiku-20240307-v1:0", "anthropic", "small", 4096, 200_000),
    ModelSpec("anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic", "small", 8192, 200_000),
    ModelSpec("anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic", "large", 8192, 200_000),
    ModelSpec("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic", "large", 8192, 200_000),
    ModelSpec("anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic", "large", 64_000, 200_000),
    ModelSpec("anthropic.claude-sonnet-4-20250514-v1:0", "anthropic", "large", 64_000, 200_000),
    ModelSpec("anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic", "small", 64_000, 200_000),
    ModelSpec("meta.llama3-1-8b-instruct-v1:0", "meta", "small", 2048, 128_000),
    ModelSpec("meta.llama3-1-70b-instruct-v1:0", "meta", "medium", 2048, 128_000),
    ModelSpec("meta.llama3-3-70b-instruct-v1:0", "meta", "medium", 2048, 128_000),
    ModelSpec("amazon.nova-micro-v1:0", "amazon-nova", "small", 5120, 128_000),
    ModelSpec("amazon.nova-lite-v1:0", "amazon-nova", "small", 5120, 300_000),
    ModelSpec("amazon.nova-pro-v1:0", "amazon-nova", "medium", 5120, 300_000),
    ModelSpec("mistral.mistral-large-2407-v1:0", "mistral", "large", 8192, 128_000),
)

# Cross-region inference profiles put a geography in front of the model id.
_GEO_PREFIX = re.compile(r"^(us|eu|apac|us-gov|global)\.")


class Catalog:
    def __init__(self, config: EmulatorConfig) -> None:
        self._models = {spec.model_id: spec for spec in _BUILTIN}
        for model_id, override in config.models.items():
            changes = override.model_dump(exclude_none=True)
            if model_id in self._models:
                self._models[model_id] = replace(self._models[model_id], **changes)
            else:
                changes.setdefault("family", "anthropic")
                changes.setdefault("size_class", "medium")
                changes.setdefault("max_output_tokens", 4096)
                changes.setdefault("context_window", 128_000)
                self._models[model_id] = ModelSpec(model_id=model_id, **changes)

    def resolve(self, model_id: str) -> ModelSpec | None:
        """The model a request names, by bare id or inference-profile id; None if unknown."""
        spec = self._models.get(model_id)
        if spec is None:
            spec = self._models.get(_GEO_PREFIX.sub("", model_id, count=1))
        return spec

    def __iter__(self):
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

"""The models the emulator serves: real Bedrock model ids with what drives their behaviour.

Size class decides timing (cold start, time to first token, decode speed); family decides the
InvokeModel body format. Limits come from the providers' model cards. Prices are left to the
config's default ($5 / $15 per 1M tokens, the brief's numbers) unless a config sets them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from emulator import identifiers
from emulator.config import EmulatorConfig, SizeClass
from emulator.wire.errors import INVALID_MODEL, validation


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    family: str  # anthropic | meta | amazon-nova | amazon-titan | mistral | cohere
    size_class: SizeClass
    max_output_tokens: int
    context_window: int
    input_per_million: float | None = None
    output_per_million: float | None = None
    # The InvokeModel body format when a family has more than one (``mistral-chat``,
    # ``titan-embed``, ``cohere-embed``); empty means the family's own.
    body_format: str = ""
    # Vector size of an embedding model (its default, where the caller may choose); 0 for text.
    dimensions: int = 0
    # Served only through an inference profile: the bare id gets the on-demand ValidationException.
    profile_only: bool = False
    # Published on-demand list prices (USD per 1M tokens), used when ``pricing.use_list_prices``.
    list_input_per_million: float | None = None
    list_output_per_million: float | None = None
    # Default cross-region quotas (AWS quota table as of 2025-06-05) and the quota cost of an
    # output token (5 for Claude 3.7 / 4-class models).
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    output_burndown: int = 1
    # Whether the model takes tools (Converse's toolConfig, native tool fields). A model added by
    # config is assumed to; the built-in ones follow _NO_TOOL_USE.
    tool_use: bool = True

    @property
    def embedding(self) -> bool:
        return self.dimensions > 0


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
    # Titan Text: output caps from the model card (Lite 4K, Express 8K, Premier 3K of a 32K window).
    ModelSpec("amazon.titan-text-lite-v1", "amazon-titan", "small", 4096, 4096),
    ModelSpec("amazon.titan-text-express-v1", "amazon-titan", "small", 8192, 8192),
    ModelSpec("amazon.titan-text-premier-v1:0", "amazon-titan", "medium", 3072, 32_000),
    ModelSpec("mistral.mistral-7b-instruct-v0:2", "mistral", "small", 8192, 32_000),
    ModelSpec("mistral.mixtral-8x7b-instruct-v0:1", "mistral", "medium", 4096, 32_000),
    ModelSpec("mistral.mistral-large-2402-v1:0", "mistral", "large", 8192, 32_000),
    ModelSpec("mistral.mistral-large-2407-v1:0", "mistral", "large", 8192, 128_000, body_format="mistral-chat"),
    ModelSpec("cohere.command-r-v1:0", "cohere", "medium", 4000, 128_000),
    ModelSpec("cohere.command-r-plus-v1:0", "cohere", "large", 4000, 128_000),
    # Embedding models: no output tokens; the window is the per-text input limit.
    ModelSpec("amazon.titan-embed-text-v2:0", "amazon-titan", "small", 0, 8192,
              body_format="titan-embed", dimensions=1024),
    ModelSpec("cohere.embed-english-v3", "cohere", "small", 0, 512, body_format="cohere-embed", dimensions=1024),
    ModelSpec("cohere.embed-multilingual-v3", "cohere", "small", 0, 512,
              body_format="cohere-embed", dimensions=1024),
)

# Published list prices, USD per 1M input / output tokens (on-demand, US regions; sources in the
# project's latency notes: Roo-Code's table of 2025-03, fmbench pricing.yml, Kilo Code for 4.5).
_LIST_PRICES = {
    "anthropic.claude-3-haiku-20240307-v1:0": (0.25, 1.25),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.80, 4.00),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": (3.00, 15.00),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (3.00, 15.00),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": (3.00, 15.00),
    "anthropic.claude-sonnet-4-20250514-v1:0": (3.00, 15.00),
    "anthropic.claude-haiku-4-5-20251001-v1:0": (1.00, 5.00),
    "meta.llama3-1-8b-instruct-v1:0": (0.22, 0.22),
    "meta.llama3-1-70b-instruct-v1:0": (0.72, 0.72),
    "meta.llama3-3-70b-instruct-v1:0": (0.72, 0.72),
    "amazon.nova-micro-v1:0": (0.035, 0.14),
    "amazon.nova-lite-v1:0": (0.06, 0.24),
    "amazon.nova-pro-v1:0": (0.80, 3.20),
    "amazon.titan-text-lite-v1": (0.15, 0.20),
    "amazon.titan-text-express-v1": (0.20, 0.60),
    "amazon.titan-text-premier-v1:0": (0.50, 1.50),
    "mistral.mistral-7b-instruct-v0:2": (0.15, 0.20),
    "mistral.mixtral-8x7b-instruct-v0:1": (0.45, 0.70),
    "mistral.mistral-large-2402-v1:0": (4.00, 12.00),
    "mistral.mistral-large-2407-v1:0": (2.00, 6.00),
    "cohere.command-r-v1:0": (0.50, 1.50),
    "cohere.command-r-plus-v1:0": (3.00, 15.00),
    "amazon.titan-embed-text-v2:0": (0.02, 0.0),
}
# Default cross-region requests and tokens per minute (AWS quota table, us-east-1, 2025-06-05).
_QUOTAS = {
    "anthropic.claude-3-haiku-20240307-v1:0": (2000, 4_000_000),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (2000, 4_000_000),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": (500, 4_000_000),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (500, 4_000_000),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": (250, 1_000_000),
    "anthropic.claude-sonnet-4-20250514-v1:0": (200, 200_000),
    "amazon.nova-micro-v1:0": (2000, 4_000_000),
    "amazon.nova-lite-v1:0": (2000, 4_000_000),
    "amazon.nova-pro-v1:0": (200, 800_000),
    "meta.llama3-1-8b-instruct-v1:0": (1600, 600_000),
    "meta.llama3-1-70b-instruct-v1:0": (800, 600_000),
    "meta.llama3-3-70b-instruct-v1:0": (800, 600_000),
}
# Served only through cross-region inference profiles (newer Claude and Llama models).
_PROFILE_ONLY = frozenset({
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "meta.llama3-3-70b-instruct-v1:0",
})
# Claude 3.7 / 4-class output tokens burn 5 quota tokens each (AWS quotas page, "token burndown").
_BURNDOWN_5 = frozenset({
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
})

# Models without tool use (AWS's "Supported models and model features" table for Converse): Titan
# Text, Mistral 7B and Mixtral 8x7B, and the embedding models. Claude 3+, Nova, Llama 3.1+/3.3,
# Mistral Large (2402, 2407) and Command R / R+ take tools.
_NO_TOOL_USE = frozenset({
    "amazon.titan-text-lite-v1",
    "amazon.titan-text-express-v1",
    "amazon.titan-text-premier-v1:0",
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "amazon.titan-embed-text-v2:0",
    "cohere.embed-english-v3",
    "cohere.embed-multilingual-v3",
})


def _with_facts(spec: ModelSpec) -> ModelSpec:
    price_in, price_out = _LIST_PRICES.get(spec.model_id, (None, None))
    rpm, tpm = _QUOTAS.get(spec.model_id, (None, None))
    return replace(
        spec,
        list_input_per_million=price_in,
        list_output_per_million=price_out,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        profile_only=spec.model_id in _PROFILE_ONLY,
        output_burndown=5 if spec.model_id in _BURNDOWN_5 else 1,
        tool_use=spec.model_id not in _NO_TOOL_USE,
    )


def on_demand_unsupported(model_id: str) -> str:
    # The wording clients report (note the typographic apostrophe in "isn’t").
    return (
        f"Invocation of model ID {model_id} with on-demand throughput isn\u2019t supported. Retry your "
        "request with the ID or ARN of an inference profile that contains this model."
    )


class Catalog:
    def __init__(self, config: EmulatorConfig) -> None:
        self._models = {spec.model_id: _with_facts(spec) for spec in _BUILTIN}
        self._aliases = dict(config.aliases)
        for model_id, override in config.models.items():
            changes = override.model_dump(exclude_none=True)
            if model_id in self._models:
                self._models[model_id] = replace(self._models[model_id], **changes)
            else:
                # A misspelt id must not quietly become a new model: a new one names what it is.
                missing = [key for key in ("family", "size_class") if key not in changes]
                if missing:
                    raise ValueError(
                        f"models: {model_id!r} is not in the catalogue (see `bedrock-chaos models`); "
                        f"to add it, give its {' and '.join(missing)}"
                    )
                changes.setdefault("max_output_tokens", 4096)
                changes.setdefault("context_window", 128_000)
                self._models[model_id] = ModelSpec(model_id=model_id, **changes)
        self._check(config)

    def _check(self, config: EmulatorConfig) -> None:
        """Config mistakes fail at load, not on the first call that meets them."""
        from emulator.codecs import FAMILY_CODECS  # the codecs import this module

        for spec in self._models.values():
            if (spec.body_format or spec.family) not in FAMILY_CODECS:
                raise ValueError(
                    f"models: {spec.model_id!r} has family {spec.family!r}; "
                    f"known families: {', '.join(sorted(FAMILY_CODECS))}"
                )
        for alias, target in config.aliases.items():
            if self.resolve(target) is None:
                raise ValueError(f"aliases: {alias!r} points at {target!r}, which is not a catalogue model")

    def resolve(self, model_id: str) -> ModelSpec | None:
        """The model any accepted identifier names (id, profile id, ARN, alias); None if unknown."""
        found = identifiers.parse(model_id, self._aliases)
        return self._models.get(found.model_id) if found.model_id else None

    def require(self, model_id: str) -> ModelSpec:
        """The model to invoke, or the ValidationException the service gives for this identifier.

        Neither error is retried by the SDKs: both are ValidationException (HTTP 400).
        """
        found = identifiers.parse(model_id, self._aliases)
        spec = self._models.get(found.model_id) if found.model_id else None
        if spec is None:
            raise validation(INVALID_MODEL)
        if spec.profile_only and not found.via_profile:
            raise validation(on_demand_unsupported(model_id))
        return spec

    def __iter__(self):
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

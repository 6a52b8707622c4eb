"""The emulator's configuration: one YAML file, validated by pydantic, every knob settable from Python.

``EmulatorConfig()`` is the embedded default profile (``profiles/default.yaml``); a user's file is
merged over it, so it only names what it changes. ``EmulatorConfig.model_json_schema()`` is the
published schema (``bedrock-chaos schema`` prints it).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, StringConstraints

from emulator.guardrails.policy import ID_PATTERN, GuardrailConfig

SizeClass = Literal["small", "medium", "large"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AccountConfig(_Strict):
    requests_per_second: PositiveFloat = Field(description="Account-level cap on requests per second.")
    burst: PositiveFloat = Field(description="Token-bucket depth, in requests.")


class PricingConfig(_Strict):
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    use_list_prices: bool = Field(
        default=False, description="Bill each catalogue model at its published list price instead of the flat default."
    )


class FleetConfig(_Strict):
    keep_alive_s: PositiveFloat
    container_concurrency: PositiveInt
    max_containers: PositiveInt


class FrontDoorConfig(_Strict):
    error_latency_s: float = Field(ge=0)
    count_tokens_latency_s: float = Field(ge=0)
    retry_after_ms: int | None = Field(
        default=None, ge=0, description="Send x-amz-retry-after on throttles (the real service does not)."
    )
    stream_padding: bool = Field(
        default=True, description="Add the random-length 'p' field real Bedrock puts on ConverseStream events."
    )


class LatencyClass(_Strict):
    """Timing of one model size class (latency.md section 6.2)."""

    ttft_base_s: PositiveFloat
    ttft_sigma: float = Field(ge=0)
    prefill_ms_per_token: float = Field(ge=0)
    decode_tokens_per_s: PositiveFloat
    decode_sigma: float = Field(ge=0)
    fleet_alpha: float = Field(ge=0)
    cold_start_median_s: float = Field(ge=0)
    cold_start_sigma: float = Field(ge=0)


class OutputConfig(_Strict):
    median_tokens: PositiveFloat
    length_sigma: float = Field(ge=0)


class ModelOverride(_Strict):
    """Adds a model to the catalogue, or changes one that is there."""

    family: str | None = None
    size_class: SizeClass | None = None
    max_output_tokens: PositiveInt | None = None
    context_window: PositiveInt | None = None
    input_per_million: float | None = Field(default=None, ge=0)
    output_per_million: float | None = Field(default=None, ge=0)
    profile_only: bool | None = Field(default=None, description="Served only through an inference profile.")
    requests_per_minute: PositiveInt | None = None
    tokens_per_minute: PositiveInt | None = None
    output_burndown: PositiveInt | None = Field(default=None, description="Quota tokens one output token costs.")


class AsyncInvokeConfig(_Strict):
    """Where StartAsyncInvoke jobs write their output, and how quickly the async API answers.

    ``output`` picks the sink once per job, at StartAsyncInvoke:

    * ``auto`` (default): S3 at ``s3_endpoint_url`` if one is set; else moto's S3 while moto's
      in-process ``mock_aws`` is active; else the local directory. It never reaches AWS's own S3,
      so a plain ``bedrock-chaos serve`` writes only under ``local_root``;
    * ``local``: always the local directory, ``s3://bucket/prefix`` -> ``<local_root>/bucket/prefix``;
    * ``s3``: boto3 S3 at ``s3_endpoint_url``, or, when none is set, AWS's own S3 with the default
      credential chain: the one setting that can write to real S3, so it must be chosen explicitly.
    """

    output: Literal["auto", "local", "s3"] = "auto"
    # None: <system temp dir>/bedrock-chaos/async-invoke, never the working directory (a repo, say).
    local_root: str | None = None
    s3_endpoint_url: str | None = Field(default=None, description="e.g. a moto server or LocalStack")
    api_latency_s: float = Field(
        default=0.05, ge=0, description="How long Start/Get/ListAsyncInvoke take to answer."
    )


class EmulatorConfig(_Strict):
    seed: int = 0
    account: AccountConfig
    pricing: PricingConfig
    fleet: FleetConfig
    front_door: FrontDoorConfig
    size_classes: dict[SizeClass, LatencyClass]
    output: OutputConfig
    models: dict[str, ModelOverride] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Identifiers of account resources (application inference profile, imported, provisioned "
        "or custom-model ARNs, or their short ids) mapped to the model id or profile id that serves them.",
    )
    guardrails: dict[Annotated[str, StringConstraints(pattern=ID_PATTERN)], GuardrailConfig] = Field(
        default_factory=dict,
        description="Guardrails by id, for ApplyGuardrail and Converse's guardrailConfig; an id not "
        "named here is answered as AWS answers an unknown one.",
    )
    async_invoke: AsyncInvokeConfig = Field(default_factory=AsyncInvokeConfig)

    def __init__(self, **data: Any) -> None:
        super().__init__(**_merge(_default_profile(), data))

    @classmethod
    def from_yaml(cls, path: str | Path) -> EmulatorConfig:
        """Load a user's YAML file over the default profile."""
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the top level of a config file must be a mapping")
        return cls(**data)

    def replace(self, **changes: Any) -> EmulatorConfig:
        """A copy with nested changes merged in, e.g. ``replace(account={"burst": 10})``."""
        return EmulatorConfig(**_merge(self.model_dump(), changes))


@lru_cache(maxsize=1)
def _default_profile() -> dict[str, Any]:
    text = resources.files("emulator").joinpath("profiles/default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged

"""Config: the embedded profile, YAML files merged over it, validation that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from emulator.catalog import Catalog
from emulator.config import EmulatorConfig


def test_default_profile_carries_the_brief_numbers() -> None:
    config = EmulatorConfig()
    assert config.account.requests_per_second == 5000
    assert (config.pricing.input_per_million, config.pricing.output_per_million) == (5.0, 15.0)
    assert set(config.size_classes) == {"small", "medium", "large"}


def test_yaml_file_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "seed: 7\nfleet:\n  keep_alive_s: 60\nmodels:\n"
        "  acme.custom-model-v1:0:\n    family: meta\n    size_class: small\n    max_output_tokens: 100\n"
    )
    config = EmulatorConfig.from_yaml(path)
    assert config.seed == 7 and config.fleet.keep_alive_s == 60
    assert config.fleet.container_concurrency == EmulatorConfig().fleet.container_concurrency
    spec = Catalog(config).resolve("acme.custom-model-v1:0")
    assert spec is not None and spec.size_class == "small" and spec.max_output_tokens == 100


@pytest.mark.parametrize(
    "text, where",
    [
        ("account:\n  rps: 10\n", "account.rps"),
        ("fleet:\n  max_containers: 0\n", "fleet.max_containers"),
        ("size_classes:\n  huge: {}\n", "size_classes"),
        ("models:\n  x.y:\n    size_class: gigantic\n", "size_class"),
    ],
)
def test_invalid_yaml_names_the_bad_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError) as raised:
        EmulatorConfig.from_yaml(path)
    assert where in str(raised.value)


def test_a_list_at_the_top_level_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        EmulatorConfig.from_yaml(path)


def test_replace_merges_nested_changes() -> None:
    config = EmulatorConfig().replace(account={"burst": 10})
    assert config.account.burst == 10 and config.account.requests_per_second == 5000


def test_a_misspelt_model_id_is_an_error_not_a_new_model() -> None:
    config = EmulatorConfig(models={"meta.llama9-70b-instruct-v1:0": {"input_per_million": 1.0}})
    with pytest.raises(ValueError, match="not in the catalogue"):
        Catalog(config)


def test_catalogue_models_carry_list_prices_quotas_and_profile_rules() -> None:
    catalog = Catalog(EmulatorConfig())
    haiku = catalog.resolve("anthropic.claude-3-haiku-20240307-v1:0")
    sonnet4 = catalog.resolve("us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert haiku is not None and sonnet4 is not None
    assert (haiku.list_input_per_million, haiku.list_output_per_million) == (0.25, 1.25)
    assert (haiku.requests_per_minute, haiku.tokens_per_minute) == (2000, 4_000_000)
    assert not haiku.profile_only and haiku.output_burndown == 1
    assert sonnet4.profile_only and sonnet4.output_burndown == 5


def test_list_prices_are_billed_when_asked_for() -> None:
    import boto3

    from emulator import mock_bedrock

    messages = [{"role": "user", "content": [{"text": "price me"}]}]
    costs = []
    for use_list in (False, True):
        config = EmulatorConfig().replace(pricing={"use_list_prices": use_list})
        with mock_bedrock(config=config, seed=1) as bedrock:
            boto3.client("bedrock-runtime", region_name="us-east-1").converse(
                modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=messages)
            record = bedrock.ledger.records[-1]
            costs.append((record.cost_usd, record.input_tokens, record.output_tokens))
    (flat, i, o), (listed, i2, o2) = costs
    assert (i, o) == (i2, o2)
    assert flat == pytest.approx((i * 5 + o * 15) / 1e6)
    assert listed == pytest.approx((i * 0.25 + o * 1.25) / 1e6)


def test_the_commented_examples_in_the_default_profile_load(tmp_path: Path) -> None:
    # The profile documents optional sections as commented YAML: uncommented, they must be valid.
    from importlib import resources

    text = resources.files("emulator").joinpath("profiles/default.yaml").read_text()
    lines = text.splitlines()
    examples = []
    for i, line in enumerate(lines):
        if line.startswith("# ") and line[2:].rstrip().endswith(":") and not line[2].isspace() \
                and i + 1 < len(lines) and lines[i + 1].startswith("#   "):
            block = [line[2:]]
            for follow in lines[i + 1:]:
                if not follow.startswith("#   "):
                    break
                block.append(follow[2:])
            examples.append("\n".join(block))
    assert len(examples) >= 2
    for example in examples:
        path = tmp_path / "example.yaml"
        path.write_text(example + "\n")
        loaded = EmulatorConfig.from_yaml(path)
        Catalog(loaded)
        key = example.split(":", 1)[0]
        assert getattr(loaded, key)


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"models": {"acme.x-v1:0": {"family": "openai", "size_class": "small"}}}, "known families"),
        ({"aliases": {"arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefabcdef": "anthropic.nope"}},
         "not a catalogue model"),
    ],
)
def test_config_mistakes_fail_at_load(changes: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Catalog(EmulatorConfig(**changes))

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
        "  acme.custom-model-v1:0:\n    size_class: small\n    max_output_tokens: 100\n"
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

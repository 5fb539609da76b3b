"""Read `params.yaml` (pipeline parameters) and the model configs in `configs/`."""

from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A parameter or model config file is missing or malformed."""


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return values


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    values = params.get(name)
    if not isinstance(values, dict):
        raise ConfigError(f"params.yaml: missing section '{name}'")
    return values


def known_settings(cls: type, values: dict[str, Any], what: str) -> dict[str, Any]:
    """`values` if every key is a field of the dataclass `cls`; else one line naming the others."""
    unknown = sorted(set(values) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown {what} setting(s): {', '.join(unknown)}")
    return values

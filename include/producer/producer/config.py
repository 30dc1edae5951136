"""Brokers and topic: the command line wins, then KAFKA_BROKERS, then config/config.yaml (baked into the image)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"
DEFAULT_TOPIC = "tripclick_raw_logs"


class ConfigError(ValueError):
    """A setting that keeps the producer from starting; the message says what to fix."""


def load(path: str | None) -> dict[str, Any]:
    config_path = Path(path) if path else DEFAULT_CONFIG
    if not config_path.exists():
        if path:  # asked for by name: say so
            raise ConfigError(f"config file not found: {config_path}")
        return {}
    try:
        loaded = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {config_path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {config_path} must hold a mapping")
    return loaded


def brokers(cli: str | None, config: dict[str, Any]) -> str:
    listed: Any = cli or os.environ.get("KAFKA_BROKERS") or (config.get("kafka") or {}).get("brokers")
    if isinstance(listed, list):
        listed = ",".join(str(b) for b in listed)
    if not listed or not str(listed).strip():
        raise ConfigError("no Kafka brokers: pass --brokers, set KAFKA_BROKERS, or list kafka.brokers in the config")
    return ",".join(b.strip() for b in str(listed).split(",") if b.strip())


def topic(cli: str | None, config: dict[str, Any]) -> str:
    return cli or (config.get("kafka") or {}).get("topic") or DEFAULT_TOPIC


def kafka_options(config: dict[str, Any]) -> dict[str, Any]:
    """Extra librdkafka settings from `kafka.producer` in the config (e.g. security.protocol)."""
    extra = (config.get("kafka") or {}).get("producer") or {}
    if not isinstance(extra, dict):
        raise ConfigError("kafka.producer in the config must be a mapping of librdkafka settings")
    return extra

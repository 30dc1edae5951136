"""The `[filepool]` section of Airflow's config, read once; every option is also `AIRFLOW__FILEPOOL__KEY`."""

from __future__ import annotations

from dataclasses import dataclass

from filepool.get_provider_info import get_provider_info

_OPTIONS = get_provider_info()["config"]["filepool"]["options"]


def setting(key: str) -> str:
    """A text option of [filepool]."""
    default = str(_OPTIONS[key]["default"])
    try:
        from airflow.configuration import conf
    except ImportError:  # outside Airflow (the producer image, bare unit tests)
        return default
    return str(conf.get("filepool", key, fallback=default))


def _get_int(key: str) -> int:
    default = int(_OPTIONS[key]["default"])
    try:
        from airflow.configuration import conf
    except ImportError:  # outside Airflow (the producer image, bare unit tests)
        return default
    return conf.getint("filepool", key, fallback=default)


@dataclass(frozen=True)
class Settings:
    max_sessions_per_connection: int
    max_sessions_total: int
    lease_seconds: int
    claim_batch: int
    max_attempts: int
    retry_backoff_seconds: int
    multipart_threshold: int
    part_size: int
    progress_interval: float

    @classmethod
    def load(cls) -> Settings:
        mib = 1024 * 1024
        return cls(
            max_sessions_per_connection=_get_int("max_sessions_per_connection"),
            max_sessions_total=_get_int("max_sessions_total"),
            lease_seconds=_get_int("lease_seconds"),
            claim_batch=_get_int("claim_batch"),
            max_attempts=_get_int("max_attempts"),
            retry_backoff_seconds=_get_int("retry_backoff_seconds"),
            multipart_threshold=_get_int("multipart_threshold_mb") * mib,
            part_size=_get_int("part_size_mb") * mib,
            progress_interval=float(_get_int("progress_interval_seconds")),
        )

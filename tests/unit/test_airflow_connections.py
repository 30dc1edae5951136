"""Connections as users type them in Airflow's form: extras become flags and numbers, or a clear INVALID_CONFIG."""

from __future__ import annotations

import json

import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from filepool.airflow_connections import read_connection
from filepool.endpoints.ftp.session import FTPConfig
from filepool.exceptions import InvalidConfig


def _ftp(monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_FILEPOOL_FTP_FORM",
        json.dumps(
            {"conn_type": "ftp", "host": "ftp.example", "port": 2121, "login": "u", "password": "p", "extra": extra}
        ),
    )


def test_extras_typed_as_text_become_flags_and_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    _ftp(monkeypatch, tls="True", passive="false", timeout="12.5", max_logins="4")
    config = FTPConfig.from_airflow("filepool_ftp_form")
    assert config.max_logins == 4
    assert (config.host, config.port, config.tls, config.passive, config.verify, config.timeout) == (
        "ftp.example",
        2121,
        True,
        False,
        True,
        12.5,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tls": "maybe"}, "extra 'tls' must be true or false, got 'maybe'"),
        ({"timeout": "soon"}, "extra 'timeout' must be a number, got 'soon'"),
        ({"max_logins": "0"}, "extra 'max_logins' must be a whole number of at least 1, got '0'"),
        ({"max_logins": 2.5}, "extra 'max_logins' must be a whole number of at least 1, got 2.5"),
    ],
)
def test_an_extra_that_means_nothing_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], message: str
) -> None:
    _ftp(monkeypatch, **extra)
    with pytest.raises(InvalidConfig, match=f"connection 'filepool_ftp_form': {message}"):
        FTPConfig.from_airflow("filepool_ftp_form")


@pytest.mark.skipif(
    Version(airflow_version) < Version("3.2"),
    reason="Airflow 3.1 outside a task fails its own lookup (ImportError of SUPERVISOR_COMMS) before ours",
)
def test_an_unknown_connection_is_invalid_config() -> None:
    with pytest.raises(InvalidConfig, match="Airflow connection 'filepool_nowhere' is not defined"):
        read_connection("filepool_nowhere")

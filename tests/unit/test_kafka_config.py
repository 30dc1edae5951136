"""A Kafka connection's configuration as the apache-kafka provider completes it: Amazon MSK IAM's token callback,
and callbacks named in the extra when `[apache_kafka] callback_allowlist` lets them in (refused, with
INVALID_CONFIG, when it does not). The connection is handed in (no Airflow lookup); no broker is needed to build a
configuration."""

from __future__ import annotations

import time
from typing import Any

import pytest

from filepool.airflow_connections import Connection
from filepool.events import kafka
from filepool.exceptions import InvalidConfig

pytest.importorskip("confluent_kafka", reason="the kafka extra is not installed")
from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

COMPLETES = hasattr(KafkaBaseHook, "_build_config")  # provider 2.x; 1.x takes the extra as it is
MSK = "b-1.demo.abcde1.c2.kafka.eu-west-1.amazonaws.com:9098"


def token(config: str) -> tuple[str, float]:
    return "a-token", 0.0


def config_of(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]) -> dict[str, Any]:
    conn = Connection(conn_id="k", conn_type="kafka", host="", port=None, login=None, password=None, schema=None,
                      extra=extra)  # fmt: skip
    monkeypatch.setattr(kafka, "read_connection", lambda conn_id: conn)
    return kafka.kafka_config("k")


def test_an_msk_cluster_with_oauthbearer_gets_the_iam_token_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"bootstrap.servers": MSK, "security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}
    config = config_of(monkeypatch, extra)
    assert {k: config[k] for k in extra} == extra
    assert "oauth_cb" not in config_of(monkeypatch, {"bootstrap.servers": "broker:9092"})
    if not COMPLETES:
        assert "oauth_cb" not in config
        return
    # the token librdkafka will ask for: signed here from the AWS credentials in the environment (no network)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    signed, expires = config["oauth_cb"]("")
    assert len(signed) > 100 and expires > time.time()


def test_a_callback_named_in_the_extra_needs_the_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"bootstrap.servers": "broker:9092", "oauth_cb": f"{__name__}.token"}
    if not COMPLETES:
        assert config_of(monkeypatch, extra)["oauth_cb"] == f"{__name__}.token"  # 1.x passes the text on
        return
    monkeypatch.delenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", raising=False)
    with pytest.raises(InvalidConfig, match="callback_allowlist") as refused:
        config_of(monkeypatch, extra)
    assert refused.value.code == "INVALID_CONFIG"
    monkeypatch.setenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", f"{__name__}.token")
    assert config_of(monkeypatch, extra)["oauth_cb"] is token

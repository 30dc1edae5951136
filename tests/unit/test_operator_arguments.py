"""List arguments of the maintenance operators, as they arrive from templates rendered natively or not."""

from __future__ import annotations

import pytest

from filepool.exceptions import InvalidConfig
from filepool.operators.arguments import as_list


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        ("a, b", ["a", "b"]),
        ('[{"ftp_conn_id": "x", "path": "/in"}]', [{"ftp_conn_id": "x", "path": "/in"}]),
        ("", []),
        (None, []),
    ],
)
def test_lists_from_any_rendering(value: object, expected: list[object]) -> None:
    assert as_list("buckets", value) == expected


@pytest.mark.parametrize("value", ["[not json", 42])
def test_a_value_that_is_no_list_is_invalid_config(value: object) -> None:
    with pytest.raises(InvalidConfig) as caught:
        as_list("buckets", value)
    assert caught.value.code == "INVALID_CONFIG" and "buckets" in caught.value.message


def test_the_intakes_consumer_group_is_the_deployments_unless_the_dag_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two deployments sharing a broker must not share a consumer group: each sets [filepool] kafka_consumer_group."""
    from filepool.operators import KafkaTaskMessagesOperator
    from filepool.settings import Settings

    monkeypatch.setenv("AIRFLOW__FILEPOOL__KAFKA_CONSUMER_GROUP", "filepool-intake-prod")
    assert KafkaTaskMessagesOperator(task_id="i").intake_config(Settings.load()).group == "filepool-intake-prod"
    named = KafkaTaskMessagesOperator(task_id="i", group="mine")
    assert named.intake_config(Settings.load()).group == "mine"

"""The `routes` Param of filepool_sftp_to_minio planned into its mapped tasks: keys left out take the run's Params,
disabled routes are left out, and a list that makes no sense is refused with INVALID_CONFIG."""

from __future__ import annotations

from typing import Any

import pytest

from filepool.exceptions import InvalidConfig
from filepool.routes import plan_routes

PARAMS: dict[str, Any] = {
    "sftp_conn_id": "filepool_sftp",
    "source_path": "/data/outgoing",
    "pattern": "*",
    "recursive": True,
    "aws_conn_id": "filepool_minio",
    "bucket": "landing",
    "key_prefix": "",
    "workers": 2,
}


SELECTION = {"select_by": "auto", "backfill_select_by": "mtime", "partition": "{{ ds }}"}


def test_no_routes_is_the_one_route_of_the_form() -> None:
    planned = plan_routes({**PARAMS, "routes": []})
    assert planned["routes"] == [{**{k: v for k, v in PARAMS.items() if k != "workers"}, **SELECTION}]
    assert [s["worker_slot"] for s in planned["slots"]] == [0, 1]


def test_how_a_backfill_selects_is_the_routes_unless_the_form_says() -> None:
    """The DAG file says how each route's files are laid out; a backfill's conf (or the form) may override it."""
    routes = [{"name": "days", "source_path": "/d", "backfill_select_by": "partition", "partition": "{{ ds }}/in"},
              {"name": "flat", "source_path": "/f"}]  # fmt: skip
    planned = plan_routes({**PARAMS, "routes": routes}, backfill_select_by="mtime")
    assert [(r["select_by"], r["backfill_select_by"], r["partition"]) for r in planned["routes"]] == [
        ("auto", "partition", "{{ ds }}/in"),
        ("auto", "mtime", "{{ ds }}"),
    ]
    forced = plan_routes({**PARAMS, "routes": routes, "select_by": "sweep", "partition": "{{ ds_nodash }}"})
    assert {(r["select_by"], r["partition"]) for r in forced["routes"]} == {("sweep", "{{ ds_nodash }}")}


def test_routes_take_missing_keys_from_the_params_and_disabled_ones_are_left_out() -> None:
    routes = [
        {"name": "east", "source_path": "/east", "sftp_conn_id": "filepool_east", "workers": 3},
        {"name": "west", "source_path": "/west", "bucket": "west-landing"},
        {"name": "old", "source_path": "/old", "enabled": False},
    ]
    planned = plan_routes({**PARAMS, "routes": routes})
    assert [(r["sftp_conn_id"], r["source_path"], r["bucket"]) for r in planned["routes"]] == [
        ("filepool_east", "/east", "landing"),
        ("filepool_sftp", "/west", "west-landing"),
    ]
    assert [(s["source_path"], s["worker_slot"]) for s in planned["slots"]] == [
        ("/east", 0), ("/east", 1), ("/east", 2), ("/west", 0), ("/west", 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([{"source_path": "/a", "bukket": "x"}], r"route 1 has unknown keys \['bukket'\]"),
        ([{"name": "a", "source_path": "/a"}, {"name": "a", "source_path": "/b"}], "two routes are named 'a'"),
        ([{"source_path": f"/r{n}", "workers": 64} for n in range(5)], "ask for 320 transfer tasks; at most 256"),
        ("not a list", "routes must be a list of JSON objects"),
    ],
)
def test_a_list_that_makes_no_sense_is_refused(routes: Any, message: str) -> None:
    with pytest.raises(InvalidConfig, match=message):
        plan_routes({**PARAMS, "routes": routes})

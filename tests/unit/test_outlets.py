"""What a transfer task tells Airflow: OpenLineage datasets named by OpenLineage's conventions, asset events only
when files moved, one Asset per route, and the per-file cap."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias

from filepool.exceptions import InvalidConfig
from filepool.operators.outlets import add_events, check_asset_events, lineage


def test_lineage_datasets_follow_openlineage_naming() -> None:
    pytest.importorskip("airflow.providers.openlineage.extractors", reason="the lineage extra is not installed")
    found = lineage("sftp://sftp.example:22/data/out", "s3://landing/incoming/")
    assert [(d.namespace, d.name) for d in found.inputs] == [("sftp://sftp.example:22", "/data/out")]
    assert [(d.namespace, d.name) for d in found.outputs] == [("s3://landing", "incoming/")]
    found = lineage("ftp://ftp.example:21/outgoing", "file:///srv/base/incoming/")
    assert [(d.namespace, d.name) for d in found.inputs + found.outputs] == [
        ("ftp://ftp.example:21", "/outgoing"),
        ("file", "/srv/base/incoming/"),
    ]


class OutletEvents(dict[str, "Accessor"]):
    """Airflow's outlet_events, looked up by alias (an AssetAlias is not hashable before Airflow 3.2)."""

    def __getitem__(self, alias: AssetAlias) -> Accessor:
        return super().__getitem__(alias.name)


class Accessor:
    def __init__(self) -> None:
        self.added: list[tuple[Asset, dict[str, Any]]] = []

    def add(self, asset: Asset, extra: dict[str, Any]) -> None:
        self.added.append((asset, extra))


def emitted(mode: str, moved: int, cap: int = 3) -> list[tuple[Asset, dict[str, Any]]]:
    """The events of a task that moved `moved` files and kept the first `cap` of them (max_file_events)."""
    alias, accessor = AssetAlias("route"), Accessor()
    files = [{"source": f"/s/{i}", "destination": f"d/{i}", "size": i, "sha256": "ab"} for i in range(moved)][:cap]
    summary = {"job": "sftp://c/s -> s3://c/b/", "files_transferred": moved, "bytes_transferred": 10, "worker": "w"}
    add_events({"outlet_events": OutletEvents(route=accessor)}, [alias], None, "s3://b/", summary, files, mode)
    return accessor.added


def test_asset_events_per_run_per_file_and_over_the_cap() -> None:
    [(asset, extra)] = emitted("run", 5)
    assert asset.uri == "s3://b/" and extra["files"] == 5 and extra["worker"] == "w"
    per_file = emitted("file", 3)
    assert [e["destination"] for _, e in per_file] == ["d/0", "d/1", "d/2"]
    assert {e["location"] for _, e in per_file} == {"s3://b/"}
    assert {a.uri for a, _ in per_file} == {"s3://b/"}  # one Asset for the route, never one per file
    [(_, extra)] = emitted("file", 4)  # over the cap: the run's event, saying so
    assert extra["files"] == 4 and "max_file_events" in extra["per_file_events"]
    assert emitted("run", 0) == [] and emitted("none", 5) == []


def test_an_unknown_asset_events_value_is_refused() -> None:
    with pytest.raises(InvalidConfig):
        check_asset_events("always")


def test_events_go_on_the_asset_the_dag_declares() -> None:
    from filepool.assets import SFTP_TO_MINIO_FILES

    alias, accessor = AssetAlias("route"), Accessor()
    summary = {"job": "j", "files_transferred": 2, "bytes_transferred": 2}
    add_events(
        {"outlet_events": OutletEvents(route=accessor)}, [alias], SFTP_TO_MINIO_FILES, "s3://b/", summary, [], "run"
    )
    [(asset, extra)] = accessor.added
    assert asset == SFTP_TO_MINIO_FILES and extra["destination"] == "s3://b/"

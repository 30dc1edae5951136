"""The local endpoint on a real filesystem: confinement, group commit, and what a crash can leave."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from filepool.endpoints.local import LocalConfig, LocalDestination
from filepool.exceptions import FilepoolError
from filepool.interfaces import WriteContext

pytestmark = pytest.mark.integration


def destination(base: Path) -> LocalDestination:
    return LocalDestination(LocalConfig("local", str(base.resolve())))


def test_files_appear_only_when_the_batch_is_synced(tmp_path: Path) -> None:
    dest = destination(tmp_path)
    data = os.urandom(5000)
    for name in ("a/one.bin", "a/two.bin"):
        writer = dest.open_writer(name, len(data))
        writer.write(data)
        writer.commit(hashlib.sha256(data).digest())
    assert not (tmp_path / "a" / "one.bin").exists()  # committed, not yet durable: not visible
    assert dest.sync() == {}
    assert (tmp_path / "a" / "one.bin").read_bytes() == data
    assert (tmp_path / "a" / "two.bin").read_bytes() == data
    assert [p.name for p in (tmp_path / "a").iterdir() if p.name.endswith(".filepool.tmp")] == []


def test_a_rename_that_fails_refuses_that_file_alone(tmp_path: Path) -> None:
    dest = destination(tmp_path)
    for name in ("ok/file.bin", "gone/file.bin"):
        writer = dest.open_writer(name, 3)
        writer.write(b"abc")
        writer.commit(hashlib.sha256(b"abc").digest())
    (tmp_path / "gone" / "file.bin").mkdir()  # a folder now sits where the file should go
    refused = dest.sync()
    assert set(refused) == {"gone/file.bin"}
    error = refused["gone/file.bin"]
    assert isinstance(error, FilepoolError) and error.code == "IO_ERROR"
    assert (tmp_path / "ok" / "file.bin").read_bytes() == b"abc"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".filepool.tmp")]


def test_an_aborted_write_leaves_nothing(tmp_path: Path) -> None:
    dest = destination(tmp_path)
    writer = dest.open_writer("x/partial.bin", 10)
    writer.write(b"12345")
    writer.abort()
    assert dest.sync() == {}
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("path", ["../escape.bin", "/etc/passwd", "a/../../escape.bin"])
def test_paths_outside_the_base_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(FilepoolError) as err:
        destination(tmp_path).open_writer(path, 1)
    assert err.value.code == "PATH_OUTSIDE_BASE"


def test_a_symlinked_folder_out_of_the_base_is_refused(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (base / "link").symlink_to(outside)
    with pytest.raises(FilepoolError) as err:
        destination(base).open_writer("link/file.bin", 1)
    assert err.value.code == "PATH_OUTSIDE_BASE"
    assert list(outside.iterdir()) == []


def test_no_folder_is_made_outside_the_base_before_a_symlink_is_refused(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (base / "link").symlink_to(outside)
    with pytest.raises(FilepoolError) as err:
        destination(base).open_writer("link/a/b/c/file.bin", 1)
    assert err.value.code == "PATH_OUTSIDE_BASE"
    assert list(outside.iterdir()) == []  # not even a/b/c


def test_a_sync_commits_only_the_files_it_is_given(tmp_path: Path) -> None:
    """A file staged by a copy thread after the worker gathered its batch waits for its own batch: were it
    renamed with this one, a rename that failed would be reported for no file of the batch, and the file later
    recorded COMPLETED with nothing under its name."""
    dest = destination(tmp_path)
    for name in ("batch.bin", "later.bin"):
        writer = dest.open_writer(name, 3)
        writer.write(b"abc")
        writer.commit(hashlib.sha256(b"abc").digest())
    assert dest.sync(["batch.bin"]) == {}
    assert (tmp_path / "batch.bin").exists() and not (tmp_path / "later.bin").exists()
    assert dest.sync(["later.bin"]) == {}
    assert (tmp_path / "later.bin").read_bytes() == b"abc"


def test_a_240_byte_name_is_written(tmp_path: Path) -> None:
    """Its temporary name, with the claim and the random part, would pass the 255-byte limit: it is shortened,
    and the file arrives under its full name."""
    dest = destination(tmp_path)
    name = "데" * 80  # 240 bytes in UTF-8
    writer = dest.open_writer(name, 3, WriteContext(claim="12345-1"))
    writer.write(b"abc")
    writer.commit(hashlib.sha256(b"abc").digest())
    assert dest.sync([name]) == {}
    assert [p.name for p in tmp_path.iterdir()] == [name]

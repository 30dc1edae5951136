"""What becomes of source files after a verified transfer: kept, deleted or moved - once, after COMPLETED is
durable, never lost or repeated across a crash. Objects are counted in SeaweedFS's own log."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from filepool.endpoints.local import LocalConfig, LocalSource
from filepool.exceptions import InvalidConfig
from filepool.ledger import Completion, DiscoveredFile, Ledger
from filepool.operators import FTPTaskMessagesOperator, SFTPToMinIOOperator
from filepool.transfer.completion import complete_at_source
from tests.helpers import age, bucket_contents, ledger_rows, sftp_to_s3, sha256, write_tree

pytestmark = pytest.mark.integration


def move_files(root: Path, bucket: str, **kwargs: Any) -> dict[str, Any]:
    return sftp_to_s3(root, bucket, **kwargs).execute({})


def owned_by_the_sftp_user(root: Path) -> None:
    """The SFTP login may delete and rename in the tree, as an ingest account on its outgoing folder may."""
    import pwd

    from tests.servers import sshd

    user = pwd.getpwnam(sshd.USER)
    for folder, _, names in os.walk(root):
        os.chown(folder, user.pw_uid, user.pw_gid)
        for name in names:
            os.chown(os.path.join(folder, name), user.pw_uid, user.pw_gid)


def events(uri: str, event: str) -> int:
    return ledger_rows(uri, "SELECT count(*) FROM filepool_file_events WHERE event = %s", (event,))[0][0]


def test_delete_after_transfer(
    conns: None, s3_server: Any, sftp_root: Path, bucket: str, s3_client: Any, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 25, size=3000)
    age(sftp_root)
    owned_by_the_sftp_user(sftp_root)
    summary = move_files(sftp_root, bucket, after_transfer="delete")
    assert summary["files_transferred"] == 25 and summary["at_source"] == {"source_deleted": 25}
    assert [p for p in sftp_root.rglob("*") if p.is_file()] == []
    assert bucket_contents(s3_client, bucket, "in/") == {rel: sha256(d) for rel, d in files.items()}
    writes = {k: n for k, n in s3_server.object_writes(bucket).items() if k.startswith("in/")}
    assert writes == {f"in/{rel}": 1 for rel in files}
    assert events(ledger_uri, "source_deleted") == 25
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files WHERE source_action IS NOT NULL") == [(0,)]


def test_move_after_transfer_keeps_the_relative_path_and_is_not_discovered_again(
    conns: None, sftp_root: Path, bucket: str, ledger_uri: str
) -> None:
    files = write_tree(sftp_root / "out", 10, size=1000)
    archive = sftp_root / "archive"
    age(sftp_root)
    owned_by_the_sftp_user(sftp_root)
    summary = move_files(sftp_root / "out", bucket, after_transfer="move", archive_path=str(archive))
    assert summary["at_source"] == {"source_moved": 10}
    moved = {str(p.relative_to(archive)): sha256(p.read_bytes()) for p in archive.rglob("*") if p.is_file()}
    assert moved == {rel: sha256(d) for rel, d in files.items()}
    assert move_files(sftp_root / "out", bucket)["discovery"]["listed"] == 0
    with pytest.raises(InvalidConfig, match="inside the source folder"):
        move_files(sftp_root, bucket, after_transfer="move", archive_path=str(archive))


def test_a_kill_between_completed_and_the_delete_is_finished_by_the_next_run(
    conns: None, s3_server: Any, sftp_root: Path, bucket: str, ledger_uri: str
) -> None:
    files = write_tree(sftp_root, 12, size=2000)
    age(sftp_root)
    owned_by_the_sftp_user(sftp_root)
    move_files(sftp_root, bucket)  # what the killed run did: every file COMPLETED ...
    # ... with its delete recorded as pending, and not carried out
    ledger_rows(ledger_uri, "UPDATE filepool_files SET source_action = 'delete'")
    again = move_files(sftp_root, bucket, after_transfer="delete")
    assert again["files_transferred"] == 0 and again["at_source"] == {"source_deleted": 12}
    assert [p for p in sftp_root.rglob("*") if p.is_file()] == []
    writes = {k: n for k, n in s3_server.object_writes(bucket).items() if k.startswith("in/")}
    assert writes == {f"in/{rel}": 1 for rel in files}  # cleaned up without a second transfer


def test_a_source_read_by_two_rows_waits_for_both_and_a_replaced_file_is_kept(ledger_uri: str, tmp_path: Path) -> None:
    job = "fs://src -> fs://dst/"
    (tmp_path / "shared.bin").write_bytes(b"one source, two destinations")
    (tmp_path / "replaced.bin").write_bytes(b"first version")
    st, st2 = (tmp_path / "shared.bin").stat(), (tmp_path / "replaced.bin").stat()
    ledger = Ledger(lambda: psycopg2.connect(ledger_uri), "w")
    ledger.migrate()
    path, other = str(tmp_path / "shared.bin"), str(tmp_path / "replaced.bin")
    ledger.register(
        job,
        [
            DiscoveredFile(path, st.st_size, st.st_mtime, "a.bin"),
            DiscoveredFile(path, st.st_size, st.st_mtime, "b.bin"),
            DiscoveredFile(other, st2.st_size, st2.st_mtime, "c.bin"),
        ],
    )
    first, second, third = ledger.claim_batch(job, 3, 60).files

    def done(f: Any) -> Completion:
        return Completion(f.id, f.attempts, f.size, "x", "sha256", None, 0, 0, 0, source_action="delete")

    source = LocalSource(LocalConfig("src", str(tmp_path)))
    ledger.complete([done(first)])
    assert complete_at_source(ledger, job, source) == {}  # the other destination is not written yet
    assert (tmp_path / "shared.bin").exists()
    assert ledger.prune_completed(0) == 0  # retention waits for the source action too
    (tmp_path / "replaced.bin").write_bytes(b"a second version, written after the transfer")
    ledger.complete([done(second), done(third)])
    assert complete_at_source(ledger, job, source) == {"source_deleted": 1, "source_gone": 1, "source_kept": 1}
    assert not (tmp_path / "shared.bin").exists()
    assert (tmp_path / "replaced.bin").read_bytes().startswith(b"a second version")


def test_no_trigger_form_or_conf_can_turn_it_on() -> None:
    from filepool.operators import FTPToLocalOperator, LocalToFTPOperator

    for operator in (SFTPToMinIOOperator, FTPToLocalOperator, LocalToFTPOperator, FTPTaskMessagesOperator):
        assert not {"after_transfer", "archive_path"} & set(operator.template_fields), operator.__name__
    with pytest.raises(InvalidConfig, match="after_transfer must be one of"):
        SFTPToMinIOOperator(task_id="t", source_path="/d", bucket="b", after_transfer="{{ params.after }}")

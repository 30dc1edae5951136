"""A source tree that keeps its files (real sshd and vsftpd, real ledger): 10,000 files in 20 folders were moved
by earlier sweeps; 1,000 new ones arrive (900 in a new folder, 100 in an old one) and one old file is rewritten.
The next sweep lists the whole tree but sends the ledger only the folders that changed, registers exactly the
1,001 new versions and moves them - nothing else. (The 1,000,000-file tree, its timings and peak memory against
`rclone lsf -R`: bench/sweep_tree.py.)"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from filepool.operators import FTPToLocalOperator, SFTPToMinIOOperator
from tests.helpers import bucket_contents, ledger_rows, make_readable, sha256

FOLDERS = 20
PER_FOLDER = 500
OLD = time.time() - 3 * 86400  # old enough to be taken without a second look (FTP LIST: even with its zone unknown)


def write_files(folder: Path, names: range, mtime: float = OLD, tag: bytes = b"") -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i in names:
        path = folder / f"f{i:05d}.dat"
        data = b"%s %s %d\n" % (tag, folder.name.encode(), i)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        written[f"{folder.name}/{path.name}"] = data
    return written


def sweep(protocol: str, root: Path, bucket: str, transfer: bool) -> dict[str, Any]:
    common: dict[str, Any] = {"task_id": "sweep", "source_path": str(root), "threads": 8, "transfer": transfer}
    if protocol == "sftp":
        return SFTPToMinIOOperator(bucket=bucket, **common).execute({})
    return FTPToLocalOperator(dest_path="in", **common).execute({})


@pytest.mark.parametrize("protocol", ["sftp", "ftp"])
def test_a_sweep_of_a_tree_that_keeps_its_files_sends_only_what_changed(
    protocol: str, request: pytest.FixtureRequest, sftp_root: Path, ledger_uri: str
) -> None:
    request.getfixturevalue("conns" if protocol == "sftp" else "ftp_conns")
    bucket = request.getfixturevalue("bucket") if protocol == "sftp" else ""
    root = sftp_root / "tree"
    for n in range(FOLDERS):
        write_files(root / f"h{n:03d}", range(PER_FOLDER))
    make_readable(root)
    figures: dict[str, float] = {}

    started = time.monotonic()
    first = sweep(protocol, root, bucket, transfer=False)["discovery"]
    figures["first_sweep_seconds"] = time.monotonic() - started
    assert (first["listed"], first["sent"], first["registered"]) == (10_000, 10_000, 10_000)
    # Stand-in for the hours that moved them: what is tested here is the sweep, not 10,000 more transfers.
    ledger_rows(ledger_uri, "UPDATE filepool_files SET status = 'COMPLETED', completed_at = now()")

    started = time.monotonic()
    second = sweep(protocol, root, bucket, transfer=False)["discovery"]
    figures["unchanged_sweep_seconds"] = time.monotonic() - started
    assert (second["listed"], second["sent"], second["registered"]) == (10_000, 0, 0), second
    assert (second["unchanged_folders"], second["unchanged_files"]) == (20, 10_000)

    new = write_files(root / "h100", range(900), tag=b"new")
    new |= write_files(root / "h007", range(PER_FOLDER, PER_FOLDER + 100), tag=b"new")
    rewritten = root / "h015" / "f00042.dat"  # same size, later mtime: a new version of an old file
    rewritten.write_bytes(rewritten.read_bytes().replace(b"h015", b"H015"))
    os.utime(rewritten, (OLD + 60, OLD + 60))
    new["h015/f00042.dat"] = rewritten.read_bytes()
    make_readable(root)

    started = time.monotonic()
    third = sweep(protocol, root, bucket, transfer=True)
    figures["incremental_sweep_seconds"] = time.monotonic() - started
    found = third["discovery"]
    assert found["listed"] == 11_000 and found["registered"] == 1001, found
    # sent: the new folder (900), the folder that gained 100 (600), the folder with the rewritten file (500)
    assert found["sent"] == 900 + 600 + 500 and found["unchanged_folders"] == 18, found
    assert third["files_transferred"] == 1001 and third["files_failed"] == 0, third
    if protocol == "sftp":
        moved = bucket_contents(request.getfixturevalue("s3_client"), bucket)
    else:
        base = request.getfixturevalue("local_base") / "in"
        moved = {str(p.relative_to(base)): sha256(p.read_bytes()) for p in base.rglob("*") if p.is_file()}
    assert moved == {rel: sha256(data) for rel, data in new.items()}
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_files") == [(11_001,)]
    assert ledger_rows(ledger_uri, "SELECT count(*) FROM filepool_file_events WHERE event = 'discovered'") == [
        (11_001,)
    ]
    Path("test-output").mkdir(exist_ok=True)
    Path(f"test-output/incremental_sweep_{protocol}.json").write_text(json.dumps(figures, indent=1))

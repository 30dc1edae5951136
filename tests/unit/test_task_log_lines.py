"""What a task log shows at its start and of its route: no warnings of libraries (asyncssh's DSA deprecations at
import), and a route named as a location with its connection apart."""

from __future__ import annotations

import subprocess
import sys

from filepool.transfer.route import ftp_to_local, sftp_to_s3


def test_importing_the_sftp_endpoint_warns_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import filepool.endpoints.sftp"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "DSA is deprecated" not in done.stderr, done.stderr


def test_a_route_reads_as_locations_with_their_connections_apart() -> None:
    route = sftp_to_s3("filepool_sftp", "/data/outgoing", "filepool_minio", "landing", "in/")
    assert route.describe() == "SFTP /data/outgoing (filepool_sftp) -> s3://landing/in/ (filepool_minio)"
    assert (
        route.job == "sftp://filepool_sftp/data/outgoing -> s3://filepool_minio/landing/in/"
    )  # the ledger's, unchanged
    ftp = ftp_to_local("filepool_ftp", "/outgoing", "filepool_local", "incoming")
    assert ftp.describe() == "FTP /outgoing (filepool_ftp) -> local incoming/ (filepool_local)"

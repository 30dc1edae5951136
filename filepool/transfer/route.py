"""A route: one source root and one destination. Its `job` names the ledger queue every worker on it shares."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from filepool.exceptions import InvalidConfig
from filepool.names import storable


def normalize_root(path: str) -> str:
    if not path or not path.startswith("/"):
        raise InvalidConfig(f"source path must be absolute, got {path!r}")
    return posixpath.normpath(path)


@dataclass(frozen=True)
class Route:
    source: str  # e.g. "sftp://sftp_default/data/outgoing"
    destination: str  # e.g. "s3://aws_default/landing/incoming/"
    source_root: str
    key_prefix: str
    # for people: where the files come from and go, with the connection apart ("s3://landing/in/ (filepool_minio)")
    source_text: str = ""
    destination_text: str = ""

    @property
    def job(self) -> str:
        """The ledger's name of the route (its queue): never changes for a route, whatever the logs say."""
        return f"{self.source} -> {self.destination}"

    def describe(self) -> str:
        """The route as a log line shows it: each side a plain location, its connection in brackets."""
        return f"{self.source_text or self.source} -> {self.destination_text or self.destination}"

    def destination_for(self, path: str) -> str:
        """Destination key: the prefix plus the path relative to the source root."""
        relative = posixpath.relpath(path, self.source_root)
        if relative.startswith("../") or relative == "..":
            raise InvalidConfig(f"{storable(path)} is outside the source root {self.source_root}")
        # A name that is not UTF-8 gets its odd bytes percent-encoded: keys and file names must be UTF-8.
        return storable(f"{self.key_prefix}{relative}")


def check_key_prefix(prefix: str) -> str:
    """Refuse a key prefix with `.` or `..` segments: HTTP clients and stores normalise them differently (a
    signed PUT and a multipart upload would not agree on the key), so no key may hold them."""
    if any(part in (".", "..") for part in prefix.split("/")) or "\x00" in prefix:
        raise InvalidConfig(f"key prefix {prefix!r} has a '.' or '..' segment (or a NUL); give a plain prefix")
    return prefix


def sftp_to_s3(sftp_conn_id: str, source_path: str, aws_conn_id: str, bucket: str, key_prefix: str) -> Route:
    root = normalize_root(source_path)
    check_key_prefix(key_prefix)
    return Route(
        source=f"sftp://{sftp_conn_id}{root}",
        destination=f"s3://{aws_conn_id}/{bucket}/{key_prefix}",
        source_root=root,
        key_prefix=key_prefix,
        source_text=f"SFTP {root} ({sftp_conn_id})",
        destination_text=f"s3://{bucket}/{key_prefix} ({aws_conn_id})",
    )


def ftp_to_local(ftp_conn_id: str, source_path: str, local_conn_id: str, dest_path: str) -> Route:
    root = normalize_root(source_path)
    prefix = dest_path.rstrip("/") + "/" if dest_path else ""  # relative to the base, or absolute inside it
    return Route(
        source=f"ftp://{ftp_conn_id}{root}",
        destination=f"fs://{local_conn_id}/{prefix}",
        source_root=root,
        key_prefix=prefix,
        source_text=f"FTP {root} ({ftp_conn_id})",
        destination_text=f"local {prefix or './'} ({local_conn_id})",
    )


def local_to_ftp(local_conn_id: str, source_root: str, ftp_conn_id: str, dest_path: str) -> Route:
    """`source_root` is the absolute local folder, already confined to the connection's base path."""
    root = normalize_root(source_root)
    if not dest_path.startswith("/"):
        raise InvalidConfig(f"dest_path on the FTP server must be absolute, got {dest_path!r}")
    prefix = dest_path.rstrip("/") + "/"
    return Route(
        source=f"fs://{local_conn_id}{root}",
        destination=f"ftp://{ftp_conn_id}{prefix}",
        source_root=root,
        key_prefix=prefix,
        source_text=f"local {root} ({local_conn_id})",
        destination_text=f"FTP {prefix} ({ftp_conn_id})",
    )

"""S3 / MinIO through an Airflow `aws` connection (`endpoint_url` in extra for MinIO and other stores).

Small files go up in one PUT carrying x-amz-checksum-sha256, so the store itself refuses corrupted bytes;
large files go up as a multipart upload, each part with Content-MD5, completed last, so no partial object
is ever visible. One boto3 client (thread-safe, with its own bounded connection pool) serves all threads.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from filepool.airflow_connections import Connection, read_connection
from filepool.endpoints.s3_errors import translate
from filepool.endpoints.s3_put import SignedPut
from filepool.exceptions import (
    ChecksumMismatch,
    InvalidConfig,
    SizeMismatch,
)
from filepool.interfaces import NO_CONTEXT, Destination, NotTheSame, WriteContext, WriteResult

log = logging.getLogger(__name__)
MAX_PARTS = 10_000  # the S3 limit
MIB = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A multipart upload the store holds unfinished: its key, id and start (epoch seconds)."""

    key: str
    upload_id: str
    started: float


def s3_client(aws_conn_id: str, max_connections: int = 10) -> tuple[Any, Any]:
    """(AwsBaseHook, boto3 S3 client) for an Airflow `aws` connection, tuned for many parallel transfers."""
    connection = read_connection(aws_conn_id)  # an unknown id is INVALID_CONFIG, not a boto3 credentials hunt
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3", config=client_config(connection, max_connections))
    return hook, hook.get_conn()


def client_config(connection: Connection, max_connections: int) -> Config:
    """filepool's client settings, then the connection's own `config_kwargs` (proxies, addressing style, timeouts:
    what the amazon provider's hook would use) over them; the pool never smaller than the task's sessions."""
    pool = max(10, max_connections)
    ours = Config(
        max_pool_connections=pool,
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=120,
        # We send our own SHA-256 (small files) or Content-MD5 (parts); a CRC on top would cost a pass.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    theirs = connection.extra.get("config_kwargs") or {}
    if not isinstance(theirs, dict):
        raise InvalidConfig(f"connection {connection.conn_id!r}: extra 'config_kwargs' must be an object")
    if theirs.get("signature_version") == "unsigned":  # as the amazon provider reads it
        from botocore import UNSIGNED

        theirs = {**theirs, "signature_version": UNSIGNED}
    try:
        merged = ours.merge(Config(**theirs))
    except TypeError as exc:
        raise InvalidConfig(f"connection {connection.conn_id!r}: extra 'config_kwargs': {exc}") from exc
    if (getattr(merged, "max_pool_connections", None) or 0) < pool:
        merged = merged.merge(Config(max_pool_connections=pool))
    return merged


def lean_put_fits(config: Config) -> bool:
    """Whether the lean signed PUT (s3_put.py) sends what boto3 would: it speaks path-style HTTP(S) straight to the
    endpoint (a CA bundle and `verify: false` honoured), with SigV4 - so not through a proxy, with a client
    certificate, virtual-hosted addressing, or another signature."""
    option = {name: getattr(config, name, None) for name in ("s3", "proxies", "client_cert", "signature_version")}
    addressing = (option["s3"] or {}).get("addressing_style", "path")
    return not (
        option["proxies"]
        or option["client_cert"]
        or addressing != "path"
        or option["signature_version"] not in (None, "s3v4")
    )


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class S3Destination(Destination):
    """A bucket and key prefix on one `aws` connection."""

    def __init__(
        self,
        aws_conn_id: str,
        bucket: str,
        client: Any,
        multipart_threshold: int,
        part_size: int,
        fast_put: SignedPut | None = None,
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.bucket = bucket
        self.client = client
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.fast_put = fast_put

    @classmethod
    def from_airflow(
        cls, aws_conn_id: str, bucket: str, max_connections: int, multipart_threshold: int, part_size: int
    ) -> S3Destination:
        if not bucket:
            raise InvalidConfig("bucket is empty")
        hook, client = s3_client(aws_conn_id, max_connections)
        fast_put = None
        # MinIO and other stores; AWS itself, and a client boto3 must route differently, keep boto3's own path
        if hook.conn_config.endpoint_url and lean_put_fits(client.meta.config):
            fast_put = SignedPut(
                client.meta.endpoint_url,
                client.meta.region_name or "us-east-1",
                hook.get_session().get_credentials(),
                hook.verify,
                max(10, max_connections),
            )
        return cls(aws_conn_id, bucket, client, multipart_threshold, part_size, fast_put)

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key} (connection {self.aws_conn_id!r})"

    def close(self) -> None:
        if self.fast_put is not None:
            self.fast_put.close()

    def chunk_size(self, size: int) -> int:
        """One PUT below the multipart threshold; above it, parts (grown to stay within 10,000)."""
        if size < self.multipart_threshold:
            return max(size, 1)
        needed = -(-size // MAX_PARTS)
        return max(self.part_size, -(-needed // MIB) * MIB)

    def open_writer(self, key: str, size: int, context: WriteContext = NO_CONTEXT) -> S3Writer:
        multipart = size >= self.multipart_threshold
        return S3Writer(self, key, size, multipart, context.resume_token, context.remember)

    def existing_copy(self, key: str, size: int) -> ETagProbe | None:
        """A probe of the object stored under `key` when it has `size` bytes; None when there is none."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise translate(exc, self.where(key)) from exc
        except Exception as exc:
            raise translate(exc, self.where(key)) from exc
        if int(head.get("ContentLength", -1)) != size or not head.get("ETag"):
            return None
        return ETagProbe(head["ETag"])

    def uploads(self) -> Iterator[Upload]:
        """The multipart uploads started in the bucket and neither completed nor aborted."""
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
                for u in page.get("Uploads", []):
                    yield Upload(u["Key"], u["UploadId"], u["Initiated"].timestamp())
        except Exception as exc:
            raise translate(exc, f"s3://{self.bucket} (connection {self.aws_conn_id!r})") from exc

    def abort_upload(self, upload: Upload) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id)
        except Exception as exc:
            raise translate(exc, self.where(upload.key)) from exc


class ETagProbe:
    """A writer that writes nothing: fed the source's parts, it commits only when the stored object's ETag is
    the one these bytes give (the MD5 of a single PUT; for a multipart upload the MD5 of the parts' MD5s and
    their count, with today's part size - an object sent with another part size is simply sent again)."""

    def __init__(self, etag: str) -> None:
        self.etag = etag.strip('"')
        self._multipart = "-" in self.etag
        self._whole = hashlib.md5(usedforsecurity=False)
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if self._multipart:
            self._parts.append(hashlib.md5(data, usedforsecurity=False).digest())
        else:
            self._whole.update(data)

    def commit(self, sha256: bytes) -> WriteResult:
        if self._multipart:
            got = f"{hashlib.md5(b''.join(self._parts), usedforsecurity=False).hexdigest()}-{len(self._parts)}"
        else:
            got = self._whole.hexdigest()
        if got != self.etag:
            raise NotTheSame(f"stored ETag {self.etag}, the source's bytes give {got}")
        return WriteResult(self.etag, 0.0)

    def abort(self, keep: bool = False) -> None:
        pass


class S3Writer:
    """Receives a file's bytes in order, part by part; `commit` makes the object visible, `abort` cleans up.

    A multipart upload resumes from `resume_token` (an upload id kept in the ledger): the parts already stored
    are listed once, and a part whose MD5 and size match the stored one is not sent again (resume).
    """

    def __init__(
        self,
        dest: S3Destination,
        key: str,
        size: int,
        multipart: bool,
        resume_token: str | None = None,
        remember: Callable[[str], None] | None = None,
    ) -> None:
        self._dest = dest
        self.key = key
        self._size = size
        self._multipart = multipart
        self._parts: list[dict[str, Any]] = []
        self._part_md5s: list[bytes] = []
        self._single: bytes | None = None
        self.upload_id: str | None = None
        self.write_seconds = 0.0
        self._remember = remember
        self._stored: dict[int, tuple[str, int]] = {}  # part number -> (ETag, size) of a resumed upload
        self.parts_sent = 0
        self.parts_reused = 0
        if multipart and resume_token:
            self._resume(resume_token)

    def _resume(self, upload_id: str) -> None:
        try:
            pages = self._dest.client.get_paginator("list_parts").paginate(
                Bucket=self._dest.bucket, Key=self.key, UploadId=upload_id
            )
            self._stored = {
                p["PartNumber"]: (p["ETag"], int(p["Size"])) for page in pages for p in page.get("Parts", [])
            }
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchUpload", "404"}:
                log.info("Upload %s of %s is gone; starting a new one", upload_id, self.key)
                return
            raise translate(exc, self._dest.where(self.key)) from exc
        self.upload_id = upload_id
        log.info(
            "Resuming the multipart upload of %s: %d parts already stored",
            self._dest.where(self.key),
            len(self._stored),
        )

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(Bucket=self._dest.bucket, Key=self.key, **kwargs)
        except Exception as exc:
            raise translate(exc, self._dest.where(self.key)) from exc
        finally:
            self.write_seconds += time.perf_counter() - started

    def write(self, data: bytes) -> None:
        if not self._multipart:
            if self._single is not None:
                raise SizeMismatch(f"{self._dest.where(self.key)}: more than one part for a single PUT")
            self._single = data
            return
        client = self._dest.client
        if self.upload_id is None:
            self.upload_id = self._call(client.create_multipart_upload)["UploadId"]
            if self._remember is not None:
                self._remember(self.upload_id)
        md5 = hashlib.md5(data).digest()
        number = len(self._parts) + 1
        stored = self._stored.get(number)
        if stored is not None and stored[0].strip('"') == md5.hex() and stored[1] == len(data):
            etag = stored[0]
            self.parts_reused += 1
        else:
            etag = self._call(
                client.upload_part,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
                ContentMD5=_b64(md5),
                ContentLength=len(data),
            )["ETag"]
            self.parts_sent += 1
        self._parts.append({"PartNumber": number, "ETag": etag})
        self._part_md5s.append(md5)

    def commit(self, sha256: bytes) -> WriteResult:
        """Make the object visible; the store has verified every byte against our digests."""
        client = self._dest.client
        if not self._multipart:
            body = self._single or b""
            if self._dest.fast_put is not None:
                etag, seconds = self._dest.fast_put.put(
                    self._dest.bucket, self.key, body, _b64(sha256), self._dest.where(self.key)
                )
                self.write_seconds += seconds
                return WriteResult(etag, self.write_seconds)
            reply = self._call(client.put_object, Body=body, ContentLength=len(body), ChecksumSHA256=_b64(sha256))
            return WriteResult(reply.get("ETag", "").strip('"') or None, self.write_seconds)
        if self.upload_id is None:  # a large file that turned out empty: nothing was sent
            raise SizeMismatch(f"{self._dest.where(self.key)}: no parts were written")
        reply = self._call(
            client.complete_multipart_upload, UploadId=self.upload_id, MultipartUpload={"Parts": self._parts}
        )
        etag = reply.get("ETag", "").strip('"')
        expected = f"{hashlib.md5(b''.join(self._part_md5s)).hexdigest()}-{len(self._parts)}"
        if etag and etag != expected:
            raise ChecksumMismatch(f"{self._dest.where(self.key)}: multipart ETag {etag} != {expected}")
        log.info(
            "Completed the multipart upload of %s: %d parts sent, %d reused from an earlier attempt",
            self._dest.where(self.key),
            self.parts_sent,
            self.parts_reused,
        )
        head = self._call(client.head_object)
        if int(head["ContentLength"]) != self._size:
            raise SizeMismatch(f"{self._dest.where(self.key)}: {head['ContentLength']} bytes stored, {self._size} sent")
        return WriteResult(etag or None, self.write_seconds)

    def abort(self, keep: bool = False) -> None:
        """Abort the multipart upload, unless `keep`: then a later attempt resumes it from the ledger."""
        if self.upload_id is None or keep:
            return
        with contextlib.suppress(Exception):  # what is left over, the maintenance DAG aborts
            self._dest.client.abort_multipart_upload(Bucket=self._dest.bucket, Key=self.key, UploadId=self.upload_id)
        self.upload_id = None

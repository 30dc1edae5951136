"""A lean single-request PUT for small objects: botocore's SigV4 signer on a pooled urllib3 connection.

boto3's `put_object` spends about 3.6 ms of CPU per call in its event machinery; this path spends about 1.9 ms.
On a 2-core machine moving 200 KiB files that is the difference between trailing rclone and passing it. It is
used only for single-PUT objects on a custom endpoint (MinIO, SeaweedFS, ...); multipart uploads, and AWS
itself, go through boto3. The store still verifies every byte: the request carries x-amz-checksum-sha256.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from filepool.endpoints.s3_errors import translate
from filepool.exceptions import ConnectionFailed, FilepoolError

_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")


class _UnsignedPayload(S3SigV4Auth):
    """SigV4 without hashing the body again: its integrity is checked through x-amz-checksum-sha256."""

    def payload(self, request: Any) -> str:
        return "UNSIGNED-PAYLOAD"


class SignedPut:
    def __init__(self, endpoint_url: str, region: str, credentials: Any, verify: Any, max_connections: int) -> None:
        self._base = endpoint_url.rstrip("/")
        self._region = region
        self._credentials = credentials
        tls: dict[str, Any] = {}
        if verify is False:
            tls = {"cert_reqs": "CERT_NONE"}
        elif isinstance(verify, str):
            tls = {"ca_certs": verify}
        self._http = urllib3.PoolManager(
            maxsize=max_connections,
            block=False,
            timeout=urllib3.Timeout(connect=5, read=120),
            retries=urllib3.Retry(
                total=3,
                connect=3,
                read=1,
                status=2,
                backoff_factor=0.2,
                status_forcelist=(500, 502, 503, 504),
                allowed_methods=None,
                raise_on_status=False,
            ),
            **tls,
        )

    def put(self, bucket: str, key: str, body: bytes, sha256_b64: str, where: str) -> tuple[str | None, float]:
        """PUT one object; returns (ETag, seconds) or raises a filepool error with the store's code."""
        url = f"{self._base}/{quote(bucket)}/{quote(key, safe='/~')}"
        request = AWSRequest(
            method="PUT",
            url=url,
            data=body,
            headers={
                "Content-Length": str(len(body)),
                "x-amz-checksum-sha256": sha256_b64,
            },
        )
        _UnsignedPayload(self._credentials.get_frozen_credentials(), "s3", self._region).add_auth(request)
        started = time.perf_counter()
        try:
            reply = self._http.request("PUT", url, body=body, headers=dict(request.headers.items()))
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionFailed(f"{where}: cannot reach the S3 endpoint ({type(exc).__name__}: {exc})") from exc
        seconds = time.perf_counter() - started
        if reply.status == 200:
            return (reply.headers.get("ETag") or "").strip('"') or None, seconds
        code = _CODE.search(reply.data or b"")
        message = _MESSAGE.search(reply.data or b"")
        error = ClientError(
            {
                "Error": {
                    "Code": code.group(1).decode() if code else f"HTTP{reply.status}",
                    "Message": message.group(1).decode() if message else "",
                }
            },
            "PutObject",
        )
        failure: FilepoolError = translate(error, where)
        raise failure

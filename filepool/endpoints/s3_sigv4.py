"""AWS Signature Version 4 for the lean S3 PUT (filepool/endpoints/s3_put.py)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any


class SigV4:
    """AWS Signature Version 4 of a PUT whose body is not hashed again (UNSIGNED-PAYLOAD: the store checks it
    against x-amz-checksum-sha256), as botocore's S3 signer makes it, with the signing key derived once a day
    instead of on every request (four HMACs). tests/unit/test_s3_put.py checks it against botocore's."""

    def __init__(self, credentials: Any, region: str) -> None:
        self._credentials, self._region = credentials, region
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (secret, day, key)

    def headers(self, path: str, headers: dict[str, str], stamp: str | None = None) -> dict[str, str]:
        """`headers` (Host among them) with x-amz-date, x-amz-content-sha256, the session token if any, and the
        Authorization of a PUT of `path` (URI-encoded as sent); `stamp` (20261127T041551Z) is now by default."""
        creds = self._credentials.get_frozen_credentials()
        stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = stamp[:8]
        signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
        signed["x-amz-date"] = stamp
        signed["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        if creds.token:
            signed["x-amz-security-token"] = creds.token
        names = sorted(signed)
        canonical = "\n".join(
            ["PUT", path, "", *(f"{n}:{signed[n]}" for n in names), "", ";".join(names), "UNSIGNED-PAYLOAD"]
        )
        scope = f"{day}/{self._region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        signed["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return signed

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached_secret, cached_day, key = self._key
        if (cached_secret, cached_day) != (secret, day):
            key = ("AWS4" + secret).encode()
            for part in (day, self._region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = (secret, day, key)
        return key

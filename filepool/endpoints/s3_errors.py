"""S3 errors as filepool errors: what the store says (a bad digest, refused credentials) and what the network does."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from filepool.exceptions import (
    AuthenticationFailed,
    ChecksumMismatch,
    ConnectionFailed,
    DestinationError,
    FilepoolError,
)

_BAD_DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


def translate(exc: BaseException, where: str) -> FilepoolError:
    if isinstance(exc, FilepoolError):
        return exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in _BAD_DIGEST:
            return ChecksumMismatch(f"{where}: the store rejected the bytes' checksum ({code})")
        if code in _BAD_CREDENTIALS:
            return AuthenticationFailed(f"{where}: credentials refused ({code})")
        return DestinationError(f"{where}: {code} {message}".strip())
    if isinstance(exc, BotoConnectionError | ConnectionError | TimeoutError):
        return ConnectionFailed(f"{where}: cannot reach the S3 endpoint ({type(exc).__name__}: {exc})")
    if isinstance(exc, BotoCoreError):
        return DestinationError(f"{where}: {exc}")
    return DestinationError(f"{where}: {type(exc).__name__}: {exc}")

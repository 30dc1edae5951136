"""The lean S3 PUT's HTTP/1.1 on the wire, against a scripted local server (a real socket on a free loopback
port; no S3 store: SeaweedFS takes the real PUTs in the integration and chaos tests). Each case is a reply a
store may send: kept-alive, chunked, closed after the body, a kept connection the server had closed, a 503 that
passes, a 503 that stays, an error with its code, silence."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import quote

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from filepool.endpoints import s3_put
from filepool.endpoints.s3_put import SignedPut
from filepool.endpoints.s3_sigv4 import SigV4
from filepool.exceptions import AuthenticationFailed, ConnectionFailed, DestinationError

OK = b'HTTP/1.1 200 OK\r\nETag: "abc"\r\nContent-Length: 0\r\n\r\n'
Handler = Callable[[socket.socket, int], bool]  # (connection, request number) -> keep the connection open


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head


@contextmanager
def server(handler: Handler) -> Iterator[dict[str, list[bytes] | int]]:
    """A server on a free loopback port: each connection's requests go to `handler` in turn."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, list[bytes] | int] = {"heads": [], "connections": 0, "port": listener.getsockname()[1]}
    count = [0]

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    head = read_request(conn)
                except (OSError, StopIteration):
                    return
                seen["heads"].append(head)  # type: ignore[union-attr]
                count[0] += 1
                if not handler(conn, count[0]):
                    return

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            seen["connections"] = int(seen["connections"]) + 1  # type: ignore[call-overload]
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield seen
    finally:
        listener.close()


def put(port: int, key: str = "dir/a b.bin") -> tuple[str | None, float]:
    signer = SignedPut(f"http://127.0.0.1:{port}", "us-east-1", Credentials("AK", "SK"), None, 4)
    return signer.put("bucket", key, b"x" * 1000, "c2hh", "s3://bucket/key")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_put, "_BACKOFF", 0.01)


class FixedNow(datetime):
    now_is: datetime

    @classmethod
    def at(cls, moment: datetime) -> type[FixedNow]:
        return type("FixedNowAt", (cls,), {"now_is": moment})

    @classmethod
    def utcnow(cls) -> datetime:
        return cls.now_is


class BotocoreUnsigned(S3SigV4Auth):
    def payload(self, request: object) -> str:
        return "UNSIGNED-PAYLOAD"


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize(
    "key", ["plain.bin", "dir/a b.bin", "données/файл 데이터.bin", "odd/+=&@$,;:!'()*~_-.bin", "trailing/"]
)
def test_the_signature_is_botocores(key: str, token: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    at = datetime(2026, 11, 27, 4, 15, 51, tzinfo=UTC)
    if hasattr(botocore.auth, "get_current_datetime"):
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at.replace(tzinfo=None))
    else:  # older botocore (the floor, 1.37) asks datetime.datetime.utcnow()
        monkeypatch.setattr(botocore.auth.datetime, "datetime", FixedNow.at(at.replace(tzinfo=None)))
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    path = f"/prefix/my-bucket/{quote(key, safe='/~')}"
    given = {"host": "store.example:9000", "content-length": "12", "x-amz-checksum-sha256": "c2hhMjU2"}
    ours = SigV4(credentials, "eu-west-3").headers(path, given, stamp=at.strftime("%Y%m%dT%H%M%SZ"))
    request = AWSRequest(method="PUT", url=f"http://store.example:9000{path}", data=b"x" * 12, headers=given)
    BotocoreUnsigned(credentials.get_frozen_credentials(), "s3", "eu-west-3").add_auth(request)
    assert ours == {name.lower(): value for name, value in request.headers.items()}


def test_a_signed_request_on_one_kept_alive_connection() -> None:
    with server(lambda conn, n: conn.sendall(OK) or True) as seen:
        signer = SignedPut(f"http://127.0.0.1:{seen['port']}", "us-east-1", Credentials("AK", "SK"), None, 4)
        for i in range(3):
            assert signer.put("bucket", f"dir/a b {i}.bin", b"x" * 1000, "c2hh", "s3://b/k")[0] == "abc"
    heads = seen["heads"]
    assert seen["connections"] == 1 and len(heads) == 3  # type: ignore[arg-type]
    first = heads[0].decode()  # type: ignore[index]
    assert first.startswith("PUT /bucket/dir/a%20b%200.bin HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{seen['port']}" in first and "x-amz-checksum-sha256: c2hh" in first
    assert "x-amz-content-sha256: UNSIGNED-PAYLOAD" in first and "Credential=AK/" in first


def test_a_chunked_error_reply_gives_the_stores_code() -> None:
    xml = b"<Error><Code>NoSuchBucket</Code><Message>no bucket</Message></Error>"
    chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % 10 + xml[:10] + b"\r\n"
    chunked += b"%x\r\n" % (len(xml) - 10) + xml[10:] + b"\r\n0\r\n\r\n"
    with server(lambda conn, n: conn.sendall(chunked) or True) as seen, pytest.raises(DestinationError) as caught:
        put(int(seen["port"]))  # type: ignore[call-overload]
    assert caught.value.message == "s3://bucket/key: NoSuchBucket no bucket"


def test_a_reply_closed_after_its_body_and_a_kept_connection_the_server_closed() -> None:
    # the first reply has no length (the body runs to the close); then keep-alive replies, the server closing
    # each connection after one: a reused connection finds it closed and the request goes on a new one
    def handler(conn: socket.socket, n: int) -> bool:
        if n == 1:
            conn.sendall(b'HTTP/1.1 200 OK\r\nETag: "first"\r\n\r\n')
            return False
        conn.sendall(OK)
        return False

    with server(handler) as seen:
        signer = SignedPut(f"http://127.0.0.1:{seen['port']}", "us-east-1", Credentials("AK", "SK"), None, 4)
        assert signer.put("bucket", "k1", b"x", "c2hh", "w")[0] == "first"
        assert signer.put("bucket", "k2", b"x", "c2hh", "w")[0] == "abc"
        assert signer.put("bucket", "k3", b"x", "c2hh", "w")[0] == "abc"  # its kept connection was closed
    assert len(seen["heads"]) == 3 and seen["connections"] == 3  # type: ignore[arg-type]


def reply(status: bytes, xml: bytes) -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(xml), xml)


def test_a_503_that_passes_is_tried_again_and_one_that_stays_fails_with_the_stores_code() -> None:
    busy = reply(b"503 Slow Down", b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>")
    with server(lambda conn, n: conn.sendall(busy if n <= 2 else OK) or True) as seen:
        assert put(int(seen["port"]))[0] == "abc"  # type: ignore[call-overload]
    assert len(seen["heads"]) == 3  # type: ignore[arg-type]
    with server(lambda conn, n: conn.sendall(busy) or True) as seen, pytest.raises(DestinationError) as caught:
        put(int(seen["port"]))  # type: ignore[call-overload]
    assert len(seen["heads"]) == 4  # type: ignore[arg-type]  # the request and 3 retries
    assert caught.value.message == "s3://bucket/key: SlowDown busy"


def test_refused_credentials_are_not_tried_again() -> None:
    refused = reply(b"403 Forbidden", b"<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>")
    with server(lambda conn, n: conn.sendall(refused) or True) as seen, pytest.raises(AuthenticationFailed):
        put(int(seen["port"]))  # type: ignore[call-overload]
    assert len(seen["heads"]) == 1  # type: ignore[arg-type]


def test_an_endpoint_that_is_not_there_fails_with_connection_failed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(ConnectionFailed) as caught:
        put(port)
    assert "cannot reach the S3 endpoint" in caught.value.message and "ConnectionRefusedError" in caught.value.message


def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_put, "_REPLY_SECONDS", 0.3)
    with server(lambda conn, n: threading.Event().wait(5) and False) as seen, pytest.raises(ConnectionFailed) as e:
        put(int(seen["port"]))  # type: ignore[call-overload]
    assert "TimeoutError" in e.value.message
    assert len(seen["heads"]) == 2  # type: ignore[arg-type]  # a timeout is waited for twice at most

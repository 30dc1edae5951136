"""The S3 endpoint against SeaweedFS: the store itself refuses bytes whose checksum is wrong."""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from filepool.endpoints.s3 import S3Destination
from filepool.exceptions import FilepoolError
from tests.helpers import aws_conn

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


@pytest.fixture(params=["signed_put", "boto3"])
def destination(request: pytest.FixtureRequest, conns: None, bucket: str) -> S3Destination:
    dest = S3Destination.from_airflow("filepool_minio", bucket, 4, 8 * MIB, 5 * MIB)
    assert dest.fast_put is not None  # a custom endpoint takes the lean PUT path
    if request.param == "boto3":
        dest.fast_put = None
    return dest


def exists(client: Any, bucket: str, key: str) -> bool:
    return client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


def test_single_put_round_trip_with_odd_key(destination: S3Destination, s3_client: Any, bucket: str) -> None:
    data = os.urandom(5000)
    writer = destination.open_writer("a dir/ключ #1+%.bin", len(data))
    writer.write(data)
    result = writer.commit(hashlib.sha256(data).digest())
    assert result.etag == hashlib.md5(data).hexdigest()
    assert s3_client.get_object(Bucket=bucket, Key="a dir/ключ #1+%.bin")["Body"].read() == data


def test_the_store_rejects_a_wrong_checksum(destination: S3Destination, s3_client: Any, bucket: str) -> None:
    data = os.urandom(5000)
    writer = destination.open_writer("corrupt.bin", len(data))
    writer.write(data)
    with pytest.raises(FilepoolError) as err:
        writer.commit(hashlib.sha256(b"other bytes").digest())
    assert err.value.code == "CHECKSUM_MISMATCH"
    assert not exists(s3_client, bucket, "corrupt.bin")


def test_multipart_upload_is_visible_only_when_complete(conns: None, bucket: str, s3_client: Any) -> None:
    dest = S3Destination.from_airflow("filepool_minio", bucket, 4, 8 * MIB, 5 * MIB)
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), os.urandom(1000)]
    whole = b"".join(parts)
    writer = dest.open_writer("multi.bin", len(whole))
    for part in parts:
        writer.write(part)
        assert not exists(s3_client, bucket, "multi.bin")
    result = writer.commit(hashlib.sha256(whole).digest())
    assert result.etag is not None and result.etag.endswith("-3")
    assert (
        hashlib.sha256(s3_client.get_object(Bucket=bucket, Key="multi.bin")["Body"].read()).digest()
        == hashlib.sha256(whole).digest()
    )


def test_wrong_secret_is_auth_failed(conns: None, bucket: str, s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FILEPOOL_MINIO", aws_conn(s3_server.endpoint, password="wrong-secret"))
    dest = S3Destination.from_airflow("filepool_minio", bucket, 4, 8 * MIB, 5 * MIB)
    writer = dest.open_writer("x.bin", 3)
    writer.write(b"abc")
    with pytest.raises(FilepoolError) as err:
        writer.commit(hashlib.sha256(b"abc").digest())
    assert err.value.code == "AUTH_FAILED"


def test_unknown_connection_id_is_invalid_config(conns: None, bucket: str) -> None:
    with pytest.raises(FilepoolError) as err:
        S3Destination.from_airflow("no_such_connection", bucket, 4, 8 * MIB, 5 * MIB)
    assert err.value.code == "INVALID_CONFIG"


class ForwardingProxy(ThreadingHTTPServer):
    """An HTTP proxy (absolute-URI requests, as boto3 sends them to an http:// endpoint through `proxies`) that
    forwards each request and counts them by method and path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: ForwardingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _forward(self) -> None:
        target = urlsplit(self.path)
        self.server.seen.append((self.command, target.path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=dict(self.headers.items()))
        reply = upstream.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        head = self.command == "HEAD"  # its Content-Length is the object's, and no body follows
        for name, value in reply.getheaders():
            if name.lower() not in {"transfer-encoding", "connection"} and (head or name.lower() != "content-length"):
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


def test_the_connections_config_kwargs_apply_and_a_proxy_gets_every_request(
    conns: None, bucket: str, s3_server: Any, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config_kwargs of the aws connection (as the amazon provider reads them) go over filepool's own client settings;
    with a proxy, every request goes through it (the lean PUT, which would go straight to the store, is off)."""
    proxy = ForwardingProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        extra = {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"}
        config_kwargs = {"connect_timeout": 7, "proxies": {"http": proxy.url}}
        monkeypatch.setenv(
            "AIRFLOW_CONN_FILEPOOL_MINIO", aws_conn(s3_server.endpoint, extra={**extra, "config_kwargs": config_kwargs})
        )
        dest = S3Destination.from_airflow("filepool_minio", bucket, 16, 8 * MIB, 5 * MIB)
        config = dest.client.meta.config
        assert (config.connect_timeout, config.max_pool_connections, config.read_timeout) == (7, 16, 120)
        assert dest.fast_put is None
        small, large = os.urandom(5000), os.urandom(11 * MIB)
        for key, data in (("proxied/small.bin", small), ("proxied/large.bin", large)):
            writer = dest.open_writer(key, len(data))
            for start in range(0, len(data), 5 * MIB):
                writer.write(data[start : start + 5 * MIB])
            writer.commit(hashlib.sha256(data).digest())
            assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
        puts = [path for method, path in proxy.seen if method == "PUT"]
        assert f"/{bucket}/proxied/small.bin" in puts and puts.count(f"/{bucket}/proxied/large.bin") == 3  # 3 parts

        # without a proxy the lean PUT stays on, the connection's timeout still applied
        monkeypatch.setenv(
            "AIRFLOW_CONN_FILEPOOL_MINIO",
            aws_conn(s3_server.endpoint, extra={**extra, "config_kwargs": {"connect_timeout": 7}}),
        )
        dest = S3Destination.from_airflow("filepool_minio", bucket, 4, 8 * MIB, 5 * MIB)
        assert dest.fast_put is not None and dest.client.meta.config.connect_timeout == 7
    finally:
        proxy.shutdown()
        proxy.server_close()

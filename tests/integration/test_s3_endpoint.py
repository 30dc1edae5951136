"""The S3 endpoint against SeaweedFS: the store itself refuses bytes whose checksum is wrong."""

from __future__ import annotations

import hashlib
import os
from typing import Any

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

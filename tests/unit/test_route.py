from __future__ import annotations

import pytest

from filepool.endpoints.s3 import S3Destination
from filepool.exceptions import InvalidConfig
from filepool.transfer.route import sftp_to_s3

MIB = 1024 * 1024


def test_key_is_prefix_plus_path_relative_to_source_root() -> None:
    route = sftp_to_s3("sftp_a", "/data/out/", "aws_b", "landing", "in/")
    assert route.destination_for("/data/out/x/y z.csv") == "in/x/y z.csv"
    assert route.job == "sftp://sftp_a/data/out -> s3://aws_b/landing/in/"


def test_routes_differ_by_destination() -> None:
    a = sftp_to_s3("s", "/data", "aws", "landing", "a/")
    b = sftp_to_s3("s", "/data", "aws", "landing", "b/")
    assert a.job != b.job


@pytest.mark.parametrize("path", ["relative/path", ""])
def test_source_path_must_be_absolute(path: str) -> None:
    with pytest.raises(InvalidConfig) as err:
        sftp_to_s3("s", path, "aws", "landing", "")
    assert err.value.code == "INVALID_CONFIG"


def test_a_path_outside_the_root_is_refused() -> None:
    route = sftp_to_s3("s", "/data/out", "aws", "landing", "")
    with pytest.raises(InvalidConfig):
        route.destination_for("/data/other/file")


def test_part_size_grows_to_stay_within_ten_thousand_parts() -> None:
    dest = S3Destination("aws", "b", client=None, multipart_threshold=64 * MIB, part_size=16 * MIB)
    assert dest.chunk_size(1000) == 1000  # one PUT
    assert dest.chunk_size(0) == 1
    assert dest.chunk_size(1024 * MIB) == 16 * MIB
    big = 500 * 1024 * MIB  # 500 GiB
    size = dest.chunk_size(big)
    assert size % MIB == 0 and -(-big // size) <= 10_000


@pytest.mark.parametrize("prefix", ["./in/", "in/../out/", "..", "in/./x/", "a/.", "in\x00/"])
def test_key_prefixes_with_dot_segments_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidConfig) as err:
        sftp_to_s3("s", "/data", "aws", "landing", prefix)
    assert "key prefix" in err.value.message


@pytest.mark.parametrize("prefix", ["", "in/", "a.b/..c/", "in/.hidden/"])
def test_plain_key_prefixes_are_kept(prefix: str) -> None:
    assert sftp_to_s3("s", "/data", "aws", "landing", prefix).key_prefix == prefix

"""Names the ledger, S3 and file systems can hold, and temporary names tied to their claim."""

from __future__ import annotations

import os

import pytest

from filepool.names import NAME_MAX, TEMP_SUFFIX, storable, temp_claim, temp_name


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("plain.csv", "plain.csv"),
        ("données 데이터.csv", "données 데이터.csv"),
        ("a\x00b", "a%00b"),
        (os.fsdecode(b"latin1-\xe9t\xe9.csv"), "latin1-%E9t%E9.csv"),
        (os.fsdecode(b"50%-\xe9.csv"), "50%25-%E9.csv"),  # in an escaped name, % too: two never meet
        ("50%-off.csv", "50%-off.csv"),
    ],
)
def test_storable_escapes_only_what_postgresql_refuses(name: str, stored: str) -> None:
    assert storable(name) == stored
    stored.encode("utf-8")  # valid UTF-8, no NUL: PostgreSQL text and jsonb take it


@pytest.mark.parametrize("name", ["x" * 255, "데" * 85, "short.bin", "é" * 127 + "x"])
def test_a_temporary_name_fits_the_name_limit_and_names_its_claim(name: str) -> None:
    temp = temp_name(name, "123456789-3", "a1b2c3d4")
    assert len(temp.encode()) <= NAME_MAX
    assert temp.endswith(TEMP_SUFFIX) and temp.startswith(".")
    assert temp_claim(temp) == (123456789, 3)
    temp.encode("utf-8")  # not cut inside a character
    if len(name.encode()) < 200:
        assert temp == f".{name}.123456789-3.a1b2c3d4{TEMP_SUFFIX}"


def test_a_temporary_name_without_a_claim_has_none() -> None:
    assert temp_claim(temp_name("f.bin", "", "a1b2")) is None
    assert temp_claim(".f.bin.1-2.a1b2.filepool.tmp.bak") is None

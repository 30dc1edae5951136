"""FreeSpace: free space read from the filesystem, reservations counted between readings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from filepool.endpoints.free_space import FreeSpace
from filepool.exceptions import DiskFull


def test_a_file_larger_than_the_free_space_is_refused(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(DiskFull) as caught:
        FreeSpace().reserve(str(tmp_path), free + 10**9, str(tmp_path / "big"))
    assert caught.value.code == "DISK_FULL" and "big" in caught.value.message


def test_reservations_between_readings_add_up(tmp_path: Path) -> None:
    space = FreeSpace()
    space._FRESH_SECONDS = 3600.0  # one reading for the whole test
    space.reserve(str(tmp_path), 1, str(tmp_path / "a"))
    ((free, _),) = space._readings.values()
    space.reserve(str(tmp_path), free // 2 - 10, str(tmp_path / "b"))  # still within the first reading
    assert list(space._reserved.values()) == [free // 2 - 9]
    sub = tmp_path / "sub"
    sub.mkdir()
    space.reserve(str(sub), 5, str(sub / "c"))  # another folder of the same filesystem: the same account
    assert list(space._reserved.values()) == [free // 2 - 4]

"""The worker's own view of its leases: no commit past the last renewal's deadline, nor for a claim taken over."""

from __future__ import annotations

import pytest

from filepool.exceptions import LeaseLost
from filepool.ledger import ClaimedFile
from filepool.transfer.leases import Leases


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def claimed(file_id: int, attempt: int = 1) -> ClaimedFile:
    return ClaimedFile(file_id, f"/f{file_id}", 1, 1.0, f"f{file_id}", attempt, None)


def test_a_file_is_written_only_before_its_deadline_less_the_margin() -> None:
    clock = Clock()
    leases = Leases(30, clock)
    leases.claimed([claimed(1)], sent_at=100.0)
    clock.now = 100.0 + 30 - leases.margin - 0.01
    leases.check(claimed(1))
    clock.now += 0.02
    with pytest.raises(LeaseLost) as err:
        leases.check(claimed(1))
    assert err.value.code == "LEASE_LOST"


def test_a_heartbeat_renews_only_what_it_says_is_still_held() -> None:
    clock = Clock()
    leases = Leases(30, clock)
    leases.claimed([claimed(1), claimed(2), claimed(3, attempt=2)], sent_at=100.0)
    # file 2 was taken over; file 3 is held, but on a later attempt than the one in flight here
    leases.renewed({(1, 1), (3, 3)}, sent_at=120.0)
    clock.now = 140.0
    leases.check(claimed(1))
    for lost in (claimed(2), claimed(3, attempt=2)):
        with pytest.raises(LeaseLost):
            leases.check(lost)


def test_an_attempt_claimed_again_fences_off_the_earlier_one() -> None:
    leases = Leases(30, Clock())
    leases.claimed([claimed(1, attempt=1)], sent_at=100.0)
    leases.claimed([claimed(1, attempt=2)], sent_at=100.0)
    leases.check(claimed(1, attempt=2))
    with pytest.raises(LeaseLost, match="claimed again"):
        leases.check(claimed(1, attempt=1))
    leases.forget(claimed(1, attempt=1))  # the earlier attempt finishing does not drop the later one
    leases.check(claimed(1, attempt=2))

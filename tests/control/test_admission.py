"""Connection-slot bookkeeping without sockets: shares per uid, the privileged reserve, release."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgpd.control.admission import Admission, ConnectionLimits

ROOT, ALICE, BOB, CAROL = 0, 1001, 1002, 1003
REPO = Path(__file__).resolve().parents[2]


def test_one_unprivileged_uid_gets_at_most_its_share() -> None:
    admission = Admission(ConnectionLimits(max_clients=16, reserved=4, per_uid=4))
    assert [admission.admit(ALICE, privileged=False) for _ in range(4)] == [None] * 4
    refusal = admission.admit(ALICE, privileged=False)
    assert refusal == "uid 1001 already holds the 4 connections one user may hold"
    assert admission.admit(BOB, privileged=False) is None  # another user is not affected
    assert admission.total == 5


def test_unprivileged_users_together_never_take_the_reserve() -> None:
    admission = Admission(ConnectionLimits(max_clients=6, reserved=2, per_uid=2))
    for uid in (ALICE, ALICE, BOB, BOB):
        assert admission.admit(uid, privileged=False) is None
    refusal = admission.admit(CAROL, privileged=False)
    assert refusal is not None and "all 4 connections open to unprivileged users are in use" in refusal
    assert admission.admit(ROOT, privileged=True) is None
    assert admission.admit(ROOT, privileged=True) is None
    assert admission.admit(ROOT, privileged=True) == "too many clients (limit 6)"


def test_privileged_clients_may_use_every_slot() -> None:
    admission = Admission(ConnectionLimits(max_clients=3, reserved=1, per_uid=1))
    assert [admission.admit(ROOT, privileged=True) for _ in range(3)] == [None] * 3
    assert admission.admit(ROOT, privileged=True) == "too many clients (limit 3)"


def test_unknown_credentials_share_one_unprivileged_quota() -> None:
    admission = Admission(ConnectionLimits(max_clients=8, reserved=2, per_uid=2))
    assert [admission.admit(None, privileged=False) for _ in range(2)] == [None, None]
    assert admission.admit(None, privileged=False) == (
        "this unknown user already holds the 2 connections one user may hold"
    )


def test_release_gives_the_slot_back() -> None:
    admission = Admission(ConnectionLimits(max_clients=4, reserved=2, per_uid=2))
    assert admission.admit(ALICE, privileged=False) is None
    assert admission.admit(ALICE, privileged=False) is None
    assert admission.admit(BOB, privileged=False) is not None  # the shared part (2) is full
    admission.release(ALICE, privileged=False)
    assert admission.admit(BOB, privileged=False) is None
    admission.release(ALICE, privileged=False)
    admission.release(BOB, privileged=False)
    assert admission.total == 0
    assert [admission.admit(ALICE, privileged=False) for _ in range(2)] == [None, None]


@pytest.mark.parametrize(("max_clients", "reserved", "per_uid"), [(4, 4, 1), (4, -1, 1), (4, 1, 0)])
def test_impossible_limits_are_refused(max_clients: int, reserved: int, per_uid: int) -> None:
    with pytest.raises(ValueError):
        ConnectionLimits(max_clients, reserved, per_uid)


def test_the_troubleshooting_guide_quotes_the_refusals_of_the_default_limits() -> None:
    doc = " ".join((REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8").split())
    admission = Admission(ConnectionLimits())
    per_user = [admission.admit(ALICE, privileged=False) for _ in range(5)][-1]
    assert per_user is not None and f"`{per_user.replace(str(ALICE), 'N')} (busy)`" in doc
    for uid in (BOB, CAROL, CAROL + 1, CAROL + 2):
        while admission.admit(uid, privileged=False) is None:
            pass
    shared = admission.admit(CAROL + 3, privileged=False)
    assert shared is not None and f"`{shared.split(' (')[0]} …`" in doc

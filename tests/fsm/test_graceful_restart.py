"""Graceful restart (RFC 4724) with Notification support (RFC 8538), both roles, as tables.

Restarting speaker: the R/F/N bits of our OPEN, and what each kind of stop sends. Helper: which ends
of an Established session keep the peer's routes stale, the restart timer, what the new capability
keeps, the End-of-RIB sweep, the stale timer, a second restart during a restart. Also: a peer
refusing our connection in OpenConfirm is no flap. All sans-IO, on a fake clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from bgpd.fsm import (
    Action,
    AutomaticStop,
    CloseConnection,
    Event,
    FsmConfig,
    GracefulRestartConfig,
    HeaderError,
    KeepaliveReceived,
    ManualStart,
    ManualStop,
    NotificationReceived,
    OpenReceived,
    PeerReconnected,
    PrefixLimitReached,
    Reason,
    RoutesStale,
    Session,
    SessionDown,
    SessionEstablished,
    StaleCause,
    StaleRoutesDeleted,
    State,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    Timer,
    TimerExpired,
    UpdateMessageError,
    UpdateReceived,
)
from bgpd.fsm.negotiation import build_open
from bgpd.wire.capabilities import GracefulRestart, GracefulRestartFamily
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, CeaseSub, ErrorAction, ErrorCode, Family
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open
from bgpd.wire.update import Update

from ._helpers import CFG_A, CFG_B, PEER_OPEN, Pair, changes, notifications, sent

V4, V6 = IPV4_UNICAST, IPV6_UNICAST
BOTH = frozenset({V4, V6})
GR = GracefulRestartConfig(restart_time=120, stale_time=300.0)
CFG = dataclasses.replace(CFG_A, graceful_restart=GR, connect_retry_time=7.0)
PEER_RESTART_TIME = 60


def peer_gr(
    *families: tuple[Family, bool], notification: bool = True, restart_time: int = PEER_RESTART_TIME
) -> GracefulRestart:
    """The peer's capability: each family with its F bit."""
    return GracefulRestart(
        False,
        notification,
        restart_time,
        tuple(GracefulRestartFamily(f.afi, f.safi, fwd) for f, fwd in families),
    )


GR_N = peer_gr((V4, True), (V6, True))
GR_NO_N = peer_gr((V4, True), (V6, True), notification=False)
HELPER_ONLY = peer_gr()  # a router that helps but claims no forwarding state (GoBGP helper-only)


def peer_open(cap: GracefulRestart | None) -> Open:
    caps = PEER_OPEN.capabilities if cap is None else (*PEER_OPEN.capabilities, cap)
    return dataclasses.replace(PEER_OPEN, capabilities=caps)


def established(
    cap: GracefulRestart | None, config: FsmConfig = CFG, now: float = 0.0, session: Session | None = None
) -> tuple[Session, list[Action]]:
    """A session (new, or ``session`` from Idle) brought to Established with a peer announcing ``cap``."""
    session = session if session is not None else Session(config)
    actions: list[Action] = []
    for event in (
        ManualStart(),
        TcpConnectionAcknowledged(),
        OpenReceived(peer_open(cap)),
        KeepaliveReceived(),
    ):
        actions += session.handle(event, now)
    assert session.state is State.ESTABLISHED
    return session, actions


def of_type(actions: Sequence[Action], kind: type) -> list[Action]:
    return [a for a in actions if isinstance(a, kind)]


def our_gr(open_message: object) -> GracefulRestart | None:
    caps = getattr(open_message, "capabilities", ())
    found = [c for c in caps if isinstance(c, GracefulRestart)]
    assert len(found) <= 1  # RFC 4724 §3: one instance
    return found[0] if found else None


# ---------------------------------------------------------------------- R/F/N bits of our OPEN
@pytest.mark.parametrize(
    ("config", "restarting", "expected"),
    [
        (
            GR,
            False,
            GracefulRestart(
                False, True, 120, (GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, True))
            ),
        ),
        (
            GR,
            True,
            GracefulRestart(
                True, True, 120, (GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, True))
            ),
        ),
        (
            dataclasses.replace(GR, restart_time=30, notification=False),
            False,
            GracefulRestart(
                False, False, 30, (GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, True))
            ),
        ),
        (
            dataclasses.replace(GR, forwarding_preserved=False),
            True,
            GracefulRestart(
                True, True, 120, (GracefulRestartFamily(1, 1, False), GracefulRestartFamily(2, 1, False))
            ),
        ),
        (None, True, None),  # graceful restart off: no capability, so no R bit either
    ],
    ids=["default", "restarting", "no-n-bit", "no-f-bit", "off"],
)
def test_open_bits(
    config: GracefulRestartConfig | None, restarting: bool, expected: GracefulRestart | None
) -> None:
    fsm_config = dataclasses.replace(CFG_A, graceful_restart=config)
    assert our_gr(build_open(fsm_config, restarting)) == expected
    session = Session(fsm_config, restarting=restarting)
    session.handle(ManualStart(), 0.0)
    assert our_gr(sent(session.handle(TcpConnectionAcknowledged(), 0.0))[0]) == expected


def test_restart_state_bit_stays_until_established_then_clears() -> None:
    """RFC 4724 §4.1: the OPENs re-establishing the session after our restart carry R; a later
    session of the same process is no restart."""
    session = Session(CFG, restarting=True)
    session.handle(ManualStart(), 0.0)
    first = sent(session.handle(TcpConnectionAcknowledged(), 0.0))[0]
    session.handle(TcpConnectionFails(), 1.0)  # OpenSent -> Active: still the restart
    retry = sent(session.handle(TcpConnectionConfirmed(), 2.0))[0]
    assert our_gr(first).restart_state and our_gr(retry).restart_state  # type: ignore[union-attr]
    for event in (OpenReceived(peer_open(GR_N)), KeepaliveReceived()):
        session.handle(event, 3.0)
    assert session.state is State.ESTABLISHED and not session.restarting
    session.handle(TcpConnectionFails(), 4.0)
    session.handle_timers(4.0 + CFG.idle_hold_time)
    again = sent(session.handle(TcpConnectionAcknowledged(), 10.0))[0]
    assert not our_gr(again).restart_state  # type: ignore[union-attr]


# ---------------------------------------------------------------------- what a stop sends
HARD = (ErrorCode.CEASE, CeaseSub.HARD_RESET)


@pytest.mark.parametrize(
    ("cap", "config", "graceful", "expected"),
    [
        # RFC 8538 §3: with the N bit, a graceful stop is any Cease but Hard Reset ...
        (GR_N, CFG, True, (6, 4)),
        # ... and a withdrawing stop is Hard Reset standing for the Cease
        (GR_N, CFG, False, HARD),
        # RFC 4724 §4: without the N bit a NOTIFICATION ends GR, so a graceful stop sends none ...
        (GR_NO_N, CFG, True, None),
        # ... and a withdrawing stop the plain Cease (RFC 8538 §3: no Hard Reset without the N bit)
        (GR_NO_N, CFG, False, (6, 4)),
        (HELPER_ONLY, CFG, True, (6, 4)),  # N bit, no families: still no Hard Reset for a graceful stop
        (None, CFG, True, (6, 4)),  # no graceful restart with this peer: a Cease either way
        (None, CFG, False, (6, 4)),
        (GR_N, dataclasses.replace(CFG, graceful_restart=None), True, (6, 4)),  # ours off
        (
            GR_N,
            dataclasses.replace(CFG, graceful_restart=dataclasses.replace(GR, notification=False)),
            True,
            None,
        ),
        (
            GR_N,
            dataclasses.replace(CFG, graceful_restart=dataclasses.replace(GR, notification=False)),
            False,
            (6, 4),
        ),
    ],
    ids=[
        "n-graceful",
        "n-hard",
        "gr-graceful",
        "gr-hard",
        "helper-only-graceful",
        "no-gr-graceful",
        "no-gr-hard",
        "ours-off",
        "our-n-off-graceful",
        "our-n-off-hard",
    ],
)
def test_stop_sends(
    cap: GracefulRestart | None, config: FsmConfig, graceful: bool, expected: tuple[int, int] | None
) -> None:
    session, _ = established(cap, config)
    actions = session.handle(
        ManualStop(CeaseSub.ADMINISTRATIVE_RESET, "bgpd restarting", graceful=graceful), 1.0
    )
    sent_notifications = notifications(actions)
    assert CloseConnection() in actions and session.state is State.IDLE
    if expected is None:
        assert sent_notifications == []
        return
    (notification,) = sent_notifications
    assert (notification.code, notification.subcode) == expected
    assert notification.shutdown_message == "bgpd restarting"  # RFC 9003, also inside a Hard Reset
    if expected == HARD:
        assert notification.inner == Notification.shutdown("bgpd restarting", CeaseSub.ADMINISTRATIVE_RESET)
        assert notification.name == "Cease / Hard Reset (Administrative Reset)"


def test_stop_before_established_is_a_plain_cease() -> None:
    """Nothing was announced yet: no Hard Reset, and a graceful stop still says why."""
    session = Session(CFG)
    for event in (ManualStart(), TcpConnectionAcknowledged(), OpenReceived(peer_open(GR_N))):
        session.handle(event, 0.0)
    assert session.state is State.OPEN_CONFIRM
    actions = session.handle(ManualStop(CeaseSub.ADMINISTRATIVE_SHUTDOWN, "bye"), 1.0)
    assert [(n.code, n.subcode) for n in notifications(actions)] == [(6, 2)]


@pytest.mark.parametrize(
    ("cap", "hard"), [(GR_N, True), (GR_NO_N, False), (None, False)], ids=["n-bit", "no-n-bit", "no-gr"]
)
def test_prefix_limit_stop_is_a_hard_reset_with_the_n_bit(cap: GracefulRestart | None, hard: bool) -> None:
    """RFC 8538 §5: Maximum Number of Prefixes Reached is a Hard Reset (standing for the Cease 6/1
    with its RFC 4486 §4 data); without the N bit the plain Cease 6/1. The peer's routes go."""
    session, _ = established(cap)
    actions = session.handle(PrefixLimitReached(V4, 100, None), 1.0)
    (notification,) = notifications(actions)
    cease = Notification.max_prefixes(1, 1, 100)
    assert notification == (Notification.hard_reset(cease) if hard else cease)
    assert not of_type(actions, RoutesStale) and session.stale == frozenset()


def test_automatic_stop_follows_its_graceful_flag() -> None:
    session, _ = established(GR_N)
    (notification,) = notifications(session.handle(AutomaticStop(CeaseSub.OUT_OF_RESOURCES), 1.0))
    assert notification.is_hard_reset and notification.data == bytes((CeaseSub.OUT_OF_RESOURCES,))
    graceful, _ = established(GR_N)
    (notification,) = notifications(
        graceful.handle(AutomaticStop(CeaseSub.OUT_OF_RESOURCES, graceful=True), 1.0)
    )
    assert (notification.code, notification.subcode) == (6, CeaseSub.OUT_OF_RESOURCES)


# ---------------------------------------------------------------------- helper: which ends keep routes
HOLD_EXPIRES = TimerExpired(Timer.HOLD)
CEASE_2 = NotificationReceived(Notification(6, 2))
HARD_RESET = NotificationReceived(Notification.hard_reset(Notification(6, 2)))
UPDATE_RESET = UpdateMessageError(UpdateError(3, 1, action=ErrorAction.SESSION_RESET))


@pytest.mark.parametrize(
    ("cap", "event", "kept"),
    [
        (GR_NO_N, TcpConnectionFails(), BOTH),  # RFC 4724 §4.2: the connection ended, no NOTIFICATION
        (peer_gr((V4, True)), TcpConnectionFails(), frozenset({V4})),  # only the families in its capability
        (peer_gr((V4, False), (V6, True)), TcpConnectionFails(), BOTH),  # F bit matters once it is back
        (HELPER_ONLY, TcpConnectionFails(), None),  # no families: nothing to keep
        (None, TcpConnectionFails(), None),  # no capability: routes go (RFC 4271)
        (GR_N, CEASE_2, BOTH),  # RFC 8538 §4: a NOTIFICATION other than Hard Reset, received
        (GR_NO_N, CEASE_2, None),  # RFC 4724 §4: without the N bit, normal procedures
        (GR_N, HARD_RESET, None),  # RFC 8538 §3: Hard Reset means drop
        (GR_N, HOLD_EXPIRES, BOTH),  # RFC 8538 §4: hold timer expiry (we send 4/0) is graceful too
        (GR_NO_N, HOLD_EXPIRES, None),
        (GR_N, UPDATE_RESET, BOTH),  # a NOTIFICATION we send, not Hard Reset
        (GR_N, HeaderError(NotificationError(1, 2)), BOTH),
        (GR_N, PeerReconnected(), BOTH),  # RFC 4724 §4.2: a new connection while Established
        (GR_N, ManualStop(graceful=True), None),  # we stop: we do not help
        (GR_N, ManualStop(), None),
    ],
    ids=[
        "tcp-closed",
        "tcp-closed-v4-only",
        "tcp-closed-no-f-yet",
        "tcp-closed-helper-only",
        "tcp-closed-no-gr",
        "cease-with-n",
        "cease-without-n",
        "hard-reset",
        "hold-expired-with-n",
        "hold-expired-without-n",
        "update-error-with-n",
        "header-error-with-n",
        "peer-reconnected",
        "our-graceful-stop",
        "our-hard-stop",
    ],
)
def test_which_ends_keep_the_peers_routes(
    cap: GracefulRestart | None, event: Event, kept: frozenset[Family] | None
) -> None:
    session, _ = established(cap)
    actions = session.handle(event, 10.0)
    assert session.state is State.IDLE
    stale = of_type(actions, RoutesStale)
    down = actions.index(SessionDown(session.reason))  # type: ignore[arg-type]
    if kept is None:
        assert stale == [] and session.stale == frozenset()
        assert not session.timers.running(Timer.RESTART)
        return
    assert stale == [RoutesStale(kept, PEER_RESTART_TIME)]
    assert actions.index(stale[0]) < down  # kept before the rest goes with SessionDown
    assert session.stale == kept
    assert session.timers.deadline(Timer.RESTART) == 10.0 + PEER_RESTART_TIME


def test_peer_reconnected_without_graceful_restart_keeps_the_established_connection() -> None:
    """RFC 4271 §6.8: Established wins; the driver refuses the new connection."""
    session, _ = established(None)
    assert not session.takes_reconnect
    assert session.handle(PeerReconnected(), 1.0) == []
    assert session.state is State.ESTABLISHED
    with_gr, _ = established(GR_NO_N)
    assert with_gr.takes_reconnect
    actions = with_gr.handle(PeerReconnected(), 1.0)
    assert notifications(actions) == [] and CloseConnection() in actions  # the old one: no words
    assert with_gr.reason is Reason.PEER_RESTARTED and with_gr.awaiting_restart


# ---------------------------------------------------------------------- helper: the restart timer
def _restarting_peer(cap: GracefulRestart = GR_N, now: float = 10.0, config: FsmConfig = CFG) -> Session:
    session, _ = established(cap, config)
    session.handle(TcpConnectionFails(), now)
    assert session.stale == BOTH
    return session


def test_restart_timer_deletes_the_stale_routes_when_the_peer_does_not_come_back() -> None:
    session = _restarting_peer()
    deadline = session.timers.deadline(Timer.RESTART)
    assert deadline == 10.0 + PEER_RESTART_TIME
    now = 10.0
    # meanwhile our own attempts fail: connection timers come and go, the restart timer stays
    while now + CFG.connect_retry_time < deadline:
        now = session.next_deadline() or now
        session.handle_timers(now)
        if session.state is State.CONNECT:
            session.handle(TcpConnectionAcknowledged(), now)
            session.handle(TcpConnectionFails(), now)  # OpenSent -> Active
        assert session.timers.deadline(Timer.RESTART) == deadline
        assert not of_type(session.handle_timers(now), StaleRoutesDeleted)
    actions = session.handle_timers(deadline)
    assert StaleRoutesDeleted(BOTH, StaleCause.RESTART_TIME_EXPIRED) in actions
    assert session.stale == frozenset() and not session.timers.running(Timer.RESTART)


@pytest.mark.parametrize(
    ("new_cap", "deleted_at_once"),
    [
        (GR_N, frozenset()),  # both families preserved: wait for End-of-RIB
        (peer_gr((V4, True), (V6, False)), frozenset({V6})),  # F bit clear: that family goes now
        (peer_gr((V4, True)), frozenset({V6})),  # family missing from the new capability
        (None, BOTH),  # no capability on the new session at all
    ],
    ids=["preserved", "f-bit-clear", "family-missing", "no-capability"],
)
def test_what_the_new_capability_keeps(
    new_cap: GracefulRestart | None, deleted_at_once: frozenset[Family]
) -> None:
    """RFC 4724 §4.2: once re-established, families not preserved by the new capability go at once;
    the restart timer stops and the stale timer starts for the rest."""
    session = _restarting_peer()
    _, actions = established(new_cap, now=20.0, session=session)
    deleted = of_type(actions, StaleRoutesDeleted)
    assert deleted == (
        [StaleRoutesDeleted(deleted_at_once, StaleCause.NOT_PRESERVED)] if deleted_at_once else []
    )
    assert actions.index(SessionEstablished(session.negotiated)) < (  # type: ignore[arg-type]
        actions.index(deleted[0]) if deleted else len(actions)
    )
    assert session.stale == BOTH - deleted_at_once
    assert not session.timers.running(Timer.RESTART)
    assert session.timers.deadline(Timer.STALE) == (20.0 + GR.stale_time if session.stale else None)


# ---------------------------------------------------------------------- helper: End-of-RIB and stale timer
def _back(now: float = 20.0, config: FsmConfig = CFG) -> Session:
    session = _restarting_peer(config=config)
    established(GR_N, config, now=now, session=session)
    return session


def test_end_of_rib_sweeps_each_family() -> None:
    session = _back()
    route = UpdateReceived(Update(withdrawn=((0x0A000000, 8),)))  # an ordinary UPDATE sweeps nothing
    assert not of_type(session.handle(route, 21.0), StaleRoutesDeleted)
    actions = session.handle(UpdateReceived(Update.end_of_rib(V6)), 22.0)
    assert StaleRoutesDeleted(frozenset({V6}), StaleCause.END_OF_RIB) in actions
    assert session.stale == {V4} and session.timers.running(Timer.STALE)
    actions = session.handle(UpdateReceived(Update.end_of_rib(V4)), 23.0)
    assert StaleRoutesDeleted(frozenset({V4}), StaleCause.END_OF_RIB) in actions
    assert session.stale == frozenset() and not session.timers.running(Timer.STALE)
    again = session.handle(UpdateReceived(Update.end_of_rib(V4)), 24.0)  # a later one: nothing stale
    assert not of_type(again, StaleRoutesDeleted)


def test_stale_timer_deletes_what_the_peer_did_not_end() -> None:
    session = _back(now=20.0, config=dataclasses.replace(CFG, hold_time=0))  # no hold timer to expire first
    session.handle(UpdateReceived(Update.end_of_rib(V4)), 21.0)
    assert not of_type(session.handle_timers(20.0 + GR.stale_time - 0.5), StaleRoutesDeleted)
    actions = session.handle_timers(20.0 + GR.stale_time)
    assert actions == [StaleRoutesDeleted(frozenset({V6}), StaleCause.STALE_TIME_EXPIRED)]
    assert session.state is State.ESTABLISHED and session.stale == frozenset()


# ---------------------------------------------------------------------- helper: consecutive restarts
@pytest.mark.parametrize("eor_first", [frozenset(), frozenset({V4})], ids=["no-eor", "v4-eor"])
def test_second_restart_during_a_restart(eor_first: frozenset[Family]) -> None:
    """RFC 4724 §4.2, consecutive restarts: the peer drops again before its End-of-RIB. The routes
    kept are marked stale again (``RoutesStale``: what is still stale from the first restart is
    deleted by the RIB), the restart timer runs anew with the new capability's time, the stale
    timer stops."""
    session = _back(now=20.0)
    for family in eor_first:
        session.handle(UpdateReceived(Update.end_of_rib(family)), 21.0)
    new_time = peer_gr((V4, True), (V6, True), restart_time=45)
    session.handle(TcpConnectionFails(), 25.0)  # the first re-established session: GR_N, 60 s
    assert session.stale == BOTH and session.timers.deadline(Timer.RESTART) == 25.0 + PEER_RESTART_TIME
    assert not session.timers.running(Timer.STALE)
    _, actions = established(new_time, now=30.0, session=session)
    assert not of_type(actions, StaleRoutesDeleted)
    actions = session.handle(NotificationReceived(Notification(6, 4)), 31.0)  # a third restart, N bit
    assert RoutesStale(BOTH, 45) in actions
    assert session.timers.deadline(Timer.RESTART) == 31.0 + 45


def test_restart_timer_is_not_extended_by_failed_attempts() -> None:
    """A connection that fails before Established is no new restart: the deadline stays."""
    session = _restarting_peer(now=10.0)
    deadline = session.timers.deadline(Timer.RESTART)
    session.handle_timers(10.0 + CFG.idle_hold_time)
    for event in (TcpConnectionAcknowledged(), OpenReceived(peer_open(GR_N))):
        session.handle(event, 16.0)
    actions = session.handle(NotificationReceived(Notification(6, 2)), 17.0)  # in OpenConfirm
    assert not of_type(actions, RoutesStale) and session.timers.deadline(Timer.RESTART) == deadline


@pytest.mark.parametrize(
    ("event", "during"),
    [
        (ManualStop(), "down"),
        (ManualStop(), "back"),
        (HARD_RESET, "back"),
        (NotificationReceived(Notification(6, 2)), "back-no-n"),
    ],
    ids=["stop-while-down", "stop-while-back", "hard-reset-while-back", "cease-without-n-while-back"],
)
def test_the_wait_ends_for_good(event: Event, during: str) -> None:
    session = _restarting_peer(cap=GR_NO_N if during == "back-no-n" else GR_N)
    if during != "down":
        established(GR_NO_N if during == "back-no-n" else GR_N, now=20.0, session=session)
    actions = session.handle(event, 30.0)
    assert StaleRoutesDeleted(BOTH, StaleCause.SESSION_ENDED) in actions
    assert not of_type(actions, RoutesStale) and session.stale == frozenset()
    assert not session.timers.running(Timer.RESTART) and not session.timers.running(Timer.STALE)


# ---------------------------------------------------------------------- refusals are no flaps
@pytest.mark.parametrize(
    ("subcode", "hold"),
    [
        (CeaseSub.CONNECTION_COLLISION_RESOLUTION, [7.0, 7.0, 7.0, 7.0]),  # no growth
        (CeaseSub.CONNECTION_REJECTED, [7.0, 7.0, 7.0, 7.0]),
        (CeaseSub.ADMINISTRATIVE_SHUTDOWN, [5.0, 10.0, 20.0, 40.0]),  # a real oscillation: damped
    ],
    ids=["collision", "rejected", "shutdown"],
)
def test_refusal_in_open_confirm_is_no_flap(subcode: CeaseSub, hold: list[float]) -> None:
    """A ToR still holding a (stale) session with our floating IP refuses the new holder's
    connection after the OPENs were exchanged: that refusal must not grow the back-off."""
    session = Session(CFG)
    session.handle(ManualStart(), 0.0)
    holds = []
    now = 0.0
    for _ in hold:
        for event in (TcpConnectionAcknowledged(), OpenReceived(peer_open(GR_N))):
            session.handle(event, now)
        assert session.state is State.OPEN_CONFIRM
        session.handle(NotificationReceived(Notification(ErrorCode.CEASE, subcode)), now)
        deadline = session.timers.deadline(Timer.IDLE_HOLD)
        assert deadline is not None
        holds.append(deadline - now)
        now = deadline
        session.handle_timers(now)
        assert session.state is State.CONNECT
    assert holds == hold


# ---------------------------------------------------------------------- both roles, back to back
def test_restart_between_two_sessions() -> None:
    """A restarts gracefully (N bit both sides); B keeps A's routes stale; the new A (R bit) comes
    back, sends End-of-RIB per family, and B sweeps what A did not re-send."""
    a = Session(dataclasses.replace(CFG_A, graceful_restart=GR))
    b = Session(dataclasses.replace(CFG_B, graceful_restart=dataclasses.replace(GR, restart_time=90)))
    pair = Pair(a, b)
    pair.feed("a", ManualStart())
    pair.feed("b", ManualStart(passive=True))
    pair.connect("a")
    pair.run()
    assert a.state is b.state is State.ESTABLISHED
    pair.feed("a", ManualStop(CeaseSub.ADMINISTRATIVE_RESET, "bgpd restarting", graceful=True))
    pair.run()
    stale = of_type(pair.log["b"], RoutesStale)
    assert stale == [RoutesStale(BOTH, 120)] and b.state is State.IDLE and b.awaiting_restart

    a2 = Session(a.config, restarting=True)
    pair2 = Pair(a2, b, now=5.0)
    pair2.feed("a", ManualStart())
    pair2.connect("a")
    pair2.run()
    assert a2.state is b.state is State.ESTABLISHED and not a2.restarting
    assert b.peer_open is not None and our_gr(b.peer_open).restart_state  # type: ignore[union-attr]
    assert b.stale == BOTH and b.timers.running(Timer.STALE)
    for family in (V4, V6):
        pair2.apply("a", a2.send_update(Update.end_of_rib(family), pair2.now))
    pair2.run()
    assert of_type(pair2.log["b"], StaleRoutesDeleted) == [
        StaleRoutesDeleted(frozenset({V4}), StaleCause.END_OF_RIB),
        StaleRoutesDeleted(frozenset({V6}), StaleCause.END_OF_RIB),
    ]
    assert b.stale == frozenset() and not b.timers.running(Timer.STALE)
    assert [c.new for c in changes(pair2.log["b"])][-1] is State.ESTABLISHED

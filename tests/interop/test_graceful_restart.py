"""Graceful restart (RFC 4724, RFC 8538) against GoBGP 3.10 and BIRD 2.0.12, both roles.

bgpd restarting, the routers as helpers: what each stop puts on the wire and what the router then
does with our routes; the new session's Restart State bit, End-of-RIB and the sweep of a route the
new plan lost. The routers restarting, bgpd as the helper: their routes kept stale, the F bit of
their new OPEN honoured, the sweep at their End-of-RIB, and (RFC 8538 §4) a hold timer expiry.
Where a router cannot do something (BIRD has no N bit), the test asserts what it does instead.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from bgpd.speaker.status import SessionStatus
from bgpd.wire.constants import CeaseSub
from tests.interop.netlab import BirdPeer, GoBgpPeer, GracefulRestart, wait_for
from tests.interop.speaker_host import (
    FAST_TIMERS,
    FLOATING_1,
    LOCAL_ASN,
    PEER_ASN,
    PEER_V4,
    Topology,
    node_routes,
    session_config,
)

pytestmark = pytest.mark.interop

ROUTER_RESTART_TIME = 30
KEPT, DROPPED = "10.244.1.0/24", "10.244.2.0/24"  # ours: node 2 leaves while bgpd is down
THEIRS_KEPT, THEIRS_DROPPED = "192.0.2.0/24", "198.51.100.0/24"  # the router's


def established(status: SessionStatus) -> bool:
    return status.established


def stale_map(topo: Topology) -> dict[str, bool]:
    """What bgpd received on ``s1``: prefix → stale."""
    routes = topo.host.run(lambda: topo.host.speaker.received_routes("s1"))
    return {r.prefix: r.stale for r in routes}


def gr_status(status: SessionStatus) -> dict[str, object]:
    data = status.to_control()["gracefulRestart"]
    assert isinstance(data, dict)
    return data


# ---------------------------------------------------------------------- GoBGP as the helper
def gobgp_helper(topo: Topology, *, notification: bool) -> GoBgpPeer:
    peer = GoBgpPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    gr = GracefulRestart(restart_time=ROUTER_RESTART_TIME, notification=notification, helper_only=True)
    peer.add_neighbor(
        FLOATING_1, LOCAL_ASN, passive=True, local_address=PEER_V4, hold_time=9, graceful_restart=gr
    )
    peer.start()
    return peer


def gobgp_paths(peer: GoBgpPeer) -> dict[str, bool]:
    """prefix → stale, for both families of GoBGP's table."""
    out = {}
    for family in ("ipv4", "ipv6"):
        for prefix, paths in peer.global_rib(family).items():
            out[prefix] = bool(paths[0].get("stale", False))
    return out


def _up_with_two_nodes(topo: Topology, routes: Callable[[], object], count: int) -> SessionStatus:
    """Our session with nodes 1 and 2, until ``routes()`` (the router's view) holds ``count``."""
    host = topo.host
    host.call(host.speaker.add_session(session_config(**FAST_TIMERS), node_routes(1, 2)))
    status = host.wait_status("s1", established, 15)
    wait_for(lambda: len(routes()) == count, 10, f"our {count} routes at the router")  # type: ignore[arg-type]
    return status


def gobgp_up(topo: Topology, *, notification: bool) -> tuple[GoBgpPeer, SessionStatus]:
    peer = gobgp_helper(topo, notification=notification)
    return peer, _up_with_two_nodes(topo, lambda: gobgp_paths(peer), 4)


def _restart_bgpd(topo: Topology, *, graceful: bool = True) -> None:
    """What a SIGTERM does to one session: a graceful stop (or, not graceful, a withdrawing one)."""
    host = topo.host
    host.call(
        host.speaker.remove_session("s1", CeaseSub.ADMINISTRATIVE_RESET, "bgpd restarting", graceful=graceful)
    )


def _back_without_node_2(topo: Topology) -> None:
    """bgpd's next start, within the restart time: the Restart State bit, node 1 only."""
    host = topo.host
    host.call(host.speaker.add_session(session_config(**FAST_TIMERS), node_routes(1), restarting=True))
    host.wait_status("s1", established, 15)


def test_gobgp_with_the_n_bit_keeps_our_routes_through_a_graceful_stop(topo: Topology) -> None:
    peer, status = gobgp_up(topo, notification=True)
    assert "graceful-restart-notification" in status.capabilities["negotiated"]

    _restart_bgpd(topo)
    # RFC 8538 §3: a Cease that is not Hard Reset: GoBGP logs it and keeps the routes, stale
    wait_for(lambda: "bgpd restarting" in peer.log_text(), 5, "our Cease in GoBGP's log")
    peer.wait_state(FLOATING_1, lambda s: s != "established", 5, "GoBGP's session to drop")
    wait_for(lambda: set(gobgp_paths(peer).values()) == {True}, 5, "GoBGP to mark our routes stale")
    assert len(gobgp_paths(peer)) == 4

    _back_without_node_2(topo)
    # the whole table, End-of-RIB, and GoBGP sweeps node 2 (GoBGP idles 5 s after a drop first)
    wait_for(lambda: gobgp_paths(peer) == {KEPT: False, "2001:db8:1::/64": False}, 20, "the sweep at GoBGP")
    assert "restart flag is not set" not in peer.log_text()  # our OPEN had the Restart State bit


def test_gobgp_without_the_n_bit_gets_no_notification_and_keeps_our_routes(topo: Topology) -> None:
    peer, status = gobgp_up(topo, notification=False)
    assert "graceful-restart" in status.capabilities["negotiated"]
    assert "graceful-restart-notification" not in status.capabilities["negotiated"]
    _restart_bgpd(topo)
    peer.wait_state(FLOATING_1, lambda s: s != "established", 5, "GoBGP's session to drop")
    wait_for(lambda: set(gobgp_paths(peer).values()) == {True}, 5, "GoBGP to mark our routes stale")
    assert "received notification" not in peer.log_text()  # RFC 4724 §4: only the TCP close


def test_gobgp_drops_our_routes_at_once_on_a_hard_reset(topo: Topology) -> None:
    peer, _ = gobgp_up(topo, notification=True)
    _restart_bgpd(topo, graceful=False)
    wait_for(lambda: gobgp_paths(peer) == {}, 3, "GoBGP to drop every route")
    assert "Reason=hard-reset" in peer.log_text()  # Hard Reset standing for 6/4 (RFC 8538 §3)


# ---------------------------------------------------------------------- BIRD as the helper
def bird_helper(topo: Topology) -> BirdPeer:
    peer = BirdPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    gr = GracefulRestart(restart_time=ROUTER_RESTART_TIME)
    peer.add_neighbor(
        "gwsession", FLOATING_1, LOCAL_ASN, local_address=PEER_V4, passive=True, graceful_restart=gr
    )
    peer.start()
    return peer


def bird_routes(peer: BirdPeer) -> set[str]:
    return set(peer.next_hops("master4", "gwsession")) | set(peer.next_hops("master6", "gwsession"))


def test_bird_without_the_n_bit_keeps_our_routes_through_a_bare_close(topo: Topology) -> None:
    """BIRD 2.0.12 has no RFC 8538: any NOTIFICATION flushes our routes there. So bgpd's graceful
    stop sends none: the connection closes, BIRD keeps the routes (graceful restart active) and
    never sees the "bgpd restarting" text. The new session sweeps node 2 at End-of-RIB."""
    peer = bird_helper(topo)
    status = _up_with_two_nodes(topo, lambda: bird_routes(peer), 4)
    assert "graceful-restart-notification" not in status.capabilities["negotiated"]
    _restart_bgpd(topo)
    wait_for(lambda: peer.protocol("gwsession").get("restarting") == "yes", 5, "BIRD's graceful restart")
    assert len(bird_routes(peer)) == 4
    assert "Received:" not in peer.log_text() and "bgpd restarting" not in peer.log_text()

    _back_without_node_2(topo)
    wait_for(lambda: bird_routes(peer) == {KEPT, "2001:db8:1::/64"}, 10, "the sweep at BIRD")
    wait_for(lambda: peer.protocol("gwsession").get("restarting") is None, 5, "BIRD's graceful restart done")
    assert "END-OF-RIB" in peer.log_text()


def test_bird_drops_our_routes_on_a_withdrawing_stop(topo: Topology) -> None:
    """Without the N bit there is no Hard Reset (RFC 8538 §3): the plain Cease, which BIRD
    answers by dropping the routes at once."""
    peer = bird_helper(topo)
    _up_with_two_nodes(topo, lambda: bird_routes(peer), 4)
    _restart_bgpd(topo, graceful=False)
    wait_for(lambda: bird_routes(peer) == set(), 3, "BIRD to drop every route")
    assert 'Received: Administrative reset: "bgpd restarting"' in peer.log_text()


# ---------------------------------------------------------------------- the routers restarting
def gobgp_restarting_peer(topo: Topology) -> GoBgpPeer:
    """GoBGP with graceful restart for both families (not helper-only), connecting to us."""
    peer = GoBgpPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    gr = GracefulRestart(restart_time=ROUTER_RESTART_TIME, notification=True)
    peer.add_neighbor(
        FLOATING_1, LOCAL_ASN, passive=False, local_address=PEER_V4, hold_time=9, graceful_restart=gr
    )
    peer.start()
    return peer


def _passive_session(topo: Topology) -> None:
    host = topo.host
    host.call(host.speaker.add_session(session_config(passive=True, **FAST_TIMERS), node_routes(1)))


def _both_theirs(status: SessionStatus) -> bool:
    """Established with the router's two routes (runs on the speaker's loop: no ``host.run``)."""
    return status.established and status.prefixes_received == 2


@pytest.mark.parametrize("restarting", [True, False], ids=["gobgpd-r", "plain-start"])
def test_gobgp_restarting_keeps_its_routes_at_bgpd_until_its_end_of_rib(
    topo: Topology, restarting: bool
) -> None:
    """GoBGP killed and started again: bgpd keeps its routes stale meanwhile (RFC 4724 §4.2).
    ``gobgpd -r`` sets the Restart State and Forwarding State bits: bgpd waits for its End-of-RIB,
    which sweeps the route it no longer has. A plain start clears the F bit: bgpd deletes the stale
    routes as soon as the session is back, and takes what GoBGP sends anew."""
    peer = gobgp_restarting_peer(topo)
    peer.announce(THEIRS_KEPT, PEER_V4)
    peer.announce(THEIRS_DROPPED, PEER_V4)
    _passive_session(topo)
    topo.host.wait_status("s1", _both_theirs, 30)  # GoBGP connects 5-10 s after its start
    assert stale_map(topo) == {THEIRS_KEPT: False, THEIRS_DROPPED: False}

    peer.kill()  # its kernel closes the connection: no NOTIFICATION
    down = topo.host.wait_status("s1", lambda s: not s.established, 5)
    assert stale_map(topo) == {THEIRS_KEPT: True, THEIRS_DROPPED: True}
    assert gr_status(down)["peerRestarting"] is True
    left = gr_status(down)["staleSecondsLeft"]  # its Restart Time, from its last OPEN
    assert isinstance(left, float) and ROUTER_RESTART_TIME - 5 < left <= ROUTER_RESTART_TIME

    peer.start(restarting=restarting)
    peer.announce(THEIRS_KEPT, PEER_V4)  # only this one, before it connects again (5-10 s)
    # (without -r the stale routes go at once and GoBGP's route comes after: wait for both)
    back = topo.host.wait_status(
        "s1", lambda s: s.established and gr_status(s)["staleRoutes"] == 0 and s.prefixes_received == 1, 30
    )
    assert stale_map(topo) == {THEIRS_KEPT: False}
    assert gr_status(back)["peerRestartState"] is restarting
    if restarting:
        assert gr_status(back)["peerFamilies"] == ["ipv4-unicast", "ipv6-unicast"]
        assert back.counters["staleRoutesDeleted"] == 1  # swept at its End-of-RIB
    else:
        assert gr_status(back)["peerFamilies"] == []  # F bit clear: nothing preserved
        assert back.counters["staleRoutesDeleted"] == 2  # deleted at once, THEIRS_KEPT re-sent
    assert back.counters["peerRestarts"] == 1


def test_hold_timer_expiry_keeps_the_routes_with_the_n_bit(topo: Topology) -> None:
    """RFC 8538 §4: with the N bit our hold timer expiry (we send 4/0) is a graceful restart too."""
    peer = gobgp_restarting_peer(topo)
    peer.announce(THEIRS_KEPT, PEER_V4)
    peer.announce(THEIRS_DROPPED, PEER_V4)
    _passive_session(topo)
    topo.host.wait_status("s1", _both_theirs, 30)
    assert peer.process is not None
    os.kill(peer.process.pid, signal.SIGSTOP)
    try:
        down = topo.host.wait_status("s1", lambda s: not s.established, 15)  # hold time 9 s
        assert down.last_sent is not None and down.last_sent.code == 4
        assert stale_map(topo) == {THEIRS_KEPT: True, THEIRS_DROPPED: True}
    finally:
        os.kill(peer.process.pid, signal.SIGCONT)


def test_bird_restarting_keeps_its_routes_at_bgpd_until_its_end_of_rib(topo: Topology) -> None:
    """BIRD killed and started with ``bird -R`` (graceful restart recovery) and one static route
    fewer: bgpd keeps its routes stale meanwhile, then sweeps the one it lost at End-of-RIB."""
    peer = BirdPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    gr = GracefulRestart(restart_time=ROUTER_RESTART_TIME)
    peer.add_neighbor(
        "gwsession", FLOATING_1, LOCAL_ASN, local_address=PEER_V4, passive=True, graceful_restart=gr
    )
    peer.add_static(THEIRS_KEPT)
    peer.add_static(THEIRS_DROPPED)
    peer.start()
    host = topo.host
    host.call(host.speaker.add_session(session_config(**FAST_TIMERS), node_routes(1)))
    host.wait_status("s1", _both_theirs, 15)

    peer.kill()
    down = host.wait_status("s1", lambda s: not s.established, 5)
    assert stale_map(topo) == {THEIRS_KEPT: True, THEIRS_DROPPED: True}
    assert gr_status(down)["peerRestarting"] is True

    peer.static_routes.remove(THEIRS_DROPPED)
    peer.start(restarting=True)
    back = host.wait_status("s1", lambda s: s.established and gr_status(s)["staleRoutes"] == 0, 15)
    assert stale_map(topo) == {THEIRS_KEPT: False}
    assert gr_status(back)["peerRestartState"] is True
    assert back.counters["staleRoutesDeleted"] == 1 and back.counters["peerRestarts"] == 1

"""Run bgpd's speaker inside a lab namespace, in this test process.

A network namespace is a property of a thread (setns(2) with CLONE_NEWNET changes only the caller),
and a socket stays in the namespace it was created in. So the speaker gets an event-loop thread that
first enters the namespace: every socket it opens (connections, listeners) lives there, while the
test thread stays in the root namespace and drives the speaker through ``call``. No daemon process,
no control protocol in between, and the test can read the speaker's state directly.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import uvloop

from bgpd.plan.session_config import SessionConfig
from bgpd.rib.routes import Route
from bgpd.speaker import Speaker
from bgpd.speaker.status import SessionStatus
from tests.interop.netlab import Namespace, NetLab

CLONE_NEWNET: Final = 0x40000000
T = TypeVar("T")


def _enter_namespace(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class SpeakerHost:
    """A ``Speaker`` on a uvloop thread inside namespace ``namespace``."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name=f"speaker-{namespace}", daemon=True)
        self._thread.start()
        self._ready.result(timeout=10)
        self.speaker: Speaker = self.call(self._make())

    async def _make(self) -> Speaker:
        return Speaker()

    def _run(self) -> None:
        try:
            _enter_namespace(self.namespace)
        except OSError as exc:
            self._ready.set_exception(exc)
            return
        asyncio.set_event_loop(self.loop)
        self._ready.set_result(None)
        self.loop.run_forever()

    def call(self, awaitable: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the speaker's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(awaitable, self.loop).result(timeout)

    def run(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function on the speaker's loop (its state is only touched from there)."""

        async def wrapper() -> T:
            return fn()

        return self.call(wrapper(), timeout)

    def wait_status(
        self, name: str, predicate: Callable[[SessionStatus], bool], timeout: float
    ) -> SessionStatus:
        """Block until the session's status satisfies ``predicate`` (woken by the speaker's own
        change notifications, no polling); TimeoutError after ``timeout`` seconds."""
        return self.call(self.speaker.wait_for(name, predicate, timeout), timeout + 5)

    def status(self, name: str) -> SessionStatus:
        return self.run(lambda: self.speaker.state(name))

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self.call(self.speaker.close(), timeout=15)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


# -- the lab every speaker interop test uses -------------------------------------------------------
# One L2 segment: bgpd's host with two floating IPs, the peer router, and (unassigned) node addresses
# on the same subnet as third-party next hops (RFC 4271 §5.1.3).
FLOATING_1, FLOATING_2, FLOATING_V6 = "10.0.0.100", "10.0.0.101", "fd00::100"
PEER_V4, PEER_V6 = "10.0.0.254", "fd00::254"
NODE_V4, NODE_V6 = "10.0.0.5", "fd00::5"
LOCAL_ASN, PEER_ASN = 65001, 65000
FAST_TIMERS: Final = {"hold_time": 3, "connect_retry_time": 1.0, "idle_hold_time": 0.5, "idle_hold_max": 2.0}


@dataclass
class Topology:
    lab: NetLab
    bgpd_ns: Namespace
    peer_ns: Namespace
    host: SpeakerHost


def build_topology(lab: NetLab) -> Topology:
    segment = lab.segment()
    bgpd_ns, peer_ns = lab.namespace(), lab.namespace()
    lab.attach(bgpd_ns, segment, [f"{FLOATING_1}/24", f"{FLOATING_2}/24", f"{FLOATING_V6}/64"])
    lab.attach(peer_ns, segment, [f"{PEER_V4}/24", f"{PEER_V6}/64"])
    return Topology(lab, bgpd_ns, peer_ns, SpeakerHost(bgpd_ns.name))


def session_config(
    name: str = "s1",
    local: str = FLOATING_1,
    peer: str = PEER_V4,
    local_asn: int = LOCAL_ASN,
    peer_asn: int = PEER_ASN,
    **options: Any,
) -> SessionConfig:
    return SessionConfig(
        name=name,
        local_ip=ipaddress.ip_address(local),
        peer_ip=ipaddress.ip_address(peer),
        local_asn=local_asn,
        peer_asn=peer_asn,
        router_id=ipaddress.IPv4Address(local if ":" not in local else FLOATING_1),
        **options,
    )


def node_routes(*indexes: int) -> list[Route]:
    """Pod CIDRs of nodes, announced with the node's own addresses as next hops: an IPv4 /24 and an
    IPv6 /64 per index (both over the IPv4 session, MP-BGP)."""
    routes = []
    for i in indexes:
        routes.append(Route.parse(f"10.244.{i}.0/24", NODE_V4))
        routes.append(Route.parse(f"2001:db8:{i}::/64", NODE_V6))
    return routes


def received(host: SpeakerHost, name: str) -> dict[str, str]:
    """prefix -> next hop of what the speaker received on session ``name``."""
    routes = host.run(lambda: host.speaker.received_routes(name))
    return {r.prefix: r.next_hop for r in routes}

"""The speaker: every configured session, the listeners they share, and the daemon's API.

The daemon calls ``add_session`` / ``remove_session`` / ``reconfigure_session`` / ``set_routes`` /
``shutdown_session`` / ``refresh_session`` and reads ``state``, ``received_routes`` and
``advertised_routes``. One listener serves every session with the same local address and port; it
is opened with the first such session and closed with the last; its TTL is the largest of theirs,
its GTSM minimum TTL the lowest, and it holds the TCP-MD5 key of each of their peers that has one
(see ``sockets``). Everything here runs on one event loop, so no locks are needed: each call
completes between two loop iterations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator

from bgpd.plan.session_config import SessionConfig
from bgpd.rib.routes import Route
from bgpd.speaker.connect_gate import ConnectGate
from bgpd.speaker.connection import Connection
from bgpd.speaker.listener import Listener
from bgpd.speaker.listing import Within
from bgpd.speaker.peer import PeerTask, socket_options
from bgpd.speaker.sockets import IPAddress
from bgpd.speaker.status import ReceivedRoute, SessionReading, SessionStatus, SessionSummary, SoftReset
from bgpd.wire.constants import CeaseSub, Family
from bgpd.wire.nlri import Prefix

_ListenerKey = tuple[IPAddress, int]


class SessionNotFoundError(KeyError):
    """No session with that name."""


class Speaker:
    """All sessions of this host. Create it inside a running event loop."""

    def __init__(self) -> None:
        self._sessions: dict[str, PeerTask] = {}
        self._listeners: dict[_ListenerKey, Listener] = {}
        self._gates: dict[tuple[IPAddress, int], ConnectGate] = {}  # per peer: see connect_gate
        self._changed = asyncio.Event()  # set and replaced on every change: wakes all waiters

    # ------------------------------------------------------------------ sessions
    async def add_session(
        self,
        config: SessionConfig,
        routes: Iterable[Route] | None = (),
        *,
        shutdown: str | None = None,
        restarting: bool = False,
    ) -> None:
        """Start a session (it connects, or waits for the peer when passive); with ``shutdown``,
        add it held down by an administrative shutdown with that text, until ``start_session``.
        ``routes`` None: not known yet, the session sends none until ``set_routes`` (see
        ``PeerTask.set_routes``). ``restarting``: the same BGP identity is coming back (bgpd
        restarted within the restart time, or took over the floating IP), so its OPENs carry the
        Restart State bit (RFC 4724 §4.1)."""
        if config.name in self._sessions:
            raise ValueError(f"session {config.name!r} exists already")
        clash = self._by_endpoints(config.local_ip, config.peer_ip)
        if clash is not None:  # the listener could not tell their connections apart
            raise ValueError(
                f"session {clash.config.name!r} already runs {config.local_ip} -> {config.peer_ip}"
            )
        await self._open_listener(config)
        gate = self._gates.get((config.peer_ip, config.port))
        if gate is None:
            gate = self._gates[(config.peer_ip, config.port)] = ConnectGate(asyncio.get_running_loop())
        task = PeerTask(config, on_change=self._notify, gate=gate, restarting=restarting)
        if routes is not None:
            task.set_routes(routes)
        self._sessions[config.name] = task
        self._tune_listener(_key(config))
        if shutdown is None:
            task.start()
        else:
            task.hold_down(shutdown)

    async def remove_session(
        self, name: str, subcode: int = CeaseSub.PEER_DECONFIGURED, text: str = "", *, graceful: bool = False
    ) -> None:
        """Stop a session and forget it: Cease with ``subcode`` (RFC 4486). ``graceful``: the
        session comes back (here after a reset, or on another gateway), so a graceful restart peer
        keeps our routes; otherwise they are withdrawn (see ``PeerTask.stop``)."""
        task = self._task(name)
        await task.stop(subcode, text, graceful=graceful)
        del self._sessions[name]
        self._tune_listener(_key(task.config))
        self._notify()

    async def reconfigure_session(self, name: str, config: SessionConfig) -> None:
        """Apply connection-level settings without a flap (the daemon resets a session whose OPEN
        would change instead): the live connection keeps running with the new TTL, a new port,
        passive mode, freebind or connect-retry timer apply to the next connection, and a session
        moving to another port is served by that port's listener from now on. If that listener
        cannot be opened, nothing changes (OSError)."""
        task = self._task(name)
        old = task.config
        if (config.name, config.local_ip, config.peer_ip) != (old.name, old.local_ip, old.peer_ip):
            raise ValueError(f"session {name!r}: a new name or address pair is a new session, not a change")
        await self._open_listener(config)
        task.reconfigure(config)
        self._tune_listener(_key(old))
        self._tune_listener(_key(config))
        self._notify()

    async def shutdown_session(self, name: str, text: str = "") -> None:
        """Administrative shutdown: Cease 6/2 with the RFC 9003 communication ``text`` (as a Hard
        Reset when the N bit was negotiated: the peer drops our routes); the session stays down
        (refusing the peer's connections with the same Cease) until ``start_session``."""
        await self._task(name).stop(CeaseSub.ADMINISTRATIVE_SHUTDOWN, text)

    def start_session(self, name: str) -> None:
        """Undo ``shutdown_session``."""
        self._task(name).start()

    def refresh_session(self, name: str) -> SoftReset:
        """Soft reset without a flap: re-send the session's Adj-RIB-Out (End-of-RIB after each
        family) and, when the peer offered route refresh, ask it for its routes again (RFC 2918).
        Raises ``SessionNotEstablishedError`` unless the session is Established."""
        return self._task(name).soft_reset()

    def set_routes(self, name: str, routes: Iterable[Route]) -> None:
        """Replace what the session announces; only the difference is sent (Adj-RIB-Out)."""
        self._task(name).set_routes(routes)

    def change_routes(
        self, name: str, announce: Iterable[Route], withdraw: Iterable[tuple[Family, Prefix]]
    ) -> None:
        """Change some of what the session announces, at the cost of the change alone."""
        self._task(name).change_routes(announce, withdraw)

    async def close(self, text: str = "", *, graceful: bool = False) -> None:
        """Stop every session and close the listeners. ``graceful`` (a restart of bgpd): Cease
        Administrative Reset that is not a Hard Reset, or a bare close, so graceful restart peers
        keep our routes; otherwise an Administrative Shutdown that withdraws them (Hard Reset with
        the N bit)."""
        subcode = CeaseSub.ADMINISTRATIVE_RESET if graceful else CeaseSub.ADMINISTRATIVE_SHUTDOWN
        await asyncio.gather(*(t.stop(subcode, text, graceful=graceful) for t in self._sessions.values()))
        self._sessions.clear()
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        return sorted(self._sessions)

    def config(self, name: str) -> SessionConfig:
        return self._task(name).config

    def state(self, name: str) -> SessionStatus:
        """A snapshot of the session: FSM state, counters, last error, history."""
        return self._task(name).status()

    def states(self) -> list[SessionStatus]:
        return [self._sessions[name].status() for name in sorted(self._sessions)]

    def summaries(self) -> dict[str, SessionSummary]:
        """Every session's control-protocol object, cheaply (``SessionSummary``), by name."""
        return {name: task.summary() for name, task in self._sessions.items()}

    def readings(self) -> list[SessionReading]:
        """Every session's numbers for the metrics, by name; constant time per session."""
        return [self._sessions[name].reading() for name in sorted(self._sessions)]

    def received_routes(self, name: str) -> list[ReceivedRoute]:
        return self._task(name).received_routes()

    def received(self, name: str, within: Within | None = None) -> Iterator[ReceivedRoute | None]:
        """The session's received routes inside ``within``, as a listing in slices (``listing``)."""
        return self._task(name).received(within)

    def advertised_routes(self, name: str) -> list[Route]:
        return self._task(name).advertised_routes()

    @property
    def rejected_connections(self) -> int:
        """Connections refused because no session is configured for their addresses."""
        return sum(listener.rejected for listener in self._listeners.values())

    async def wait_for(
        self, name: str, predicate: Callable[[SessionStatus], bool], timeout: float
    ) -> SessionStatus:
        """Wait (bounded) until ``predicate(state(name))`` holds; woken by every change of the
        session (state, counters, routes), so callers never poll."""

        async def check() -> SessionStatus:
            while True:
                status = self.state(name)
                if predicate(status):
                    return status
                await self._changed.wait()

        return await asyncio.wait_for(check(), timeout)

    # ------------------------------------------------------------------ internals
    def _task(self, name: str) -> PeerTask:
        try:
            return self._sessions[name]
        except KeyError:
            raise SessionNotFoundError(name) from None

    def _by_endpoints(self, local: IPAddress | None, peer: IPAddress | None) -> PeerTask | None:
        """The session from ``local`` to ``peer``: there is at most one per address pair."""
        for task in self._sessions.values():
            if task.config.local_ip == local and task.config.peer_ip == peer:
                return task
        return None

    async def _open_listener(self, config: SessionConfig) -> None:
        """Open the listener ``config`` needs unless it is open already."""
        key = _key(config)
        if key not in self._listeners:
            options = socket_options(config)
            keys = {config.peer_ip: options.md5_key} if options.md5_key is not None else {}
            listener = Listener(
                config.local_ip,
                config.port,
                self._admit,
                freebind=config.freebind,
                ttl=options.ttl,
                min_ttl=options.min_ttl,
                md5_keys=keys,
            )
            await listener.start()
            self._listeners[key] = listener

    def _tune_listener(self, key: _ListenerKey) -> None:
        """Give the listener at ``key`` the largest TTL of its sessions, their lowest GTSM minimum
        and their peers' MD5 keys, or close it if it has no session left."""
        listener = self._listeners.get(key)
        if listener is None:
            return
        configs = [t.config for t in self._sessions.values() if _key(t.config) == key]
        if not configs:
            del self._listeners[key]
            listener.close()
            return
        options = {config.peer_ip: socket_options(config) for config in configs}
        listener.tune(
            ttl=max(o.ttl for o in options.values()),
            min_ttl=min(o.min_ttl for o in options.values()),
            md5_keys={peer: o.md5_key for peer, o in options.items() if o.md5_key is not None},
        )

    def _admit(self, conn: Connection) -> bool:
        """Listener callback: hand the connection to the session configured for its addresses
        (which answers and logs a connection it refuses itself)."""
        task = self._by_endpoints(conn.local, conn.peer)
        return task is not None and task.claim(conn)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


def _key(config: SessionConfig) -> _ListenerKey:
    return (config.local_ip, config.port)

"""A recording stand-in for the speaker, and a settable address source, for the daemon's logic."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field

from bgpd.daemon.host.addrwatch import AddressEvent
from bgpd.fsm import State
from bgpd.plan import LocalAddress, SessionConfig
from bgpd.plan.segments import Network
from bgpd.rib.routes import Route
from bgpd.speaker import (
    ReceivedRoute,
    SessionNotEstablishedError,
    SessionReading,
    SessionStatus,
    SessionSummary,
    SoftReset,
)
from bgpd.speaker.listing import Within
from bgpd.speaker.record import Counters
from bgpd.speaker.status import GracefulRestartStatus
from bgpd.wire.constants import Family
from bgpd.wire.nlri import Prefix


def status(config: SessionConfig, fsm_state: str = "Established", sent: int = 0) -> SessionStatus:
    """As the speaker reports it; an Established session negotiated graceful restart when on."""
    graceful = None
    if config.graceful_restart:
        up = fsm_state == "Established"
        graceful = GracefulRestartStatus(
            restart_time=config.restart_time,
            stale_time=config.stale_time,
            restart_state=False,
            peer_restart_time=120 if up else None,
            peer_restart_state=False if up else None,
            notification=True if up else None,
            peer_families=("ipv4-unicast",) if up else (),
            stale_families=(),
            stale_routes=0,
        )
    return SessionStatus(
        name=config.name,
        local_ip=str(config.local_ip),
        peer_ip=str(config.peer_ip),
        local_asn=config.local_asn,
        peer_asn=config.peer_asn,
        fsm_state=fsm_state,
        admin_down=False,
        uptime=12.0 if fsm_state == "Established" else None,
        prefixes_received=0,
        prefixes_sent=sent,
        prefixes_pending=0,
        hold_time=90,
        keepalive_time=30,
        capabilities={},
        counters={"flaps": 0},
        last_error=None,
        last_sent=None,
        last_received=None,
        history=(),
        last_report=time.time(),
        graceful_restart=graceful,
    )


@dataclass
class FakeSpeaker:
    """Records every call the daemon makes; "runs" sessions as Established."""

    sessions: dict[str, SessionConfig] = field(default_factory=dict)
    routes: dict[str, frozenset[Route]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    closed_with: str | None = None
    not_established: set[str] = field(default_factory=set)  # sessions reported down (Active)
    unreconfigurable: set[str] = field(default_factory=set)  # sessions whose new listener fails
    held_down: dict[str, str] = field(default_factory=dict)  # session → its shutdown text
    restarting: list[str] = field(default_factory=list)  # sessions started with the Restart State bit
    graceful: dict[str, bool] = field(default_factory=dict)  # the last stop of each session: graceful?
    closed_graceful: bool | None = None

    async def add_session(
        self,
        config: SessionConfig,
        routes: Iterable[Route] | None = (),
        *,
        shutdown: str | None = None,
        restarting: bool = False,
    ) -> None:
        """Records ``add``, ``add-unplanned`` (routes not known yet) or ``add-held-down``."""
        assert config.name not in self.sessions
        self.sessions[config.name] = config
        self.routes[config.name] = frozenset(routes or ())
        if shutdown is not None:
            self.held_down[config.name] = shutdown
            self.calls.append(("add-held-down", config.name, shutdown))
        else:
            self.calls.append(("add", config.name) if routes is not None else ("add-unplanned", config.name))
        if restarting:
            self.restarting.append(config.name)

    async def shutdown_session(self, name: str, text: str = "") -> None:
        assert name in self.sessions
        self.held_down[name] = text
        self.calls.append(("shutdown", name, text))

    def start_session(self, name: str) -> None:
        assert name in self.sessions
        self.held_down.pop(name, None)
        self.calls.append(("start", name))

    async def remove_session(
        self, name: str, subcode: int = 3, text: str = "", *, graceful: bool = False
    ) -> None:
        del self.sessions[name]
        del self.routes[name]
        self.held_down.pop(name, None)
        self.calls.append(("remove", name, str(subcode), text))
        self.graceful[name] = graceful

    async def reconfigure_session(self, name: str, config: SessionConfig) -> None:
        assert name in self.sessions
        if name in self.unreconfigurable:
            raise OSError(98, "Address already in use")
        self.sessions[name] = config
        self.calls.append(("reconfigure", name))

    def set_routes(self, name: str, routes: Iterable[Route]) -> None:
        assert name in self.sessions
        self.routes[name] = frozenset(routes)
        self.calls.append(("routes", name))

    def change_routes(
        self, name: str, announce: Iterable[Route], withdraw: Iterable[tuple[Family, Prefix]]
    ) -> None:
        assert name in self.sessions
        gone = set(withdraw)
        table = {(r.family, r.prefix): r for r in self.routes[name] if (r.family, r.prefix) not in gone}
        table.update({(r.family, r.prefix): r for r in announce})
        self.routes[name] = frozenset(table.values())
        self.calls.append(("routes", name))

    def refresh_session(self, name: str) -> SoftReset:
        if name in self.not_established:
            raise SessionNotEstablishedError(f"bgpsession {name} is Active, not Established")
        self.calls.append(("refresh", name))
        families = tuple(sorted(self.sessions[name].families))
        return SoftReset(resent=families, requested=families[:1])

    def _fsm_state(self, name: str) -> str:
        if name in self.held_down:
            return "Idle"
        return "Active" if name in self.not_established else "Established"

    def state(self, name: str) -> SessionStatus:
        return status(self.sessions[name], self._fsm_state(name), sent=len(self.routes[name]))

    def readings(self) -> list[SessionReading]:
        return [
            SessionReading(
                name=n,
                fsm_state=State.IDLE if n in self.held_down else State.ESTABLISHED,
                admin_down=n in self.held_down,
                uptime=None if n in self.held_down else 12.0,
                routes_received=1,
                routes_sent=len(self.routes[n]),
                counters=Counters(flaps=1),
                last_error_kind=None,
                last_error_at=None,
                last_notification=None,
            )
            for n in sorted(self.sessions)
        ]

    def summaries(self) -> dict[str, SessionSummary]:
        return {name: self.state(name).summary for name in self.sessions}

    def received(self, name: str, within: Within | None = None) -> Iterator[ReceivedRoute | None]:
        yield ReceivedRoute(
            name, "ipv4-unicast", "0.0.0.0/0", str(self.sessions[name].peer_ip), None, (65002,)
        )

    async def close(self, text: str = "", *, graceful: bool = False) -> None:
        self.closed_with = text
        self.closed_graceful = graceful
        self.sessions.clear()
        self.routes.clear()


class FixedAddresses:
    """An address source the test sets by hand (``addresses``: address → its prefix)."""

    def __init__(self, held: dict[str, Network | None]) -> None:
        self.addresses = dict(held)

    def held(self) -> tuple[LocalAddress, ...]:
        return tuple(LocalAddress(ipaddress.ip_address(a), p) for a, p in self.addresses.items())

    def changes(self) -> AsyncIterator[AddressEvent] | None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

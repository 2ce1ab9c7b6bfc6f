"""The session driver: one per configured session, the glue between sockets, timers and the FSM.

Shape (aioquic's ``transmit()``): every input — bytes from the connection, a connection opened,
failed or closed, the loop timer — becomes one event for the sans-IO FSM; the actions it returns
are carried out here (connect, send, close, session up/down, routes received), and then the one
loop timer of the session is re-armed from the FSM's next deadline.

Routes out: while Established, the Adj-RIB-Out is drained by a pump that runs once per loop
iteration and only while the connection is writable, so back-pressure stops UPDATE production
rather than growing a buffer (see ``connection.py``).

Connection collisions (RFC 4271 §6.8): a connection accepted while the session already has one
in OpenSent/OpenConfirm gets a second FSM of its own (RFC 4271 §8.2.1.2). Once either has the
peer's OPEN (so its BGP Identifier), ``bgpd.fsm.resolve_collision`` decides which connection
survives; the loser's FSM gets ``CollisionDump`` and closes it with Cease / Connection Collision
Resolution (RFC 4486 subcode 7). A connection arriving while the session is Established is
refused the same way. One arriving while the session is Idle waiting for its automatic restart
is the restart (RFC 4271 §8.1.2 event 5, then event 17: see ``bgpd.fsm.session``), so a peer that
comes back is not kept out by our back-off; only a session that is administratively down (or Idle
without a pending restart) answers Cease / Connection Rejected (subcode 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from bgpd.fsm import (
    Action,
    BytesReceived,
    CloseConnection,
    CollisionDump,
    Connect,
    Event,
    FsmConfig,
    ManualStart,
    ManualStop,
    Origin,
    RouteRefreshRequested,
    RoutesReceived,
    Send,
    Session,
    SessionDown,
    SessionEstablished,
    State,
    StateChanged,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    Verdict,
    resolve_collision,
)
from bgpd.logs import session_logger
from bgpd.rib.adj_rib_in import AdjRibIn
from bgpd.rib.adj_rib_out import AdjRibOut, SendContext
from bgpd.rib.routes import ExportPolicy, Route
from bgpd.speaker import sockets
from bgpd.speaker.config import SessionConfig
from bgpd.speaker.connection import CLOSE_GRACE, Connection
from bgpd.speaker.status import (
    NotificationRecord,
    ReceivedRoute,
    SessionRecord,
    SessionStatus,
    SoftReset,
    Transition,
)
from bgpd.wire import DEFAULT_CONTEXT, Notification, encode_message
from bgpd.wire.capabilities import Capability, capability_code
from bgpd.wire.constants import (
    IPV4_UNICAST,
    CapabilityCode,
    CeaseSub,
    ErrorAction,
    ErrorCode,
    Family,
    MessageType,
)
from bgpd.wire.nlri import prefix_to_text

PUMP_BUDGET: Final = 64 * 1024  # octets of UPDATEs produced per loop iteration and session
_OPEN_STATES: Final = frozenset({State.OPEN_SENT, State.OPEN_CONFIRM})
_CONNECTING_STATES: Final = frozenset({State.CONNECT, State.ACTIVE})


def fsm_config(config: SessionConfig) -> FsmConfig:
    """The FSM's view of a session. Enhanced route refresh (RFC 7313) is not offered: the speaker
    answers a ROUTE-REFRESH by sending the family again, without BoRR/EoRR markers."""
    return FsmConfig(
        local_as=config.local_asn,
        bgp_id=int(config.router_id),
        peer_as=config.peer_asn,
        families=config.families,
        hold_time=config.hold_time,
        keepalive_time=config.keepalive_time,
        connect_retry_time=config.connect_retry_time,
        passive=config.passive,
        delay_open_time=config.delay_open_time,
        damp_peer_oscillations=config.damp_peer_oscillations,
        idle_hold_time=config.idle_hold_time,
        idle_hold_max=config.idle_hold_max,
        enhanced_route_refresh=False,
        extended_next_hop=frozenset({IPV4_UNICAST}) if config.extended_next_hop else frozenset(),
    )


class SessionNotEstablishedError(Exception):
    """The operation needs an Established session (e.g. a soft reset)."""


@dataclass(slots=True)
class _Link:
    """One FSM with (at most) one TCP connection; ``origin`` says who opened it (§6.8)."""

    fsm: Session
    conn: Connection | None = None
    origin: Origin = Origin.LOCAL
    logged_received: object = None  # the FSM's last received NOTIFICATION, once logged (collisions)


class PeerTask:
    """Drives one configured session (see the module docstring)."""

    def __init__(self, config: SessionConfig, on_change: Callable[[], None]) -> None:
        self.config = config
        self._fsm_config = fsm_config(config)
        self._on_change = on_change
        self._loop = asyncio.get_running_loop()
        self._log = session_logger(config.name, str(config.peer_ip))
        self.record = SessionRecord(last_report=time.time())
        self._rib_in = AdjRibIn(frozenset(config.families))
        self._rib_out = AdjRibOut()
        self._policy = ExportPolicy(config.local_asn, config.ibgp)
        self._primary = _Link(Session(self._fsm_config))
        self._secondary: _Link | None = None
        self._retired_in: Counter[MessageType] = Counter()  # messages counted by replaced FSMs
        self._timer: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._pump_handle: asyncio.Handle | None = None
        self._admin_down = True

    # ------------------------------------------------------------------ the daemon's side
    def start(self) -> None:
        """Start (or restart after an administrative shutdown)."""
        if not self._admin_down:
            return
        self._admin_down = False
        self._feed(self._primary, ManualStart(passive=self.config.passive))

    async def stop(self, subcode: int, text: str = "") -> None:
        """Stop with Cease ``subcode`` (RFC 4486; Administrative Shutdown/Reset carry ``text`` as
        the RFC 9003 communication) and wait (bounded) until the connections are closed, so the
        NOTIFICATION has left before the caller goes on (e.g. the process exits)."""
        self._admin_down = True
        if self._connecting is not None:
            self._connecting.cancel()
        conns = [link.conn for link in self._links() if link.conn is not None]
        for link in self._links():
            self._feed(link, ManualStop(subcode, text))
        self._retire_secondary()
        await asyncio.gather(*(_closed(c) for c in conns))

    def set_routes(self, routes: Iterable[Route]) -> None:
        self._rib_out.set_routes(routes)
        if self._rib_out.established:
            self._schedule_pump()

    @property
    def established(self) -> bool:
        return self._primary.fsm.state is State.ESTABLISHED and self._rib_out.established

    def soft_reset(self) -> SoftReset:
        """Refresh the routes in both directions without closing the session (Established only).

        Outbound: every negotiated family of the Adj-RIB-Out is sent again, each followed by
        End-of-RIB, through the same back-pressured pump as any route change. Inbound: when the
        peer offered route refresh, a ROUTE-REFRESH per family asks it to send its routes again
        (RFC 2918 §3: never sent to a peer that did not offer the capability); what it re-sends
        replaces the Adj-RIB-In entries as ordinary UPDATEs do (RFC 4271 §3.1)."""
        link = self._primary
        negotiated = link.fsm.negotiated
        if not self.established or negotiated is None:
            raise SessionNotEstablishedError(
                f"bgpsession {self.config.name} is {link.fsm.state}, not Established: "
                "there is nothing to refresh (a hard reset restarts it)"
            )
        families = tuple(sorted(negotiated.families))
        for family in families:
            self._rib_out.refresh(family, end_of_rib=True)
        self._schedule_pump()
        requested: tuple[Family, ...] = ()
        if negotiated.route_refresh:
            now = self._loop.time()
            for family in families:
                for action in link.fsm.send_route_refresh(family, now):
                    self._execute(link, action)
            requested = families
        self._on_change()
        return SoftReset(resent=families, requested=requested)

    @property
    def connection(self) -> Connection | None:
        """The connection of the session (the one that is, or may become, Established)."""
        return self._primary.conn

    # ------------------------------------------------------------------ the listener's side
    def claim(self, conn: Connection) -> bool:
        """Take a connection the listener accepted from our peer's address. Always claimed: even
        a refused connection gets its NOTIFICATION from here, never reaching an FSM."""
        cfg = self.config
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None:
            sockets.apply_session_options(sock, cfg.local_ip.version, cfg.ttl)
        self.record.connections_accepted += 1
        primary = self._primary
        state = primary.fsm.state
        if self._admin_down or (state is State.IDLE and not primary.fsm.awaiting_restart):
            self._refuse(conn, CeaseSub.CONNECTION_REJECTED)  # RFC 4271 §8.2.2: Idle refuses
        elif primary.conn is None and (state in _CONNECTING_STATES or state is State.IDLE):
            # Connect/Active, or Idle awaiting the automatic restart (the FSM takes the connection
            # as AutomaticStart with PassiveTcpEstablishment, RFC 4271 §8.1.2 event 5)
            if self._connecting is not None:  # our own attempt is no longer needed
                self._connecting.cancel()
            primary.conn, primary.origin = conn, Origin.REMOTE
            self._feed(primary, TcpConnectionConfirmed())
        elif state in _OPEN_STATES and self._secondary is None:
            # A collision candidate: its own FSM, started actively so that, should it become the
            # session's only connection, it reconnects by itself later (its Connect is ignored
            # while it is the secondary).
            link = _Link(Session(self._fsm_config), conn, Origin.REMOTE)
            self._secondary = link
            self._feed(link, ManualStart())
            self._feed(link, TcpConnectionConfirmed())
        else:  # Established, or a third connection: RFC 4271 §6.8, the new one goes
            self._refuse(conn, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
        conn.attach(self)
        return True

    # ------------------------------------------------------------------ the connection's side
    def on_data(self, conn: Connection, data: bytes) -> None:
        link = self._link_of(conn)
        if link is not None:
            self._feed(link, BytesReceived(data))

    def on_closed(self, conn: Connection, exc: Exception | None) -> None:
        link = self._link_of(conn)
        if link is None:
            return
        link.conn = None
        if exc is not None:
            self._error(f"connection lost: {exc}")
        self._feed(link, TcpConnectionFails())

    def on_writable(self, conn: Connection) -> None:
        if conn is self._primary.conn:
            self._schedule_pump()

    def on_overflow(self, conn: Connection) -> None:
        self._drop(conn, f"output queue over {conn.max_pending} octets: peer not reading")

    def on_send_stalled(self, conn: Connection) -> None:
        self._drop(conn, f"Send Hold Timer Expired after {conn.send_hold_time:g}s (RFC 9687)")

    # ------------------------------------------------------------------ status
    def status(self) -> SessionStatus:
        cfg = self.config
        rec = self.record
        fsm = self._primary.fsm
        negotiated = fsm.negotiated
        since = fsm.counters.established_since
        messages_in = self._retired_in + fsm.counters.messages_in
        counters: dict[str, Any] = {
            "messagesIn": {_kind(t): n for t, n in sorted(messages_in.items())},
            "messagesOut": {_kind(t): n for t, n in sorted(rec.messages_out.items())},
            "prefixesIn": rec.prefixes_announced_in,
            "withdrawnIn": rec.prefixes_withdrawn_in,
            "prefixesOut": rec.prefixes_announced_out,
            "withdrawnOut": rec.prefixes_withdrawn_out,
            "updatesTreatedAsWithdraw": rec.treated_as_withdraw,
            "flaps": rec.flaps,
            "connectAttempts": rec.connect_attempts,
            "connectionsAccepted": rec.connections_accepted,
            "collisions": rec.collisions,
        }
        return SessionStatus(
            name=cfg.name,
            local_ip=str(cfg.local_ip),
            peer_ip=str(cfg.peer_ip),
            local_asn=cfg.local_asn,
            peer_asn=cfg.peer_asn,
            fsm_state=str(fsm.state),
            admin_down=self._admin_down,
            uptime=None if since is None or fsm.state is not State.ESTABLISHED else self._loop.time() - since,
            prefixes_received=len(self._rib_in),
            prefixes_sent=self._rib_out.sent_count(),
            prefixes_pending=self._rib_out.pending_prefixes,
            hold_time=negotiated.hold_time if negotiated is not None else None,
            keepalive_time=round(negotiated.keepalive_time) if negotiated is not None else None,
            capabilities=_capabilities(fsm),
            counters=counters,
            last_error=rec.last_error,
            last_sent=rec.last_sent,
            last_received=rec.last_received,
            history=tuple(rec.history),
            last_report=rec.last_report,
            unsendable=tuple(f"{u.route.text}: {u.reason}" for u in self._rib_out.unsendable()),
        )

    def received_routes(self) -> list[ReceivedRoute]:
        out = []
        for family, prefix, path in self._rib_in.routes():
            as_path = path.attributes.effective_as_path() or ()
            out.append(
                ReceivedRoute(
                    session=self.config.name,
                    family=str(family),
                    prefix=prefix_to_text(prefix, family.afi),
                    next_hop=str(path.next_hop_address),
                    metric=path.attributes.med,
                    as_path=tuple(asn for segment in as_path for asn in segment.asns),
                )
            )
        return out

    def advertised_routes(self) -> list[Route]:
        return list(self._rib_out.advertised())

    # ------------------------------------------------------------------ FSM driving
    def _links(self) -> list[_Link]:
        return [link for link in (self._secondary, self._primary) if link is not None]

    def _link_of(self, conn: Connection) -> _Link | None:
        for link in self._links():
            if link.conn is conn:
                return link
        return None

    def _feed(self, link: _Link, event: Event) -> None:
        """One event into ``link``'s FSM; carry out its actions; settle collisions; re-arm."""
        self._run(link, link.fsm.handle(event, self._loop.time()))

    def _run(self, link: _Link, actions: list[Action]) -> None:
        for action in actions:
            self._execute(link, action)
        self._resolve_collision()
        self._rearm()

    def _execute(self, link: _Link, action: Action) -> None:
        if isinstance(action, Send):
            self._send(link, action)
        elif isinstance(action, Connect):
            if link is self._primary and not self._admin_down:
                self._start_connect()
        elif isinstance(action, CloseConnection):
            if link.conn is not None:
                conn, link.conn = link.conn, None
                conn.close()
            elif link is self._primary and self._connecting is not None:
                self._connecting.cancel()  # "abandon a connection attempt"
        elif isinstance(action, StateChanged):
            if link is self._primary:
                self._transition(link.fsm, action)
            else:
                self._collision_received(link)
        elif isinstance(action, SessionEstablished):
            if link is self._primary:
                self._established(link, action)
        elif isinstance(action, SessionDown):
            if link is self._primary:
                self._down()
        elif isinstance(action, RoutesReceived):
            self._routes_in(action)
        elif isinstance(action, RouteRefreshRequested):
            self._rib_out.refresh(action.family)  # RFC 2918 §4: send the family again
            self._schedule_pump()

    def _transition(self, fsm: Session, change: StateChanged) -> None:
        now = time.time()
        rec = self.record
        rec.history.append(Transition(now, str(change.old), str(change.new), str(change.reason)))
        rec.last_report = now
        received = fsm.last_notification_received
        if received is not None and (rec.last_received is None or rec.last_received.source is not received):
            rec.last_received = NotificationRecord.of(received.message, now, source=received)
            self._error(f"received {rec.last_received.text}")
            self._log.warning("notification_received", text=rec.last_received.text)
        self._log.info("state_changed", old=str(change.old), new=str(change.new), reason=str(change.reason))
        self._on_change()

    def _collision_received(self, link: _Link) -> None:
        """A NOTIFICATION on a connection that is not the session's (the colliding one, or the one
        that lost the collision, RFC 4271 §6.8) is logged once, but kept out of the session's
        record: its state, history and last NOTIFICATIONs stay those of the session's connection."""
        received = link.fsm.last_notification_received
        if received is not None and received is not link.logged_received:
            link.logged_received = received
            text = NotificationRecord.of(received.message, received.time).text
            self._log.warning("notification_received", text=text, connection="collision")

    def _rearm(self) -> None:
        deadlines = [d for link in self._links() if (d := link.fsm.next_deadline()) is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadlines:
            self._timer = self._loop.call_at(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._loop.time()
        for link in self._links():
            deadline = link.fsm.next_deadline()
            if deadline is not None and deadline <= now:
                self._run(link, link.fsm.handle_timers(now))
        self._rearm()

    # ------------------------------------------------------------------ connections
    def _start_connect(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        self._connecting = self._loop.create_task(self._connect(self._primary))

    async def _connect(self, link: _Link) -> None:
        cfg = self.config
        self.record.connect_attempts += 1
        try:  # no timeout of our own: the FSM's ConnectRetryTimer abandons a hanging attempt
            _, conn = await sockets.connect(
                cfg.local_ip, cfg.peer_ip, cfg.port, Connection, ttl=cfg.ttl, freebind=cfg.freebind
            )
        except OSError as err:
            self._connecting = None
            if link is self._primary and link.conn is None and not self._admin_down:
                self._error(f"connect to {cfg.peer_ip} port {cfg.port} failed: {err}")
                self._feed(link, TcpConnectionFails())
            return
        self._connecting = None
        if link is not self._primary or link.conn is not None or self._admin_down:
            conn.abort()  # an accepted connection got there first, or we were stopped
            return
        link.conn, link.origin = conn, Origin.LOCAL
        self._feed(link, TcpConnectionAcknowledged())
        conn.attach(self)

    def _send(self, link: _Link, action: Send) -> None:
        conn = link.conn
        if conn is None:
            return
        message = action.message
        conn.send(link.fsm.encode(message))
        rec = self.record
        rec.messages_out[message.TYPE] += 1
        if isinstance(message, Notification):
            sent = NotificationRecord.of(message, time.time())
            if link is self._primary:
                rec.last_sent = sent
                self._error(f"sent {sent.text}")
                self._log.warning("notification_sent", text=sent.text)
            else:  # as for one received there (see _collision_received)
                self._log.warning("notification_sent", text=sent.text, connection="collision")

    def _refuse(self, conn: Connection, subcode: int) -> None:
        """Answer an extra connection with a Cease and close it."""
        conn.send(encode_message(Notification(ErrorCode.CEASE, subcode), DEFAULT_CONTEXT))
        conn.close()
        if subcode == CeaseSub.CONNECTION_COLLISION_RESOLUTION:
            self.record.collisions += 1

    def _drop(self, conn: Connection, reason: str) -> None:
        """Abort a connection the peer stopped reading from; its FSM sees the connection fail."""
        self._error(reason)
        self._log.error("connection_dropped", reason=reason)
        link = self._link_of(conn)
        conn.abort()
        if link is not None:
            link.conn = None
            self._feed(link, TcpConnectionFails())

    def _error(self, text: str) -> None:
        self.record.last_error = text
        self.record.last_report = time.time()

    # ------------------------------------------------------------------ collisions
    def _retire_secondary(self) -> None:
        if self._secondary is not None:
            self._retired_in += self._secondary.fsm.counters.messages_in
            self._secondary = None

    def _resolve_collision(self) -> None:
        """RFC 4271 §6.8 between the session's two connections (see the module docstring)."""
        second = self._secondary
        if second is None:
            return
        if second.conn is None:  # the extra connection went away by itself
            self._retire_secondary()
            return
        first = self._primary
        peer = first.fsm.peer_open or second.fsm.peer_open
        verdict = resolve_collision(
            first.fsm.state,
            first.origin,
            second.origin,
            local_id=int(self.config.router_id),
            local_as=self.config.local_asn,
            remote_id=None if peer is None else peer.bgp_id,
            remote_as=None if peer is None else peer.asn,
        )
        if verdict is Verdict.UNDECIDED:
            return
        self._secondary = None
        if verdict is Verdict.CLOSE_NEW:
            self.record.collisions += 1
            self._retired_in += second.fsm.counters.messages_in
            self._feed(second, CollisionDump())
            return
        # CLOSE_EXISTING, or NO_COLLISION (the first lost its connection): the second one stays.
        self._retired_in += first.fsm.counters.messages_in
        if self._connecting is not None:
            self._connecting.cancel()
        self._primary = second
        if verdict is Verdict.CLOSE_EXISTING:
            self.record.collisions += 1
            self._feed(first, CollisionDump())

    # ------------------------------------------------------------------ routes
    def _established(self, link: _Link, action: SessionEstablished) -> None:
        negotiated = action.negotiated
        self._rib_in = AdjRibIn(negotiated.families)
        self._rib_out.start(SendContext(negotiated.send_context, negotiated.families, self._policy))
        if link.conn is not None:
            link.conn.send_hold_time = self.config.send_hold_for(negotiated.hold_time)
        self._schedule_pump()

    def _down(self) -> None:
        self.record.flaps += 1
        self._rib_in.clear()
        self._rib_out.stop()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        self._on_change()

    def _routes_in(self, action: RoutesReceived) -> None:
        rec = self.record
        if action.error is ErrorAction.TREAT_AS_WITHDRAW:
            rec.treated_as_withdraw += 1
            change = self._rib_in.withdraw_all(action.update)  # never taken for an End-of-RIB
        else:
            change = self._rib_in.apply(action.update)
        rec.prefixes_announced_in += change.announced
        rec.prefixes_withdrawn_in += change.withdrawn
        self._on_change()

    def _schedule_pump(self) -> None:
        if self._pump_handle is None:
            self._pump_handle = self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Send one budget of pending route changes; come back next iteration if more wait."""
        self._pump_handle = None
        link = self._primary
        conn = link.conn
        if conn is None or not self._rib_out.established or not conn.writable:
            return  # on_writable, or the next SessionEstablished, schedules us again
        batch = self._rib_out.next_batch(PUMP_BUDGET)
        if batch.messages:
            link.fsm.sent_updates(batch.messages, self._loop.time())  # restarts the KeepaliveTimer
            conn.send(batch.data)
            rec = self.record
            rec.messages_out[MessageType.UPDATE] += batch.messages
            rec.prefixes_announced_out += batch.announced
            rec.prefixes_withdrawn_out += batch.withdrawn
        self._rearm()
        if self._rib_out.has_pending:
            self._schedule_pump()

    def reconfigure(self, config: SessionConfig) -> None:
        """Take ``config`` without a flap. The caller (the daemon's reconcile) only does this when
        connection-level settings changed — nothing the peer saw in our OPEN: the FSMs read their
        timers from the new config from now on, live connections get the new TTL at once, and
        port, passive and freebind apply to the next connection. A session only trying to connect
        (Connect/Active, or Idle waiting to retry; no connection yet) restarts that attempt with the
        new settings right away: there is no session to flap, and a corrected port or passive mode
        should not wait for the retry timer."""
        self.config = config
        self._fsm_config = fsm_config(config)
        for link in self._links():
            link.fsm.config = self._fsm_config
            transport = None if link.conn is None else link.conn.transport
            sock = None if transport is None else transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # closing under us: the next connection has it
                    sockets.apply_session_options(sock, config.local_ip.version, config.ttl)
        primary = self._primary
        waiting = primary.fsm.state in _CONNECTING_STATES or primary.fsm.state is State.IDLE
        if not self._admin_down and primary.conn is None and waiting:
            self._feed(primary, ManualStop(CeaseSub.OTHER_CONFIGURATION_CHANGE))
            self._feed(primary, ManualStart(passive=config.passive))
        self._on_change()


def _kind(msg_type: MessageType) -> str:
    return msg_type.name.lower().replace("_", "-")


def _capability_names(caps: tuple[Capability, ...]) -> tuple[str, ...]:
    names = []
    for cap in caps:
        code = capability_code(cap)
        try:
            name = CapabilityCode(code).name.lower().replace("_", "-")
        except ValueError:
            name = f"capability-{code}"
        family = getattr(cap, "family", None)
        names.append(f"{name}({family})" if family is not None else name)
    return tuple(names)


def _capabilities(fsm: Session) -> dict[str, tuple[str, ...]]:
    """Sent, received and negotiated capabilities, for ``describe-session``."""
    neg = fsm.negotiated
    if neg is None:
        return {}
    negotiated = [*(f"multiprotocol({f})" for f in sorted(neg.families))]
    flags = (
        ("four-octet-as", neg.four_octet_as),
        ("route-refresh", neg.route_refresh),
        ("extended-message", neg.extended_message),
    )
    negotiated += [name for name, on in flags if on]
    negotiated += [f"extended-next-hop({f})" for f in sorted(neg.extended_next_hop)]
    return {
        "sent": _capability_names(neg.sent.capabilities),
        "received": _capability_names(neg.received.capabilities),
        "negotiated": tuple(negotiated),
    }


async def _closed(conn: Connection) -> None:
    """Wait for ``conn`` to close, at most a little longer than its own close grace period."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(conn.wait_closed(), CLOSE_GRACE + 1.0)

"""The session driver: one per configured session, the glue between sockets, timers and the FSM.

Shape (aioquic's ``transmit()``): every input — bytes from the connection, a connection opened,
failed or closed, the loop timer — becomes one event for the sans-IO FSM; the actions it returns
are handled here through one table, ``_EXECUTE`` (action type -> method): commands are carried out
(connect, send, close) and facts go to the session's one record (``record.py``), its log lines
(``session_log.py``) and its RIBs. Then the one loop timer of the session is re-armed from the
FSMs' next deadline. Connection collisions (RFC 4271 §6.8) are decided in ``collision.py``.

Routes in: each UPDATE goes to the Adj-RIB-In, then the prefix limit (``prefix_limit.py``) looks at
the counts; over the limit, the FSM gets ``PrefixLimitReached`` and stops the session (Cease 6/1).
The routes that arrived in the same read after that UPDATE belong to a session that is over, and
are dropped.

Routes out: while Established, the Adj-RIB-Out is drained by a pump that runs once per loop
iteration and only while the connection is writable, so back-pressure stops UPDATE production
rather than growing a buffer (see ``connection.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from bgpd.fsm import (
    Action,
    BytesReceived,
    CloseConnection,
    CollisionDump,
    Connect,
    Event,
    FamilyIgnored,
    FsmConfig,
    GracefulRestartConfig,
    ManualStart,
    ManualStop,
    MessageReceived,
    Origin,
    PeerNotification,
    PeerReconnected,
    PrefixLimitReached,
    Reason,
    RouteRefreshRequested,
    RoutesReceived,
    RoutesStale,
    Send,
    Session,
    SessionDown,
    SessionEstablished,
    StaleRoutesDeleted,
    State,
    StateChanged,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    Timer,
    UpdateRepaired,
)
from bgpd.logs import session_logger
from bgpd.plan.session_config import SessionConfig
from bgpd.rib.adj_rib_in import AdjRibIn
from bgpd.rib.adj_rib_out import AdjRibOut, SendContext
from bgpd.rib.routes import ExportPolicy, Route
from bgpd.speaker import sockets
from bgpd.speaker.collision import Arrival, Link, Links
from bgpd.speaker.connect_gate import Admission, ConnectGate
from bgpd.speaker.connection import CLOSE_GRACE, Connection
from bgpd.speaker.listing import Within, received_routes
from bgpd.speaker.prefix_limit import LimitState, PrefixGuard, PrefixLimit, Verdict
from bgpd.speaker.record import ErrorKind, SessionRecord, notification_text
from bgpd.speaker.session_log import SessionLog
from bgpd.speaker.status import (
    GracefulRestartStatus,
    ReceivedRoute,
    SessionReading,
    SessionStatus,
    SessionSummary,
    SoftReset,
    capabilities_to_control,
    counters_to_control,
)
from bgpd.wire import DEFAULT_CONTEXT, Notification, encode_message
from bgpd.wire.constants import IPV4_UNICAST, CeaseSub, ErrorAction, ErrorCode, Family, MessageType
from bgpd.wire.nlri import Prefix

PUMP_BUDGET: Final = 64 * 1024  # octets of UPDATEs produced per loop iteration and session
_HANDSHAKE_DONE: Final = frozenset({State.OPEN_CONFIRM, State.ESTABLISHED})
_RANDOM: Final = random.Random()


def _jitter() -> float:
    """RFC 4271 §10: the ConnectRetry and Keepalive timers times a factor uniform in 0.75..1.0."""
    return _RANDOM.uniform(0.75, 1.0)


def fsm_config(config: SessionConfig) -> FsmConfig:
    """The FSM's view of a session. Enhanced route refresh (RFC 7313) is not offered: the speaker
    answers a ROUTE-REFRESH by sending the family again, without BoRR/EoRR markers. Graceful
    restart, when on, always has the N bit (RFC 8538) and the F bit for every family: bgpd's
    forwarding state is the nodes' own, which no restart of bgpd touches."""
    graceful = None
    if config.graceful_restart:
        graceful = GracefulRestartConfig(restart_time=config.restart_time, stale_time=config.stale_time)
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
        graceful_restart=graceful,
    )


def socket_options(config: SessionConfig) -> sockets.SocketOptions:
    """The session's TTL, GTSM minimum and TCP-MD5 key (``ttl`` counts hops; see ``sockets``)."""
    return sockets.SocketOptions.for_session(config.ttl, config.ttl_security, config.md5_key)


def prefix_limit(config: SessionConfig) -> PrefixLimit:
    restart = config.max_prefixes_restart
    return PrefixLimit(config.max_prefixes, config.max_prefixes_warning, restart or None)


class SessionNotEstablishedError(Exception):
    """The operation needs an Established session (e.g. a soft reset)."""


class PeerTask:
    """Drives one configured session (see the module docstring)."""

    def __init__(
        self,
        config: SessionConfig,
        on_change: Callable[[], None],
        gate: ConnectGate | None = None,
        *,
        restarting: bool = False,
    ) -> None:
        """``restarting``: this start is the same BGP identity coming back (bgpd restarted within the
        restart time, or took over the floating IP): the OPENs carry the Restart State bit until the
        session is Established (RFC 4724 §4.1)."""
        self.config = config
        self._fsm_config = fsm_config(config)
        self._on_change = on_change
        self._loop = asyncio.get_running_loop()
        self._log = SessionLog(session_logger(config.name, str(config.peer_ip)))
        self.record = SessionRecord(last_report=time.time())
        self._rib_in = AdjRibIn(frozenset(config.families))
        self._prefix_guard = PrefixGuard(prefix_limit(config))
        self._rib_out = AdjRibOut()
        self._routes_known = False  # set_routes was called (see there)
        self._send_context: SendContext | None = None  # while the primary link is Established
        self._policy = ExportPolicy(config.local_asn, config.ibgp)
        self._links = Links(Link(Session(self._fsm_config, jitter=_jitter, restarting=restarting)))
        self._timer: asyncio.TimerHandle | None = None
        self._gate = gate if gate is not None else ConnectGate(self._loop)
        self._admission: Admission | None = None  # our connection attempt's place at the gate
        self._connecting: asyncio.Task[None] | None = None
        self._pump_handle: asyncio.Handle | None = None
        self._admin_down = True
        self._shutdown_text: str | None = None  # an operator's shutdown in force (RFC 9003 text)

    # ------------------------------------------------------------------ the daemon's side
    def start(self) -> None:
        """Start (or restart after an administrative shutdown)."""
        if not self._admin_down:
            return
        self._admin_down = False
        self._shutdown_text = None
        self._feed(self._links.primary, ManualStart(passive=self.config.passive))

    def hold_down(self, text: str) -> None:
        """Stay down (never started) under an operator's administrative shutdown: a connection
        from the peer is refused with Cease 6/2 and ``text`` (see ``claim``)."""
        self._shutdown_text = text

    async def stop(self, subcode: int, text: str = "", *, graceful: bool = False) -> None:
        """Stop with Cease ``subcode`` (RFC 4486; Administrative Shutdown/Reset carry ``text`` as
        the RFC 9003 communication) and wait (bounded) until the connections are closed, so the
        NOTIFICATION has left before the caller goes on (e.g. the process exits).

        ``graceful``: we come back (a restart), so a graceful restart peer is to keep our routes:
        a Cease that is not Hard Reset when it set the N bit, a bare close when it did not. Else the
        stop withdraws: Hard Reset standing for the Cease when the N bit was negotiated (RFC 8538
        §3; see ``bgpd.fsm.events.ManualStop``)."""
        self._admin_down = True
        self._shutdown_text = text if subcode == CeaseSub.ADMINISTRATIVE_SHUTDOWN else None
        self._abandon_attempt()
        links = self._links.all()
        conns = [link.conn for link in links if link.conn is not None]
        for link in links:
            self._feed(link, ManualStop(subcode, text, graceful))
        self._links.secondary = None
        self._log.end_episode()
        await asyncio.gather(*(_closed(c) for c in conns))

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Announce ``routes`` (all of them: the table is replaced). Until the first call the
        session sends nothing, End-of-RIB included, even once Established: the plan is not made
        yet, and an empty table with its End-of-RIB would tell the peer we have no routes."""
        self._rib_out.set_routes(routes)
        self._routes_known = True
        self._start_sending()
        if self._rib_out.established:
            self._schedule_pump()

    def change_routes(self, announce: Iterable[Route], withdraw: Iterable[tuple[Family, Prefix]]) -> None:
        """Announce ``announce`` and withdraw ``withdraw``, the rest staying (Adj-RIB-Out)."""
        self._rib_out.change_routes(announce, withdraw)
        if self._rib_out.established:
            self._schedule_pump()

    def _start_sending(self) -> None:
        """Established and the routes known: the Adj-RIB-Out starts (table, then End-of-RIB)."""
        if self._send_context is not None and self._routes_known and not self._rib_out.established:
            self._rib_out.start(self._send_context)
            self._schedule_pump()

    @property
    def established(self) -> bool:
        return self._links.primary.fsm.state is State.ESTABLISHED and self._rib_out.established

    def soft_reset(self) -> SoftReset:
        """Refresh the routes in both directions without closing the session (Established only).

        Outbound: every negotiated family of the Adj-RIB-Out is sent again, each followed by
        End-of-RIB, through the same back-pressured pump as any route change. Inbound: when the
        peer offered route refresh, a ROUTE-REFRESH per family asks it to send its routes again
        (RFC 2918 §3: never sent to a peer that did not offer the capability); what it re-sends
        replaces the Adj-RIB-In entries as ordinary UPDATEs do (RFC 4271 §3.1)."""
        link = self._links.primary
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
        return self._links.primary.conn

    # ------------------------------------------------------------------ the listener's side
    def claim(self, conn: Connection) -> bool:
        """Take a connection the listener accepted from our peer's address. Always claimed: even
        a refused connection gets its NOTIFICATION from here, never reaching an FSM."""
        cfg = self.config
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None:  # the MD5 key came with it from the listener
            sockets.apply_session_options(sock, cfg.local_ip.version, socket_options(cfg))
        self.record.counters.connections_accepted += 1
        arrival = self._links.arrival(self._admin_down)
        if arrival is Arrival.RESTART:
            # RFC 4724 §4.2: the peer restarted; its old connection goes (routes kept stale) and
            # the session, now Idle awaiting its restart, takes the new one just below.
            self._feed(self._links.primary, PeerReconnected())
            arrival = self._links.arrival(self._admin_down)
        if arrival is Arrival.REFUSE and self._shutdown_text is not None:
            # held down by the operator: the peer hears why, every time (RFC 4486 §4, RFC 9003)
            self._refuse(conn, CeaseSub.ADMINISTRATIVE_SHUTDOWN, self._shutdown_text)
        elif arrival is Arrival.REFUSE:
            self._refuse(conn, CeaseSub.CONNECTION_REJECTED)  # RFC 4271 §8.2.2: Idle refuses
        elif arrival is Arrival.TAKE:
            # Connect/Active, or Idle awaiting the automatic restart (the FSM takes the connection
            # as AutomaticStart with PassiveTcpEstablishment, RFC 4271 §8.1.2 event 5)
            self._abandon_attempt()  # our own attempt is no longer needed
            primary = self._links.primary
            primary.conn, primary.origin = conn, Origin.REMOTE
            self._feed(primary, TcpConnectionConfirmed())
        elif arrival is Arrival.COLLIDE:
            # Its own FSM, started actively so that, should it become the session's only
            # connection, it reconnects by itself later (its Connect is ignored while secondary).
            restarting = self._links.primary.fsm.restarting
            link = Link(Session(self._fsm_config, jitter=_jitter, restarting=restarting), conn, Origin.REMOTE)
            self._links.secondary = link
            self._feed(link, ManualStart())
            self._feed(link, TcpConnectionConfirmed())
        else:
            self._refuse(conn, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
        conn.attach(self)
        return True

    # ------------------------------------------------------------------ the connection's side
    def on_data(self, conn: Connection, data: bytes) -> None:
        link = self._links.of(conn)
        if link is not None:
            self._feed(link, BytesReceived(data))

    def on_closed(self, conn: Connection, exc: Exception | None) -> None:
        link = self._links.of(conn)
        if link is None:
            return
        link.conn = None
        if exc is not None:
            self.record.error(f"connection lost: {exc}", ErrorKind.CONNECTION_LOST, time.time())
        self._feed(link, TcpConnectionFails())

    def on_writable(self, conn: Connection) -> None:
        if conn is self._links.primary.conn:
            self._schedule_pump()

    def on_overflow(self, conn: Connection) -> None:
        self._drop(conn, f"output queue over {conn.max_pending} octets: peer not reading")

    def on_send_stalled(self, conn: Connection) -> None:
        self._drop(conn, f"Send Hold Timer Expired after {conn.send_hold_time:g}s (RFC 9687)")

    # ------------------------------------------------------------------ status
    def summary(self) -> SessionSummary:
        """The session object of the control protocol: plain reads, nothing over the routes."""
        cfg = self.config
        rec = self.record
        fsm = self._links.primary.fsm
        since = fsm.established_at
        return SessionSummary(
            name=cfg.name,
            local_ip=str(cfg.local_ip),
            peer_ip=str(cfg.peer_ip),
            local_asn=cfg.local_asn,
            peer_asn=cfg.peer_asn,
            fsm_state=str(fsm.state),
            uptime=None if since is None else self._loop.time() - since,
            prefixes_received=len(self._rib_in),
            prefixes_sent=self._rib_out.sent_count(),
            last_error=rec.last_error,
            last_report=rec.last_report,
        )

    def status(self) -> SessionStatus:
        """The summary and the detail (``describe``): capabilities, counters, history, routes
        the session cannot carry."""
        rec = self.record
        negotiated = self._links.primary.fsm.negotiated
        base = self.summary()
        summary: dict[str, Any] = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return SessionStatus(
            **summary,
            admin_down=self._admin_down,
            prefixes_pending=self._rib_out.pending_prefixes,
            hold_time=negotiated.hold_time if negotiated is not None else None,
            keepalive_time=round(negotiated.keepalive_time) if negotiated is not None else None,
            capabilities=capabilities_to_control(negotiated),
            counters=counters_to_control(rec.counters),
            prefix_limit=self._prefix_limit_status(),
            security=self._security_status(),
            last_sent=rec.last_sent,
            last_received=rec.last_received,
            history=tuple(rec.history),
            unsendable=tuple(f"{u.route.text}: {u.reason}" for u in self._rib_out.unsendable()),
            graceful_restart=self._graceful_restart_status(self._links.primary.fsm),
        )

    def _graceful_restart_status(self, fsm: Session) -> GracefulRestartStatus | None:
        gr = self._fsm_config.graceful_restart
        if gr is None:
            return None
        negotiated = fsm.negotiated
        peer = negotiated.graceful_restart if negotiated is not None else None
        return GracefulRestartStatus(
            restart_time=gr.restart_time,
            stale_time=gr.stale_time,
            restart_state=fsm.restarting,
            peer_restart_time=peer.restart_time if peer is not None else None,
            peer_restart_state=peer.restart_state if peer is not None else None,
            notification=negotiated.graceful_notification if negotiated is not None else None,
            peer_families=tuple(str(f) for f in sorted(negotiated.preserved_families)) if negotiated else (),
            stale_families=tuple(str(f) for f in sorted(fsm.stale)),
            stale_routes=self._rib_in.stale_count,
            stale_seconds_left=self._stale_seconds_left(fsm),
        )

    def _stale_seconds_left(self, fsm: Session) -> float | None:
        """Until the peer's Restart Time (while it is away) or our stale time (once it is back)
        ends the wait for its routes (RFC 4724 §4.2)."""
        deadline = fsm.timers.deadline(Timer.RESTART) or fsm.timers.deadline(Timer.STALE)
        return None if deadline is None else max(0.0, deadline - self._loop.time())

    def received(self, within: Within | None = None) -> Iterator[ReceivedRoute | None]:
        """The Adj-RIB-In as a listing that runs in slices (``listing``: None marks a pause)."""
        return received_routes(self.config.name, self._rib_in, within)

    def _prefix_limit_status(self) -> dict[str, Any]:
        fsm = self._links.primary.fsm
        stopped = fsm.state is State.IDLE and fsm.reason is Reason.PREFIX_LIMIT
        deadline = fsm.timers.deadline(Timer.PREFIX_LIMIT_RESTART)
        restart_in = None if deadline is None else max(0.0, deadline - self._loop.time())
        return self._prefix_guard.to_control(self._prefix_counts(), stopped, restart_in)

    def _security_status(self) -> dict[str, Any]:
        """What protects the session's connections; never the key itself (see ``Secret``)."""
        cfg = self.config
        options = socket_options(cfg)
        return {
            "tcpMd5": cfg.md5_key is not None,
            "gtsm": cfg.ttl_security,
            "ttl": options.ttl,
            "minTtl": options.min_ttl or None,
        }

    def reading(self) -> SessionReading:
        """The session's numbers for the metrics, in constant time (see ``SessionReading``)."""
        rec = self.record
        fsm = self._links.primary.fsm
        since = fsm.established_at
        kind = rec.last_error_kind
        notification = (
            {
                ErrorKind.NOTIFICATION_SENT: rec.last_sent,
                ErrorKind.NOTIFICATION_RECEIVED: rec.last_received,
            }.get(kind)
            if kind is not None
            else None
        )
        return SessionReading(
            name=self.config.name,
            fsm_state=fsm.state,
            admin_down=self._admin_down,
            uptime=None if since is None else self._loop.time() - since,
            routes_received=len(self._rib_in),
            routes_sent=self._rib_out.sent_count(),
            counters=rec.counters,
            last_error_kind=kind,
            last_error_at=rec.last_error_at,
            last_notification=notification,
        )

    def received_routes(self) -> list[ReceivedRoute]:
        return [route for route in self.received() if route is not None]

    def advertised_routes(self) -> list[Route]:
        return list(self._rib_out.advertised())

    # ------------------------------------------------------------------ FSM driving
    def _feed(self, link: Link, event: Event) -> None:
        """One event into ``link``'s FSM; carry out its actions; settle collisions; re-arm."""
        self._run(link, link.fsm.handle(event, self._loop.time()))

    def _run(self, link: Link, actions: list[Action]) -> None:
        for action in actions:
            self._execute(link, action)
        self._resolve_collision()
        self._rearm()

    def _execute(self, link: Link, action: Action) -> None:
        _EXECUTE[type(action)](self, link, action)

    def _rearm(self) -> None:
        deadlines = [d for link in self._links.all() if (d := link.fsm.next_deadline()) is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadlines:
            self._timer = self._loop.call_at(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._loop.time()
        for link in self._links.all():
            deadline = link.fsm.next_deadline()
            if deadline is not None and deadline <= now:
                self._run(link, link.fsm.handle_timers(now))
        self._rearm()

    def _resolve_collision(self) -> None:
        """RFC 4271 §6.8 between the session's two connections (see ``collision.py``)."""
        resolution = self._links.resolve(int(self.config.router_id), self.config.local_asn)
        if resolution is None:
            return
        if resolution.promoted:
            self._abandon_attempt()
        if resolution.loser is not None:
            self.record.counters.collisions += 1
            self._feed(resolution.loser, CollisionDump())

    # ------------------------------------------------------------------ commands
    def _do_connect(self, link: Link, action: Connect) -> None:
        """Connect once the peer's gate lets us (``connect_gate``); an attempt still waiting
        there keeps its place when the FSM asks again (its ConnectRetryTimer ran out meanwhile)."""
        if link is not self._links.primary or self._admin_down:
            return
        if self._admission is not None and self._admission.admitted_at is None:
            return
        self._abandon_attempt()
        self._admission = self._gate.enter(lambda: self._begin_connect(link))

    def _begin_connect(self, link: Link) -> None:
        self._connecting = self._loop.create_task(self._connect(link))

    def _abandon_attempt(self) -> None:
        """Give up our connection attempt, waiting or under way, and its place at the gate."""
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self._admission is not None:
            self._admission.cancel()
            self._admission = None

    def _do_send(self, link: Link, action: Send) -> None:
        conn = link.conn
        if conn is None:
            return
        message = action.message
        conn.send(link.fsm.encode(message))
        counters = self.record.counters
        counters.messages_out[message.TYPE] += 1
        if isinstance(message, Notification):
            if link is self._links.primary:
                at = time.time()
                sent = self.record.notification_sent(message, at)
                self.record.error(f"sent {sent.text}", ErrorKind.NOTIFICATION_SENT, at)
                self._log.problem("notification_sent", text=sent.text)
            else:  # the colliding connection's: logged, but not the session's (RFC 4271 §6.8)
                text = notification_text(message)
                self._log.problem("notification_sent", text=text, connection="collision")

    def _do_close(self, link: Link, action: CloseConnection) -> None:
        if link.conn is not None:
            conn, link.conn = link.conn, None
            conn.close()
        elif link is self._links.primary:
            self._abandon_attempt()  # "abandon a connection attempt"

    # ------------------------------------------------------------------ facts
    def _on_state_changed(self, link: Link, change: StateChanged) -> None:
        """The session's state is its primary connection's; a colliding connection's changes are
        kept out of the history (its NOTIFICATIONs are still logged, see ``_on_peer_notification``)."""
        if link is not self._links.primary:
            return
        if self._admission is not None and change.new in _HANDSHAKE_DONE:
            self._admission.done()  # the peer answered our OPEN: the next attempt may go
            self._admission = None
        elif change.new is State.IDLE:
            self._abandon_attempt()
        self.record.transition(change, time.time())
        self._log.state_changed(change)
        self._on_change()

    def _on_message_received(self, link: Link, fact: MessageReceived) -> None:
        self.record.counters.messages_in[fact.type] += 1

    def _on_peer_notification(self, link: Link, fact: PeerNotification) -> None:
        if link is self._links.primary:
            at = time.time()
            received = self.record.notification_received(fact.message, at)
            self.record.error(f"received {received.text}", ErrorKind.NOTIFICATION_RECEIVED, at)
            self._log.problem("notification_received", text=received.text)
        else:
            text = notification_text(fact.message)
            self._log.problem("notification_received", text=text, connection="collision")

    def _on_update_repaired(self, link: Link, fact: UpdateRepaired) -> None:
        counters = self.record.counters
        if fact.action is ErrorAction.TREAT_AS_WITHDRAW:
            counters.updates_treated_as_withdraw += 1
        else:
            counters.updates_attribute_discard += 1

    def _on_family_ignored(self, link: Link, fact: FamilyIgnored) -> None:
        self.record.counters.updates_ignored_family += 1

    def _on_established(self, link: Link, fact: SessionEstablished) -> None:
        if link is not self._links.primary:
            return
        negotiated = fact.negotiated
        self._rib_in.set_families(negotiated.families)  # routes kept stale by a restart stay
        self._send_context = SendContext(negotiated.send_context, negotiated.families, self._policy)
        if link.conn is not None:
            link.conn.send_hold_time = self.config.send_hold_for(negotiated.hold_time)
        self._start_sending()

    def _on_session_down(self, link: Link, fact: SessionDown) -> None:
        if link is not self._links.primary:
            return
        self.record.counters.flaps += 1
        self._prefix_guard.session_down()
        self._rib_in.clear()
        self._send_context = None
        self._rib_out.stop()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        self._on_change()

    def _on_routes(self, link: Link, fact: RoutesReceived) -> None:
        if link.fsm.state is not State.ESTABLISHED:
            return  # read together with an UPDATE that went over the prefix limit: the session is over
        if fact.error is ErrorAction.TREAT_AS_WITHDRAW:
            change = self._rib_in.withdraw_all(fact.update)  # never taken for an End-of-RIB
        else:
            change = self._rib_in.apply(fact.update)
        counters = self.record.counters
        counters.prefixes_in += change.announced
        counters.withdrawn_in += change.withdrawn
        if change.announced or change.withdrawn:
            self._check_prefix_limit(link)
        self._on_change()

    def _on_routes_stale(self, link: Link, fact: RoutesStale) -> None:
        """The peer restarts gracefully: its routes stay, stale (RFC 4724 §4.2)."""
        change = self._rib_in.mark_stale(fact.families)
        counters = self.record.counters
        counters.peer_restarts += 1
        counters.stale_routes_deleted += change.deleted
        families = ", ".join(str(f) for f in sorted(fact.families))
        self._log.notice(
            "peer_restarting",
            families=families,
            restart_time=fact.restart_time,
            stale_routes=change.stale,
            deleted_still_stale=change.deleted,
        )
        self._on_change()

    def _on_stale_deleted(self, link: Link, fact: StaleRoutesDeleted) -> None:
        change = self._rib_in.sweep_stale(fact.families)
        self.record.counters.stale_routes_deleted += change.deleted
        families = ", ".join(str(f) for f in sorted(fact.families))
        self._log.notice(
            "stale_routes_deleted", families=families, cause=str(fact.cause), routes=change.deleted
        )
        self._on_change()

    def _prefix_counts(self) -> dict[Family, int]:
        return {family: self._rib_in.count(family) for family in self._rib_in.families}

    def _check_prefix_limit(self, link: Link) -> None:
        """RFC 4486 §4 over the Adj-RIB-In's counts: warn once, or stop the session."""
        verdict = self._prefix_guard.check(self._prefix_counts())
        if verdict is None:
            return
        if verdict.state is LimitState.OVER:
            self._prefix_limit_reached(link, verdict)
            return
        limit = self._prefix_guard.limit
        self.record.counters.prefix_limit_warnings += 1
        family = str(verdict.family)  # no count: the same warning again is counted, not logged
        self._log.problem(
            "prefix_limit_warning", family=family, limit=limit.limit, warning_at=limit.warning_at
        )

    def _prefix_limit_reached(self, link: Link, verdict: Verdict) -> None:
        """Stop the session (the Cease it sends becomes the session's last error and is logged)."""
        limit = self._prefix_guard.limit
        self._prefix_guard.stopped(verdict, time.time())
        self.record.counters.prefix_limit_stops += 1
        restart = "bgpctl reset" if limit.restart_after is None else f"after {limit.restart_after:g}s"
        family = str(verdict.family)
        self._log.problem(
            "prefix_limit_reached", family=family, received=verdict.count, limit=limit.limit, restart=restart
        )
        self._feed(link, PrefixLimitReached(verdict.family, limit.limit, limit.restart_after))

    def _on_route_refresh(self, link: Link, fact: RouteRefreshRequested) -> None:
        self._rib_out.refresh(fact.family)  # RFC 2918 §4: send the family again
        self._schedule_pump()

    # ------------------------------------------------------------------ connections
    async def _connect(self, link: Link) -> None:
        cfg = self.config
        self.record.counters.connect_attempts += 1
        try:  # no timeout of our own: the FSM's ConnectRetryTimer abandons a hanging attempt
            _, conn = await sockets.connect(
                cfg.local_ip,
                cfg.peer_ip,
                cfg.port,
                Connection,
                options=socket_options(cfg),
                freebind=cfg.freebind,
            )
        except OSError as err:
            self._connecting = None
            if self._admission is not None:  # refused or unreachable: no sign of the peer's pace
                self._admission.cancel()
                self._admission = None
            if link is self._links.primary and link.conn is None and not self._admin_down:
                text = sockets.connect_error_text(err, cfg.local_ip, cfg.peer_ip, cfg.port)
                self.record.error(text, ErrorKind.CONNECT_FAILED, time.time())
                self._log.problem("connect_failed", error=text)
                self._feed(link, TcpConnectionFails())
            return
        self._connecting = None
        if link is not self._links.primary or link.conn is not None or self._admin_down:
            conn.abort()  # an accepted connection got there first, or we were stopped
            self._abandon_attempt()
            return
        link.conn, link.origin = conn, Origin.LOCAL
        self._feed(link, TcpConnectionAcknowledged())
        conn.attach(self)

    def _refuse(self, conn: Connection, subcode: int, text: str | None = None) -> None:
        """Answer an extra connection with a Cease (with ``text``, an RFC 9003 shutdown
        communication) and close it. A peer decides how often this happens, so it is logged like
        any repeated problem: once, then counted."""
        message = (
            Notification(ErrorCode.CEASE, subcode) if text is None else Notification.shutdown(text, subcode)
        )
        conn.send(encode_message(message, DEFAULT_CONTEXT))
        conn.close()
        counters = self.record.counters
        counters.messages_out[MessageType.NOTIFICATION] += 1
        if subcode == CeaseSub.CONNECTION_COLLISION_RESOLUTION:
            counters.collisions += 1
        reason = "incoming connection refused"
        self._log.problem("notification_sent", text=notification_text(message), reason=reason)

    def _drop(self, conn: Connection, reason: str) -> None:
        """Abort a connection the peer stopped reading from; its FSM sees the connection fail."""
        self.record.error(reason, ErrorKind.CONNECTION_DROPPED, time.time())
        self._log.problem("connection_dropped", reason=reason)
        link = self._links.of(conn)
        conn.abort()
        if link is not None:
            link.conn = None
            self._feed(link, TcpConnectionFails())

    # ------------------------------------------------------------------ routes out
    def _schedule_pump(self) -> None:
        if self._pump_handle is None:
            self._pump_handle = self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Send one budget of pending route changes; come back next iteration if more wait."""
        self._pump_handle = None
        link = self._links.primary
        conn = link.conn
        if conn is None or not self._rib_out.established or not conn.writable:
            return  # on_writable, or the next SessionEstablished, schedules us again
        batch = self._rib_out.next_batch(PUMP_BUDGET)
        if batch.messages:
            link.fsm.sent_updates(batch.messages, self._loop.time())  # restarts the KeepaliveTimer
            conn.send(batch.data)
            counters = self.record.counters
            counters.messages_out[MessageType.UPDATE] += batch.messages
            counters.prefixes_out += batch.announced
            counters.withdrawn_out += batch.withdrawn
        self._rearm()
        if self._rib_out.has_pending:
            self._schedule_pump()

    def reconfigure(self, config: SessionConfig) -> None:
        """Take ``config`` without a flap. The caller (the daemon's reconcile) only does this when
        connection-level settings changed — nothing the peer saw in our OPEN: the FSMs read their
        timers from the new config from now on, live connections get the new TTL and send hold
        time at once, and port, passive and freebind apply to the next connection. A new prefix
        limit is checked against what the session holds now (a lower one can stop it at once). A
        session only trying to connect (Connect/Active, or Idle waiting to retry; no connection
        yet) restarts that attempt with the new settings right away: there is no session to flap,
        and a corrected port or passive mode should not wait for the retry timer. A session held
        down by its prefix limit stays down (``bgpctl reset`` ends the hold-down)."""
        self.config = config
        self._fsm_config = fsm_config(config)
        options = socket_options(config)
        for link in self._links.all():
            link.fsm.config = self._fsm_config
            transport = None if link.conn is None else link.conn.transport
            sock = None if transport is None else transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # closing under us: the next connection has it
                    sockets.apply_session_options(sock, config.local_ip.version, options)
            negotiated = link.fsm.negotiated
            if link.conn is not None and negotiated is not None:
                link.conn.send_hold_time = config.send_hold_for(negotiated.hold_time)
        primary = self._links.primary
        limit = prefix_limit(config)
        if limit != self._prefix_guard.limit:
            self._prefix_guard.limit = limit
            if self.established:
                self._check_prefix_limit(primary)
        held_down = primary.fsm.state is State.IDLE and primary.fsm.reason is Reason.PREFIX_LIMIT
        if not self._admin_down and self._links.seeking and not held_down:
            self._feed(primary, ManualStop(CeaseSub.OTHER_CONFIGURATION_CHANGE))
            self._feed(primary, ManualStart(passive=config.passive))
        self._on_change()


_EXECUTE: Final[Mapping[type, Callable[[PeerTask, Link, Any], None]]] = {
    Connect: PeerTask._do_connect,
    Send: PeerTask._do_send,
    CloseConnection: PeerTask._do_close,
    StateChanged: PeerTask._on_state_changed,
    MessageReceived: PeerTask._on_message_received,
    PeerNotification: PeerTask._on_peer_notification,
    UpdateRepaired: PeerTask._on_update_repaired,
    FamilyIgnored: PeerTask._on_family_ignored,
    SessionEstablished: PeerTask._on_established,
    SessionDown: PeerTask._on_session_down,
    RoutesReceived: PeerTask._on_routes,
    RouteRefreshRequested: PeerTask._on_route_refresh,
    RoutesStale: PeerTask._on_routes_stale,
    StaleRoutesDeleted: PeerTask._on_stale_deleted,
}
"""Action type -> what the driver does with it: a command carried out, or a fact recorded."""


async def _closed(conn: Connection) -> None:
    """Wait for ``conn`` to close, at most a little longer than its own close grace period."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(conn.wait_closed(), CLOSE_GRACE + 1.0)

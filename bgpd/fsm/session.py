"""One BGP session's state machine (RFC 4271 §8.2.2), sans-IO: events in, actions out, clock passed in.

Rule (after h11's ``_state.py``): every state transition lives in this file. ``TRANSITIONS`` maps
``(state, event type)`` to a ``Rule``: the ``Session`` method that handles it and the states it may
lead to, so the machine can be read from the table alone (and ``handle`` checks that a handler
lands where its rule says). A pair that is not listed is an unexpected event: ignored in Idle, a
drop to Idle in Connect and Active (no OPEN was sent, so no NOTIFICATION), and an FSM Error
NOTIFICATION with the RFC 6608 subcode of the state in OpenSent, OpenConfirm and Established.

The driver feeds events with ``handle(event, now)``, reports timer expiry with ``handle_timers(now)``,
sends routes with ``send_update``/``send_route_refresh`` and re-arms one loop timer from
``next_deadline()``. The session holds the state of its connection only (state, timers, the
negotiated facts, when it came up); what happened is told as facts in the output (see
``actions``), and the driver's one record per session keeps the counts and the history.

Choices where RFC 4271 leaves room, each marked where it is made:

- SendNOTIFICATIONwithoutOPEN is on: an error on a connection in Connect/Active (DelayOpen) is
  answered with its NOTIFICATION, so the peer learns why.
- PassiveTcpEstablishment means never initiating: no ConnectRetryTimer while passive.
- AllowAutomaticStart: every fall to Idle other than a ManualStop arms the IdleHoldTimer, which
  restarts the session (event 13). DampPeerOscillations (§8.1.1: damping of peer oscillations in
  Idle) only weighs session flaps, i.e. a session that reached OpenConfirm or Established and went
  down: their IdleHoldTime doubles per consecutive flap up to a cap and returns to its first value
  after the session stayed Established for ``stable_time``. A connection that failed before that
  (TCP connect refused or timed out, an OPEN refused, a Cease 6/5 from a peer still in Idle) is no
  oscillation: the next attempt comes after ConnectRetryTime (the mandatory timer that paces
  connection attempts, §8 and §10), without growth, so a peer that was down for a while is found
  again within ConnectRetryTime of coming back rather than after a back-off grown by every failed
  attempt.
- The ConnectRetryCounter of §8 is not kept: every start sets it to zero (§8.2.2 Idle), every
  retry here is a start (the IdleHoldTimer's automatic restart), and the damping above needs no
  count of failures. The driver's record counts connection attempts for the operator.
- While Idle waiting for that automatic restart, an incoming connection from the peer is accepted
  as AutomaticStart_with_PassiveTcpEstablishment (event 5) followed by TcpConnectionConfirmed
  (event 17). §8.2.1 lets either side open a session's connection, and an automatic start is an
  Idle event, so a peer that comes back and connects first need not be turned away until our own
  timer runs out. Only a session without a pending restart (administratively stopped, or automatic
  restart off) refuses incoming connections, as §8.2.2 Idle says.
- A header error is answered with its own Message Header Error (RFC 4271 §6.1) in every state,
  not with the FSM Error the §8.2.2 catch-all of OpenSent/Established would give.
- A NOTIFICATION is never answered with one: the peer closes right after sending it (§4.5).
- A prefix limit (``PrefixLimitReached``, a form of event 8: the driver counts, the session acts)
  sends Cease 6/1 with the RFC 4486 §4 data (inside a Hard Reset with the N bit, RFC 8538 §5) and
  does not restart through the IdleHoldTimer: a peer that floods us would be back at once. Its own
  PrefixLimitRestartTimer restarts the session after the configured hold-down, and meanwhile Idle
  refuses the peer's connections (only the IdleHoldTimer's pending restart takes them); without a
  hold-down only a ManualStart restarts it.

Graceful restart (RFC 4724, with the Notification support of RFC 8538), both roles:

- *Restarting speaker.* Our OPEN carries the capability with the N bit and the F bit for every
  family; ``restarting`` (a start that follows our own restart, or takes over a floating IP: the
  same BGP identity coming back) sets the Restart State bit until the session is Established
  again (RFC 4724 §4.1). A graceful ``ManualStop`` ends an Established session so that the peer
  keeps our routes: a Cease that is not Hard Reset when the N bit was negotiated, a bare close of
  the connection when it was not (RFC 8538 §3; RFC 4724 §4: a NOTIFICATION would end GR there).
  Any other stop withdraws: Hard Reset standing for the Cease when the N bit was negotiated
  (RFC 8538 §3, §5), the plain Cease otherwise.
- *Receiving speaker (helper).* When an Established session ends and the peer had announced the
  capability, its routes of the families in that capability are kept, stale (``RoutesStale``), if
  the end is one RFC 4724 §4.2 / RFC 8538 §4 call graceful: the connection failed without a
  NOTIFICATION, or, with the N bit, any NOTIFICATION sent or received other than Hard Reset (so
  hold timer expiry too), or the peer connected anew while the old connection still looked
  alive (``PeerReconnected``). The RESTART timer (the peer's Restart Time) runs until the session
  is Established again; then the families the new capability no longer preserves (F bit, or
  family, or capability gone) are deleted at once and the STALE timer (our ``stale_time``) runs
  until End-of-RIB of each remaining family, which deletes what the peer did not re-send. A
  restart during a restart deletes what is still stale and marks the rest stale again (RFC 4724
  §4.2, consecutive restarts). The two timers belong to the session, not to a connection
  (``SESSION_TIMERS``), and are keyed by the timer in the table: every state has a row for each.
- A refusal is no flap: a Cease Connection Rejected or Connection Collision Resolution from the
  peer in OpenConfirm (it holds another session with us, e.g. a stale one after a floating IP
  moved) retries after ConnectRetryTime like a refusal in OpenSent, without damping growth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from bgpd.fsm.actions import (
    Action,
    CloseConnection,
    Connect,
    FamilyIgnored,
    MessageReceived,
    PeerNotification,
    RouteRefreshRequested,
    RoutesReceived,
    RoutesStale,
    Send,
    SessionDown,
    SessionEstablished,
    StaleRoutesDeleted,
    StateChanged,
    UpdateRepaired,
)
from bgpd.fsm.config import FsmConfig
from bgpd.fsm.events import (
    AutomaticStart,
    AutomaticStop,
    BytesReceived,
    CollisionDump,
    Event,
    HeaderError,
    KeepaliveReceived,
    ManualStart,
    ManualStop,
    MessageEvent,
    NotificationReceived,
    OpenMessageError,
    OpenReceived,
    PeerReconnected,
    PrefixLimitReached,
    RouteRefreshReceived,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    TimerExpired,
    UpdateMessageError,
    UpdateReceived,
)
from bgpd.fsm.negotiation import Negotiated, build_open, check_peer_open, negotiate
from bgpd.fsm.reasons import Reason, StaleCause
from bgpd.fsm.states import State
from bgpd.fsm.timers import SESSION_TIMERS, Timer, Timers
from bgpd.wire import DEFAULT_CONTEXT, Message, encode_message
from bgpd.wire.constants import (
    IPV4_UNICAST,
    MAX_EXTENDED_MESSAGE_LEN,
    CeaseSub,
    ErrorAction,
    ErrorCode,
    Family,
    FsmSub,
    MessageType,
    RouteRefreshSubtype,
    known_family,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.framing import Framer
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open
from bgpd.wire.route_refresh import RouteRefresh
from bgpd.wire.update import Update


class FsmUsageError(Exception):
    """The driver misused the API (e.g. sent an UPDATE outside Established): a local bug."""


Handler = Callable[["Session", Any, float], None]


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: the handler of an event in a state, and every state it may end in
    (the state itself when the event can leave it unchanged)."""

    handler: Handler
    targets: frozenset[State]


_SHUTDOWN_SUBCODES: Final = frozenset({CeaseSub.ADMINISTRATIVE_SHUTDOWN, CeaseSub.ADMINISTRATIVE_RESET})
# The peer turning our connection away because it has, or wants, another one with us: no flap.
_REFUSALS: Final = frozenset({CeaseSub.CONNECTION_REJECTED, CeaseSub.CONNECTION_COLLISION_RESOLUTION})
# RFC 6608 §3: the subcode names the state, the data the type of the unexpected message.
_FSM_SUBCODE: Final[Mapping[State, FsmSub]] = {
    State.OPEN_SENT: FsmSub.UNEXPECTED_MESSAGE_IN_OPENSENT,
    State.OPEN_CONFIRM: FsmSub.UNEXPECTED_MESSAGE_IN_OPENCONFIRM,
    State.ESTABLISHED: FsmSub.UNEXPECTED_MESSAGE_IN_ESTABLISHED,
}
_MESSAGE_TYPE: Final[Mapping[type, MessageType]] = {
    OpenReceived: MessageType.OPEN,
    OpenMessageError: MessageType.OPEN,
    UpdateReceived: MessageType.UPDATE,
    UpdateMessageError: MessageType.UPDATE,
    KeepaliveReceived: MessageType.KEEPALIVE,
    NotificationReceived: MessageType.NOTIFICATION,
    RouteRefreshReceived: MessageType.ROUTE_REFRESH,
}
_TIMER_LOOP_BOUND: Final = 4 * len(Timer)  # handle_timers fires each due timer once, with margin


class Session:
    """The state machine of one connection to a configured peer (RFC 4271 §8.2.1.2: the speaker
    runs a second one for a colliding incoming connection)."""

    def __init__(
        self, config: FsmConfig, jitter: Callable[[], float] | None = None, *, restarting: bool = False
    ) -> None:
        """``jitter`` gives the RFC 4271 §10 factor (0.75..1.0) for the timers it applies to
        (``Timers``); without it timers run exactly as configured (tests)."""
        self.config = config
        # RFC 4724 §4.1: our OPENs carry the Restart State bit until the session is Established
        self.restarting = restarting
        # helper role: the families whose routes from the restarting peer are kept stale now
        self.stale: frozenset[Family] = frozenset()
        self.state = State.IDLE
        self.reason: Reason | None = None  # of the last transition
        self.timers = Timers(jitter)
        self.negotiated: Negotiated | None = None
        self.peer_open: Open | None = None  # the peer's OPEN on the current connection, once valid
        self.established_at: float | None = None  # when the current connection reached Established
        self._passive = config.passive  # of the current start (ManualStart/AutomaticStart event)
        # The last ManualStart's own passive flag; automatic restarts use it OR the *current*
        # config, so a reload that turns passive mode off applies at the next restart.
        self._manual_passive = False
        self._sent_open: Open | None = None
        self._framer = Framer()
        self._damp_level = 0
        self._out: list[Action] = []

    # ------------------------------------------------------------------ driver API
    def handle(self, event: Event, now: float) -> list[Action]:
        """Process one event; the returned actions are to be carried out in order."""
        if isinstance(event, BytesReceived):
            self._receive(event.data, now)
        else:
            if isinstance(event, TimerExpired):
                self.timers.stop(event.timer)
            self._dispatch(event, now)
        return self._take()

    def handle_timers(self, now: float) -> list[Action]:
        """Fire every timer whose deadline is ``now`` or earlier, earliest first."""
        for _ in range(_TIMER_LOOP_BOUND):
            timer = self.timers.due(now)
            if timer is None:
                break
            self.timers.stop(timer)
            self._dispatch(TimerExpired(timer), now)
        return self._take()

    def next_deadline(self) -> float | None:
        """When the driver must call ``handle_timers`` next (None: no timer running)."""
        return self.timers.next_deadline()

    def send_update(self, update: Update, now: float) -> list[Action]:
        """Send one UPDATE (Established only); restarts the KeepaliveTimer (RFC 4271 §8.2.2:
        "each time the local system sends a KEEPALIVE or UPDATE message")."""
        self._require_established("send an UPDATE")
        self._send(update, now)
        return self._take()

    def sent_updates(self, count: int, now: float) -> None:
        """The driver wrote ``count`` UPDATEs the Adj-RIB-Out encoded itself (routes go out in
        batches of wire bytes, not one ``Send`` each; the driver's record counts them): restart the
        KeepaliveTimer as for any UPDATE sent (RFC 4271 §8.2.2). Established only."""
        neg = self._require_established("send UPDATEs")
        if count and neg.keepalive_time:
            self.timers.start(Timer.KEEPALIVE, now, neg.keepalive_time)

    def send_route_refresh(
        self, family: Family, now: float, subtype: RouteRefreshSubtype = RouteRefreshSubtype.NORMAL
    ) -> list[Action]:
        """Ask the peer to resend ``family`` (RFC 2918), or mark BoRR/EoRR (RFC 7313)."""
        neg = self._require_established("send a ROUTE-REFRESH")
        if not neg.route_refresh or family not in neg.families:
            raise FsmUsageError(f"route refresh for {family} was not negotiated")
        if subtype is not RouteRefreshSubtype.NORMAL and not neg.enhanced_route_refresh:
            raise FsmUsageError("BoRR/EoRR need enhanced route refresh (RFC 7313)")
        self._send(RouteRefresh(family.afi, family.safi, subtype), now)
        return self._take()

    @property
    def send_context(self) -> CodecContext:
        """How to encode what this session sends (the default until an OPEN was accepted)."""
        return self.negotiated.send_context if self.negotiated is not None else DEFAULT_CONTEXT

    @property
    def receive_context(self) -> CodecContext:
        return self.negotiated.receive_context if self.negotiated is not None else DEFAULT_CONTEXT

    def encode(self, message: Message) -> bytes:
        """The wire form of a message this session asked to send."""
        return encode_message(message, self.send_context)

    @property
    def idle(self) -> bool:
        return self.state is State.IDLE

    @property
    def awaiting_restart(self) -> bool:
        """Idle with the IdleHoldTimer running: an automatic restart is pending, so an incoming
        connection from the peer is taken (event 5, then 17) instead of refused."""
        return self.state is State.IDLE and self.timers.running(Timer.IDLE_HOLD)

    @property
    def takes_reconnect(self) -> bool:
        """Established with a peer that announced graceful restart: a new connection from it is
        its restart (``PeerReconnected``, RFC 4724 §4.2), not a collision to refuse."""
        return (
            self.state is State.ESTABLISHED
            and self.negotiated is not None
            and (self.negotiated.graceful_restart is not None)
        )

    @property
    def peer_id(self) -> int | None:
        """The peer's BGP Identifier once its OPEN was accepted (collision resolution needs it)."""
        return self.peer_open.bgp_id if self.peer_open is not None else None

    # ------------------------------------------------------------------ input processing
    def _take(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _dispatch(self, event: Event, now: float) -> None:
        key: type | Timer = type(event)
        if isinstance(event, TimerExpired) and event.timer in SESSION_TIMERS:
            key = event.timer
        rule = TRANSITIONS.get((self.state, key), _UNEXPECTED)
        rule.handler(self, event, now)
        assert self.state in rule.targets, f"{type(event).__name__} led to {self.state}, not in its rule"

    def _receive(self, data: bytes, now: float) -> None:
        """Frame and decode; stop at the first message that ends the connection."""
        if self.state is State.IDLE:
            return  # late bytes of a connection already dropped
        try:
            for msg_type, body in self._framer.feed(data):
                self._out.append(MessageReceived(msg_type))
                self._dispatch(self._decode(msg_type, body), now)
                if self.idle:
                    return
        except NotificationError as err:  # RFC 4271 §6.1, from the framer: event 21
            self._dispatch(HeaderError(err), now)

    def _decode(self, msg_type: MessageType, body: bytes) -> MessageEvent:
        try:
            if msg_type is MessageType.OPEN:
                return OpenReceived(Open.decode(body, DEFAULT_CONTEXT))
            if msg_type is MessageType.UPDATE:
                return UpdateReceived(Update.decode(body, self.receive_context))
            if msg_type is MessageType.KEEPALIVE:
                Keepalive.decode(body, DEFAULT_CONTEXT)
                return KeepaliveReceived()
            if msg_type is MessageType.NOTIFICATION:
                return NotificationReceived(Notification.decode(body, DEFAULT_CONTEXT))
            return RouteRefreshReceived(RouteRefresh.decode(body, DEFAULT_CONTEXT))
        except UpdateError as err:
            return UpdateMessageError(err)
        except NotificationError as err:
            return OpenMessageError(err) if msg_type is MessageType.OPEN else HeaderError(err)

    # ------------------------------------------------------------------ building blocks
    def _set_state(self, new: State, reason: Reason, now: float) -> None:
        old, self.state, self.reason = self.state, new, reason
        self._out.append(StateChanged(old, new, reason))

    def _send(self, message: Message, now: float) -> None:
        self._out.append(Send(message))
        if isinstance(message, (Keepalive, Update)) and self.negotiated and self.negotiated.keepalive_time:
            # RFC 4271 §8.2.2, Established: restart on each KEEPALIVE or UPDATE sent
            self.timers.start(Timer.KEEPALIVE, now, self.negotiated.keepalive_time)

    def _require_established(self, what: str) -> Negotiated:
        if self.state is not State.ESTABLISHED or self.negotiated is None:
            raise FsmUsageError(f"cannot {what} in state {self.state}")
        return self.negotiated

    def _restart_hold(self, now: float) -> None:
        if self.negotiated is not None and self.negotiated.hold_time:
            self.timers.start(Timer.HOLD, now, self.negotiated.hold_time)

    def _new_connection(self) -> None:
        self._framer = Framer()
        self.negotiated = None
        self.peer_open = None
        self._sent_open = None

    def _start(self, passive: bool, reason: Reason, now: float) -> None:
        """Idle + a start event: §8.2.2 Idle, events 1/3 (Connect) and 4/5 (Active)."""
        self._passive = passive or self.config.passive
        self.timers.stop_connection_timers()
        self._new_connection()
        if self._passive:  # PassiveTcpEstablishment: we never connect, so no ConnectRetryTimer
            self._set_state(State.ACTIVE, reason, now)
            return
        self.timers.start(Timer.CONNECT_RETRY, now, self.config.connect_retry_time)
        self._out.append(Connect())
        self._set_state(State.CONNECT, reason, now)

    def _send_open(self, reason: Reason, now: float) -> None:
        """Send our OPEN, arm the large hold time (§8.2.2: 4 minutes suggested), go to OpenSent."""
        self.timers.stop(Timer.CONNECT_RETRY)
        self.timers.stop(Timer.DELAY_OPEN)
        self._sent_open = build_open(self.config, self.restarting)
        self._send(self._sent_open, now)
        self.timers.start(Timer.HOLD, now, self.config.open_hold_time)
        self._set_state(State.OPEN_SENT, reason, now)

    def _go_idle(
        self,
        reason: Reason,
        now: float,
        *,
        notification: Notification | None = None,
        received: Notification | None = None,
        restart: bool = True,
    ) -> None:
        """Every way down to Idle: optional NOTIFICATION, drop the connection, stop the timers,
        report the end of an Established session (keeping the peer's routes stale when it restarts
        gracefully), then maybe arm the IdleHoldTimer. ``received``: the peer's NOTIFICATION that
        ended the session; ``restart`` False: an administrative stop (no restart, no helping)."""
        if notification is not None:
            self._send(notification, now)
        self._out.append(CloseConnection())
        stable = False
        # DampPeerOscillations weighs only sessions that got as far as accepting the peer's OPEN,
        # and not the peer refusing this connection because it has another one with us
        flap = self.state is State.ESTABLISHED or (
            self.state is State.OPEN_CONFIRM and not _is_refusal(received)
        )
        if self.state is State.ESTABLISHED:
            since = self.established_at
            stable = since is not None and now - since >= self.config.stable_time
            ended_by = notification if notification is not None else received
            if restart and self._restarts_gracefully(ended_by):
                self._keep_stale(now)
            elif self.stale:  # it ended for good while we still waited for its End-of-RIB
                self._delete_stale(self.stale, StaleCause.SESSION_ENDED)
            self._out.append(SessionDown(reason))
        elif not restart and self.stale:
            self._delete_stale(self.stale, StaleCause.SESSION_ENDED)
        self.established_at = None
        self.timers.stop_connection_timers()
        self._new_connection()
        self._set_state(State.IDLE, reason, now)
        if restart and self.config.automatic_restart:
            hold = self._next_idle_hold(stable) if flap else self.config.connect_retry_time
            self.timers.start(Timer.IDLE_HOLD, now, hold)
        else:
            self._damp_level = 0

    # ------------------------------------------------------------------ graceful restart, helper
    def _restarts_gracefully(self, ended_by: Notification | None) -> bool:
        """Whether the end of this Established session is the peer's graceful restart: it announced
        the capability with families we carry, and the connection ended without a NOTIFICATION
        (RFC 4724 §4.2), or, with the N bit on both sides, with one that is not Hard Reset, sent or
        received (RFC 8538 §4; hold timer expiry sends one). Without the N bit a NOTIFICATION
        ends it for good (RFC 4724 §4)."""
        neg = self.negotiated
        if neg is None or not neg.restart_families:
            return False
        if ended_by is None:
            return True
        return neg.graceful_notification and not ended_by.is_hard_reset

    def _keep_stale(self, now: float) -> None:
        """RFC 4724 §4.2: keep the routes of the families in the peer's capability, stale, and give
        it its Restart Time to come back."""
        neg = self.negotiated
        assert neg is not None and neg.graceful_restart is not None
        self.stale = neg.restart_families
        restart_time = neg.graceful_restart.restart_time
        self._out.append(RoutesStale(self.stale, restart_time))
        self.timers.stop(Timer.STALE)
        self.timers.start(Timer.RESTART, now, restart_time)

    def _delete_stale(self, families: frozenset[Family], cause: StaleCause) -> None:
        self._out.append(StaleRoutesDeleted(families, cause))
        self.stale -= families
        if not self.stale:
            self.timers.stop(Timer.RESTART)
            self.timers.stop(Timer.STALE)

    def _peer_back(self, neg: Negotiated, now: float) -> None:
        """The restarting peer is Established again: families its new capability does not preserve
        go at once; the rest wait for its End-of-RIB, at most ``stale_time`` (RFC 4724 §4.2)."""
        if not self.stale:
            return
        self.timers.stop(Timer.RESTART)
        gone = self.stale - neg.preserved_families
        if gone:
            self._delete_stale(gone, StaleCause.NOT_PRESERVED)
        gr = self.config.graceful_restart  # set: without ours nothing was negotiated, nothing kept
        if self.stale and gr is not None:
            self.timers.start(Timer.STALE, now, gr.stale_time)

    def _end_of_rib(self, update: Update) -> None:
        """RFC 4724 §4.2: End-of-RIB from the peer deletes what is still stale in that family."""
        family = update.end_of_rib_family
        if family is not None and family in self.stale:
            self._delete_stale(frozenset({family}), StaleCause.END_OF_RIB)

    def _restart_timer(self, event: TimerExpired, now: float) -> None:
        """RFC 4724 §4.2: not re-established within the Restart Time: the stale routes go."""
        if self.stale:
            self._delete_stale(self.stale, StaleCause.RESTART_TIME_EXPIRED)

    def _stale_timer(self, event: TimerExpired, now: float) -> None:
        """Back, but no End-of-RIB within our stale time: what is still stale goes."""
        if self.stale:
            self._delete_stale(self.stale, StaleCause.STALE_TIME_EXPIRED)

    def _stop_notification(self, subcode: int, text: str, graceful: bool) -> Notification | None:
        """What a stop sends (see ``ManualStop``): None for a graceful stop of an Established
        session whose peer negotiated graceful restart without the N bit (RFC 4724 §4)."""
        cease = _cease(subcode, text)
        neg = self.negotiated
        if self.state is not State.ESTABLISHED or neg is None or neg.graceful_restart is None:
            return cease
        if graceful:
            return cease if neg.graceful_notification else None
        return self._withdrawing(cease)

    def _withdrawing(self, cease: Notification) -> Notification:
        """``cease`` for a stop that withdraws: Hard Reset standing for it when the N bit was
        negotiated (RFC 8538 §3), as it is otherwise (a Hard Reset of a Hard Reset says nothing more)."""
        neg = self.negotiated
        if neg is None or not neg.graceful_notification or cease.is_hard_reset:
            return cease
        return Notification.hard_reset(cease)

    def _next_idle_hold(self, stable: bool) -> float:
        """§8.1.1 DampPeerOscillations, after a session flap: the first value, doubled per
        consecutive flap, capped; back to the first value after a stable session."""
        cfg = self.config
        if stable or not cfg.damp_peer_oscillations:
            self._damp_level = 0
        hold = min(cfg.idle_hold_time * (1 << self._damp_level), cfg.idle_hold_max)
        if cfg.damp_peer_oscillations and hold < cfg.idle_hold_max:
            self._damp_level += 1
        return hold

    def _fsm_error(self, event: Event, now: float) -> None:
        """RFC 4271 §6.6 with the RFC 6608 subcode of the state; the data is the message type."""
        msg_type = _MESSAGE_TYPE.get(type(event))
        if msg_type is None:
            notification = Notification(ErrorCode.FSM, FsmSub.UNSPECIFIED)
        else:
            notification = Notification(ErrorCode.FSM, _FSM_SUBCODE[self.state], bytes((msg_type,)))
        self._go_idle(Reason.FSM_ERROR, now, notification=notification)

    def _accept_open(self, message: Open, now: float) -> None:
        """A valid OPEN (events 19/20): negotiate, answer with KEEPALIVE, go to OpenConfirm."""
        assert self._sent_open is not None
        neg = negotiate(self.config, self._sent_open, message)
        self.negotiated, self.peer_open = neg, message
        if neg.extended_message:  # RFC 8654 §4: from now on messages may be up to 65535 octets
            self._framer.max_len = MAX_EXTENDED_MESSAGE_LEN
        self.timers.stop(Timer.CONNECT_RETRY)
        self.timers.stop(Timer.DELAY_OPEN)
        self.timers.stop(Timer.HOLD)
        self.timers.stop(Timer.KEEPALIVE)
        self._send(Keepalive(), now)  # also starts the KeepaliveTimer when the hold time is non-zero
        self._restart_hold(now)
        self._set_state(State.OPEN_CONFIRM, Reason.OPEN_RECEIVED, now)

    def _check_open(self, message: Open, now: float) -> bool:
        try:
            check_peer_open(self.config, message)
        except NotificationError as err:  # event 22
            self._go_idle(Reason.OPEN_REJECTED, now, notification=Notification.from_error(err))
            return False
        return True

    def _routes(self, updates: Iterable[Update], error: ErrorAction | None) -> None:
        """Pass on what the negotiated families allow of ``updates`` (the parts of one UPDATE)."""
        ignored = False
        for update in updates:
            kept = self._negotiated_only(update)
            # an End-of-RIB of a family not negotiated is dropped silently: it carries no routes
            ignored = ignored or (kept is not update and update.end_of_rib_family is None)
            if kept is not None:
                self._out.append(RoutesReceived(kept, error))
        if ignored:
            self._out.append(FamilyIgnored())

    def _negotiated_only(self, update: Update) -> Update | None:
        """Drop the parts of an UPDATE for families not negotiated.

        RFC 4760 §7 lets a speaker ignore such NLRI ("SHOULD ignore all the subsequent routes with
        that AFI/SAFI") or end the session; we ignore them (``_routes`` tells it as a fact),
        because a peer announcing an extra family is no reason to drop the families that work.
        None when nothing is left.
        """
        assert self.negotiated is not None
        families = self.negotiated.families
        eor = update.end_of_rib_family
        if eor is not None:
            return update if eor in families else None
        changes: dict[str, Any] = {}
        if (update.nlri or update.withdrawn) and IPV4_UNICAST not in families:
            changes["nlri"] = ()
            changes["withdrawn"] = ()
        for name in ("mp_reach", "mp_unreach"):
            attr = getattr(update, name)
            if attr is not None and known_family(attr.afi, attr.safi) not in families:
                changes[name] = None
        if not changes:
            return update
        kept = dataclasses.replace(update, **changes)
        if kept.nlri or kept.withdrawn or kept.mp_reach is not None or kept.mp_unreach is not None:
            return kept
        return None

    # ------------------------------------------------------------------ handlers (see TRANSITIONS)
    def _ignore(self, event: Any, now: float) -> None:
        """Start events outside Idle, second connections (tracked by the speaker, §6.8), and so on."""

    def _unexpected(self, event: Any, now: float) -> None:
        if self.state is State.IDLE:
            return  # §8.2.2 Idle: other events "do not cause change"
        if self.state in (State.CONNECT, State.ACTIVE):
            self._go_idle(Reason.FSM_ERROR, now)  # "any other event": Idle, no NOTIFICATION
            return
        self._fsm_error(event, now)

    def _idle_manual_start(self, event: ManualStart, now: float) -> None:
        self._damp_level = 0  # an operator's start is a fresh start
        self._manual_passive = event.passive
        self._start(event.passive, Reason.MANUAL_START, now)

    def _idle_automatic_start(self, event: AutomaticStart, now: float) -> None:
        if self.timers.running(Timer.IDLE_HOLD):
            return  # damping: the IdleHoldTimer decides when the automatic restart happens
        self._start(event.passive, Reason.AUTOMATIC_START, now)

    def _idle_timer(self, event: TimerExpired, now: float) -> None:
        # event 13, the automatic restart; or the end of a prefix limit's hold-down
        if event.timer in (Timer.IDLE_HOLD, Timer.PREFIX_LIMIT_RESTART):
            self._start(self._manual_passive, Reason.AUTOMATIC_START, now)

    def _idle_manual_stop(self, event: ManualStop, now: float) -> None:
        """Ignored by §8.2.2, except that it cancels a pending automatic restart (and our wait for
        a restarting peer: its stale routes go)."""
        self.timers.stop(Timer.IDLE_HOLD)
        self.timers.stop(Timer.PREFIX_LIMIT_RESTART)
        self._damp_level = 0
        if self.stale:
            self._delete_stale(self.stale, StaleCause.SESSION_ENDED)

    def _idle_refuse(self, event: Any, now: float) -> None:
        self._out.append(CloseConnection())  # §8.2.2 Idle: "refuses all incoming BGP connections"

    def _idle_incoming(self, event: TcpConnectionConfirmed, now: float) -> None:
        """Event 17 in Idle. With an automatic restart pending (IdleHoldTimer running), the peer's
        connection is the restart: AutomaticStart_with_PassiveTcpEstablishment (event 5, §8.1.2)
        takes the session to Active, where the connection is confirmed (§8.2.2 Active, event 17).
        Refusing it would keep a peer that came back out until our IdleHoldTimer ends. The passive
        start concerns this connection only: should it fail, later attempts are made as the last
        ManualStart said. Without a pending restart (stopped by the operator, or no automatic
        restart) Idle refuses."""
        if not self.timers.running(Timer.IDLE_HOLD):
            self._idle_refuse(event, now)
            return
        self._start(True, Reason.AUTOMATIC_START, now)
        self._passive = self._manual_passive or self.config.passive
        self._connecting_tcp_up(event, now)

    def _manual_stop(self, event: ManualStop, now: float) -> None:
        """Event 2. A Cease goes out when an OPEN was sent, or on a DelayOpen connection; its kind
        follows ``event.graceful`` and what was negotiated (``_stop_notification``)."""
        notification = None
        if self._has_peer:
            notification = self._stop_notification(event.subcode, event.text, event.graceful)
        self._go_idle(Reason.ADMIN_SHUTDOWN, now, notification=notification, restart=False)

    def _automatic_stop(self, event: AutomaticStop, now: float) -> None:
        notification = None
        if self._has_peer:
            notification = self._stop_notification(event.subcode, event.text, event.graceful)
        self._go_idle(Reason.AUTOMATIC_STOP, now, notification=notification)

    def _prefix_limit(self, event: PrefixLimitReached, now: float) -> None:
        """Cease / Maximum Number of Prefixes Reached with AFI, SAFI and the limit (RFC 4486 §4), as
        a Hard Reset when the N bit was negotiated (RFC 8538 §5), then Idle with the hold-down
        timer, or none (see the module docstring)."""
        family = event.family
        cease = Notification.max_prefixes(family.afi, family.safi, event.limit)
        # RFC 8538 §5: a prefix limit MUST be a Hard Reset when the N bit was negotiated
        notification = self._withdrawing(cease)
        self._go_idle(Reason.PREFIX_LIMIT, now, notification=notification, restart=False)
        if event.restart_after is not None:
            self.timers.start(Timer.PREFIX_LIMIT_RESTART, now, event.restart_after)

    @property
    def _has_peer(self) -> bool:
        """Whether the peer has heard from us on this connection (our OPEN, or DelayOpen's wait)."""
        return self.state not in (State.CONNECT, State.ACTIVE) or self.timers.running(Timer.DELAY_OPEN)

    def _connecting_timer(self, event: TimerExpired, now: float) -> None:
        """Connect/Active timers: ConnectRetry (event 9) and DelayOpen (event 12); others unexpected."""
        if event.timer is Timer.DELAY_OPEN:
            self._send_open(Reason.DELAY_OPEN_EXPIRED, now)
        elif event.timer is Timer.CONNECT_RETRY:
            if self._passive:
                return  # never armed while passive; a stray expiry changes nothing
            if self.state is State.CONNECT:
                self._out.append(CloseConnection())  # drop the attempt (or DelayOpen connection) ...
                self.timers.stop(Timer.DELAY_OPEN)
            self._new_connection()
            self.timers.start(Timer.CONNECT_RETRY, now, self.config.connect_retry_time)
            self._out.append(Connect())  # ... and try again
            if self.state is State.ACTIVE:
                self._set_state(State.CONNECT, Reason.CONNECT_RETRY, now)
        else:
            self._unexpected(event, now)

    def _connecting_tcp_up(self, event: Any, now: float) -> None:
        """Events 16/17 in Connect or Active."""
        self.timers.stop(Timer.CONNECT_RETRY)
        self._new_connection()
        if self.config.delay_open_time > 0:
            self.timers.start(Timer.DELAY_OPEN, now, self.config.delay_open_time)
            return
        self._send_open(Reason.CONNECTED, now)

    def _connecting_tcp_fails(self, event: TcpConnectionFails, now: float) -> None:
        """Event 18. Connect with a DelayOpen connection falls back to Active; otherwise Idle,
        where the IdleHoldTimer, set to ConnectRetryTime (no damping: this is no flap), schedules
        the next attempt and an incoming connection from the peer is accepted meanwhile."""
        if self.state is State.CONNECT and self.timers.running(Timer.DELAY_OPEN):
            self.timers.stop(Timer.DELAY_OPEN)
            self.timers.start(Timer.CONNECT_RETRY, now, self.config.connect_retry_time)
            self._new_connection()
            self._set_state(State.ACTIVE, Reason.PEER_CLOSED, now)
            return
        reason = Reason.PEER_CLOSED if self.timers.running(Timer.DELAY_OPEN) else Reason.CONNECT_FAILED
        self._go_idle(reason, now)

    def _connecting_open(self, event: OpenReceived, now: float) -> None:
        """Event 20 (DelayOpenTimer running): answer with our OPEN and a KEEPALIVE; without the
        timer this OPEN is event 19, which Connect and Active do not expect."""
        if not self.timers.running(Timer.DELAY_OPEN):
            self._unexpected(event, now)
            return
        if not self._check_open(event.message, now):
            return
        self._sent_open = build_open(self.config, self.restarting)
        self._send(self._sent_open, now)
        self._accept_open(event.message, now)

    def _connecting_error(self, event: HeaderError | OpenMessageError, now: float) -> None:
        """Events 21/22 on a DelayOpen connection: SendNOTIFICATIONwithoutOPEN, then Idle."""
        self._go_idle(Reason.OPEN_REJECTED, now, notification=Notification.from_error(event.error))

    def _notification(self, event: NotificationReceived, now: float) -> None:
        """Events 24/25 in every state but Idle: no answer (§4.5), Idle."""
        self._out.append(PeerNotification(event.message))
        self._go_idle(Reason.NOTIFICATION_RECEIVED, now, received=event.message)

    def _hold_or_keepalive_timer(self, event: TimerExpired, now: float) -> None:
        """OpenSent/OpenConfirm/Established timers: Hold (event 10) ends the session with 4/0;
        Keepalive (event 11) sends one and restarts (not in OpenSent); others are unexpected."""
        if event.timer is Timer.HOLD:
            notification = Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0)
            self._go_idle(Reason.HOLD_TIMER_EXPIRED, now, notification=notification)
        elif event.timer is Timer.KEEPALIVE and self.state is not State.OPEN_SENT:
            self._send(Keepalive(), now)
        else:
            self._unexpected(event, now)

    def _tcp_fails(self, event: TcpConnectionFails, now: float) -> None:
        self._go_idle(Reason.PEER_CLOSED, now)

    def _open_sent_tcp_fails(self, event: TcpConnectionFails, now: float) -> None:
        """§8.2.2 OpenSent, event 18: back to Active, listening, with the ConnectRetryTimer."""
        self.timers.stop_connection_timers()
        self._out.append(CloseConnection())
        self._new_connection()
        if not self._passive:
            self.timers.start(Timer.CONNECT_RETRY, now, self.config.connect_retry_time)
        self._set_state(State.ACTIVE, Reason.PEER_CLOSED, now)

    def _open_sent_open(self, event: OpenReceived, now: float) -> None:
        if self._check_open(event.message, now):
            self._accept_open(event.message, now)

    def _message_error(self, event: HeaderError | OpenMessageError, now: float) -> None:
        """Events 21/22 after our OPEN: send the error's own NOTIFICATION (§6.1, §6.2), then Idle."""
        reason = Reason.OPEN_REJECTED if isinstance(event, OpenMessageError) else Reason.NOTIFICATION_SENT
        self._go_idle(reason, now, notification=Notification.from_error(event.error))

    def _collision_dump(self, event: CollisionDump, now: float) -> None:
        """Event 23: Cease / Connection Collision Resolution (RFC 4486 §4 subcode 7)."""
        notification = Notification(ErrorCode.CEASE, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
        self._go_idle(Reason.CONNECTION_COLLISION, now, notification=notification)

    def _open_confirm_keepalive(self, event: KeepaliveReceived, now: float) -> None:
        """Event 26 in OpenConfirm: the session is up (and our own restart, if any, is over)."""
        assert self.negotiated is not None
        self._restart_hold(now)
        self.established_at = now
        self.restarting = False
        self._set_state(State.ESTABLISHED, Reason.OPEN_CONFIRMED, now)
        self._out.append(SessionEstablished(self.negotiated))
        self._peer_back(self.negotiated, now)

    def _established_reconnect(self, event: PeerReconnected, now: float) -> None:
        """RFC 4724 §4.2: with the peer's graceful restart capability, its new connection means the
        old one is dead: close it (no NOTIFICATION: the peer is gone from it) and keep the routes
        stale; the driver hands the new connection to the session next. Without the capability the
        Established connection stays (§6.8) and the driver refuses the new one."""
        if self.takes_reconnect:
            self._go_idle(Reason.PEER_RESTARTED, now)

    def _established_keepalive(self, event: KeepaliveReceived, now: float) -> None:
        self._restart_hold(now)

    def _established_update(self, event: UpdateReceived, now: float) -> None:
        self._restart_hold(now)
        self._routes((event.message,), None)
        if self.stale:
            self._end_of_rib(event.message)

    def _established_update_error(self, event: UpdateMessageError, now: float) -> None:
        """RFC 7606 §2: the codec chose the action; only session-reset ends the session (event 28)."""
        error = event.error
        if error.action is ErrorAction.SESSION_RESET or error.update is None:
            self._go_idle(Reason.UPDATE_ERROR, now, notification=Notification.from_error(error))
            return
        self._restart_hold(now)
        self._out.append(UpdateRepaired(error.action))
        if error.action is ErrorAction.TREAT_AS_WITHDRAW:
            self._routes(error.update.as_withdrawals(), ErrorAction.TREAT_AS_WITHDRAW)
        else:
            self._routes((error.update,), ErrorAction.ATTRIBUTE_DISCARD)

    def _established_route_refresh(self, event: RouteRefreshReceived, now: float) -> None:
        """RFC 2918 §4: a family not negotiated, or (RFC 7313 §5) an unknown subtype, is ignored."""
        self._restart_hold(now)
        assert self.negotiated is not None
        message = event.message
        family = known_family(message.afi, message.safi)
        if not self.negotiated.route_refresh or family is None or family not in self.negotiated.families:
            return
        if isinstance(message.subtype, RouteRefreshSubtype):
            self._out.append(RouteRefreshRequested(family, message.subtype))


def _is_refusal(received: Notification | None) -> bool:
    return received is not None and received.code == ErrorCode.CEASE and received.subcode in _REFUSALS


def _cease(subcode: int, text: str) -> Notification:
    """Cease with the RFC 9003 shutdown communication when there is text for a subcode that has one."""
    if text and subcode in _SHUTDOWN_SUBCODES:
        return Notification.shutdown(text, subcode)
    return Notification(ErrorCode.CEASE, subcode)


# ---------------------------------------------------------------------- the table
IDLE, CONNECT, ACTIVE = State.IDLE, State.CONNECT, State.ACTIVE
OPEN_SENT, OPEN_CONFIRM, ESTABLISHED = State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED


def _rule(handler: Handler, *targets: State) -> Rule:
    return Rule(handler, frozenset(targets))


def _build_table() -> dict[tuple[State, type | Timer], Rule]:
    s = Session
    table: dict[tuple[State, type | Timer], Rule] = {
        (IDLE, ManualStart): _rule(s._idle_manual_start, CONNECT, ACTIVE),
        (IDLE, AutomaticStart): _rule(s._idle_automatic_start, IDLE, CONNECT, ACTIVE),
        (IDLE, TimerExpired): _rule(s._idle_timer, IDLE, CONNECT, ACTIVE),
        (IDLE, ManualStop): _rule(s._idle_manual_stop, IDLE),
        (IDLE, TcpConnectionAcknowledged): _rule(s._idle_refuse, IDLE),
        # an automatic restart pending: the connection is taken (Active with DelayOpen)
        (IDLE, TcpConnectionConfirmed): _rule(s._idle_incoming, IDLE, ACTIVE, OPEN_SENT),
    }
    for state in State:  # RFC 4724 §4.2: the session's own timers, whatever its connection does
        table[state, Timer.RESTART] = _rule(s._restart_timer, state)
        table[state, Timer.STALE] = _rule(s._stale_timer, state)
    for state in (CONNECT, ACTIVE, OPEN_SENT, OPEN_CONFIRM, ESTABLISHED):
        table[state, ManualStart] = _rule(s._ignore, state)
        table[state, AutomaticStart] = _rule(s._ignore, state)
        table[state, ManualStop] = _rule(s._manual_stop, IDLE)
        table[state, AutomaticStop] = _rule(s._automatic_stop, IDLE)
        table[state, NotificationReceived] = _rule(s._notification, IDLE)
    for state in (CONNECT, ACTIVE):
        # ConnectRetry: Connect again; DelayOpen: our OPEN; stray or other timers
        table[state, TimerExpired] = _rule(s._connecting_timer, state, CONNECT, OPEN_SENT, IDLE)
        # with DelayOpen the state waits for the peer's OPEN or the timer
        table[state, TcpConnectionAcknowledged] = _rule(s._connecting_tcp_up, state, OPEN_SENT)
        table[state, TcpConnectionConfirmed] = _rule(s._connecting_tcp_up, state, OPEN_SENT)
        table[state, TcpConnectionFails] = _rule(s._connecting_tcp_fails, ACTIVE, IDLE)
        table[state, OpenReceived] = _rule(s._connecting_open, OPEN_CONFIRM, IDLE)
        table[state, HeaderError] = _rule(s._connecting_error, IDLE)
        table[state, OpenMessageError] = _rule(s._connecting_error, IDLE)
    for state in (OPEN_SENT, OPEN_CONFIRM, ESTABLISHED):
        table[state, TimerExpired] = _rule(s._hold_or_keepalive_timer, state, IDLE)
        table[state, TcpConnectionAcknowledged] = _rule(s._ignore, state)  # a second connection: §6.8
        table[state, TcpConnectionConfirmed] = _rule(s._ignore, state)
        table[state, HeaderError] = _rule(s._message_error, IDLE)
        table[state, CollisionDump] = _rule(s._collision_dump, IDLE)
    table[OPEN_SENT, TcpConnectionFails] = _rule(s._open_sent_tcp_fails, ACTIVE)
    table[OPEN_SENT, OpenReceived] = _rule(s._open_sent_open, OPEN_CONFIRM, IDLE)
    table[OPEN_SENT, OpenMessageError] = _rule(s._message_error, IDLE)
    table[OPEN_CONFIRM, TcpConnectionFails] = _rule(s._tcp_fails, IDLE)
    table[OPEN_CONFIRM, OpenMessageError] = _rule(s._message_error, IDLE)
    table[OPEN_CONFIRM, KeepaliveReceived] = _rule(s._open_confirm_keepalive, ESTABLISHED)
    table[ESTABLISHED, TcpConnectionFails] = _rule(s._tcp_fails, IDLE)
    table[ESTABLISHED, PeerReconnected] = _rule(s._established_reconnect, ESTABLISHED, IDLE)
    table[ESTABLISHED, KeepaliveReceived] = _rule(s._established_keepalive, ESTABLISHED)
    table[ESTABLISHED, UpdateReceived] = _rule(s._established_update, ESTABLISHED)
    table[ESTABLISHED, UpdateMessageError] = _rule(s._established_update_error, ESTABLISHED, IDLE)
    table[ESTABLISHED, RouteRefreshReceived] = _rule(s._established_route_refresh, ESTABLISHED)
    table[ESTABLISHED, PrefixLimitReached] = _rule(s._prefix_limit, IDLE)
    return table


TRANSITIONS: Final[Mapping[tuple[State, type | Timer], Rule]] = _build_table()
"""(state, event type) -> Rule, or (state, timer) for the session timers of graceful restart;
unlisted pairs follow ``_UNEXPECTED``."""

_UNEXPECTED: Final = _rule(Session._unexpected, IDLE)
"""Idle ignores the event; every other state drops to Idle (with an FSM Error after our OPEN)."""

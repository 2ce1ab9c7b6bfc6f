"""Fuzz targets: one function per surface an outsider can feed, bytes in, nothing out but a bug.

A target returns normally for every input the code handles as designed, including every malformed
one answered with its declared error; anything else that escapes (an undeclared exception, or an
``AssertionError`` from the checks below) is a bug. The declared errors are:

- ``framing``: ``NotificationError`` Message Header Error (RFC 4271 §6.1), with the data §6.1 names;
- ``open``: nothing at all: the session answers every bad OPEN or message with a NOTIFICATION
  action, which must be encodable, and negotiates only what both sides offered (RFC 5492);
- ``update``: ``UpdateError`` (RFC 7606: its action, and the decodable part unless the action is
  session reset) or Bad Message Length for an UPDATE over the session's maximum (RFC 4271 §6.1);
  what decodes goes into an ``AdjRibIn`` exactly as the speaker applies it;
- ``control``: ``BadRequestError``, whose reply, like every reply, is strict JSON (RFC 8259).

Each target also returns how far the input got (messages framed, the session's state and routes,
routes in the Adj-RIB-In, the reply code), so tests can show that the seeds reach deep.

Input layout: for the wire targets the first octet selects options (chunking, codec context,
session configuration) and the rest is a BGP byte stream, so real captures (tests/wire/vectors)
are valid seeds after one option octet; the control target's input is one request line.

Run by tools/fuzz.py under atheris (coverage-guided, long runs) and by tests/fuzz (corpus replay
and a bounded atheris run). Only public APIs are used, so the harness survives changes of
representation behind them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from bgpd.control.protocol import BadRequestError, encode_error, encode_ok, encode_request, parse_request
from bgpd.fsm import FsmConfig, Session
from bgpd.fsm.actions import Action, RoutesReceived, Send, SessionEstablished
from bgpd.fsm.events import BytesReceived, ManualStart, TcpConnectionAcknowledged
from bgpd.fsm.states import State
from bgpd.rib.adj_rib_in import AdjRibIn, RibChange
from bgpd.wire import decode_message, encode_message
from bgpd.wire.capabilities import GracefulRestart, GracefulRestartFamily
from bgpd.wire.constants import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
    AddPathMode,
    ErrorAction,
    ErrorCode,
    HeaderSub,
    MessageType,
    UpdateSub,
)
from bgpd.wire.context import DEFAULT_CONTEXT, CodecContext
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.framing import Framer, encode_header
from bgpd.wire.notification import Notification
from bgpd.wire.update import Update
from tests.fsm._helpers import SETTINGS

__all__ = ["TARGETS", "control_request", "framing", "open_negotiation", "update_rib"]

BOTH_FAMILIES: Final = frozenset({IPV4_UNICAST, IPV6_UNICAST})


def _split(data: bytes) -> tuple[int, bytes]:
    return (data[0], data[1:]) if data else (0, b"")


_CODES: Final = frozenset(ErrorCode)
_UPDATE_SUBCODES: Final = frozenset(UpdateSub)


def _check_sendable(error: NotificationError) -> None:
    """The error names a NOTIFICATION bgpd can put on the wire (RFC 4271 §4.5)."""
    assert error.code in _CODES, error
    assert 0 <= error.subcode <= 0xFF, error
    encode_message(Notification.from_error(error), DEFAULT_CONTEXT)


# ---------------------------------------------------------------------------------------- framing
_HEADER_ERROR_DATA: Final = {  # RFC 4271 §6.1: what each Message Header Error carries
    HeaderSub.CONNECTION_NOT_SYNCHRONIZED: 0,
    HeaderSub.BAD_MESSAGE_LENGTH: 2,  # the erroneous Length field
    HeaderSub.BAD_MESSAGE_TYPE: 1,  # the erroneous Type field
}
Frames = tuple[list[tuple[int, bytes]], tuple[int, int, bytes] | None]


def _cut(stream: bytes, chunk: int, max_len: int) -> Frames:
    """The messages a ``Framer`` yields when ``stream`` arrives ``chunk`` octets at a time, and the
    (code, subcode, data) of the header error that stopped it, if any."""
    framer = Framer(max_len)
    frames: list[tuple[int, bytes]] = []
    try:
        for start in range(0, len(stream), chunk):
            frames.extend(framer.feed(stream[start : start + chunk]))
    except NotificationError as err:
        assert err.code == ErrorCode.MESSAGE_HEADER, err
        assert len(err.data) == _HEADER_ERROR_DATA[HeaderSub(err.subcode)], err
        _check_sendable(err)
        try:
            framer.feed(b"")
        except NotificationError as again:  # a failed framer stays failed, with the same error
            assert (again.code, again.subcode, again.data) == (err.code, err.subcode, err.data)
        else:
            raise AssertionError("the framer took more bytes after a header error") from None
        return frames, (err.code, err.subcode, err.data)
    assert framer.buffered == len(stream) - sum(19 + len(body) for _, body in frames)
    return frames, None


def framing(data: bytes) -> int:
    """Option octet: bits 0-5 the chunk size the stream arrives in (0: at once), bit 6 RFC 8654."""
    options, stream = _split(data)
    max_len = MAX_EXTENDED_MESSAGE_LEN if options & 0x40 else MAX_MESSAGE_LEN
    whole = _cut(stream, max(len(stream), 1), max_len)
    assert _cut(stream, (options & 0x3F) or max(len(stream), 1), max_len) == whole  # cuts change nothing
    consumed = b"".join(encode_header(MessageType(t), body, max_len) for t, body in whole[0])
    assert stream.startswith(consumed)  # every message is the stream's own octets, in order
    return len(whole[0])


# -------------------------------------------------------------------------- OPEN and negotiation
_LOCAL_ID: Final = 0x0A000009  # 10.0.0.9: neither captured peer's identifier
_GR: Final = GracefulRestart(
    restart_state=False,
    notification=True,
    restart_time=120,
    families=(GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, True)),
)


def _config(**fields: Any) -> FsmConfig:
    """An FsmConfig with the operator's default settings (the FSM declares none of its own)."""
    return FsmConfig(**{**SETTINGS, **fields})


CONFIGS: Final = (
    # everything on: each capability a peer may offer has something to meet
    _config(
        local_as=65001,
        bgp_id=_LOCAL_ID,
        families=(IPV4_UNICAST, IPV6_UNICAST),
        extended_message=True,
        extended_next_hop=frozenset({IPV4_UNICAST}),
        add_path={IPV4_UNICAST: AddPathMode.BOTH, IPV6_UNICAST: AddPathMode.RECEIVE},
        graceful_restart=_GR,
    ),
    # a plain IPv4 speaker that insists on the peer's AS (the captured GoBGP is AS 65001)
    _config(local_as=65002, bgp_id=_LOCAL_ID, peer_as=65001, route_refresh=False),
    # no hold timer, DelayOpen: the peer's OPEN arrives before ours is sent (RFC 4271 event 20)
    _config(local_as=4200000002, bgp_id=_LOCAL_ID, hold_time=0, delay_open_time=5.0),
    # iBGP with the captured BIRD's own AS and identifier: its OPEN must be refused (RFC 6286 §2.2)
    _config(local_as=4200000001, bgp_id=0xC0000202, families=(IPV4_UNICAST, IPV6_UNICAST)),
)


def _check_negotiated(session: Session) -> None:
    neg = session.negotiated
    if session.state in (State.OPEN_CONFIRM, State.ESTABLISHED):
        assert neg is not None
    if neg is None:
        return
    config = session.config
    assert neg.families <= frozenset(config.families)  # RFC 5492: only what both offered
    assert neg.hold_time == 0 or 3 <= neg.hold_time <= config.hold_time  # RFC 4271 §4.2
    assert neg.keepalive_time == 0 if neg.hold_time == 0 else 0 < neg.keepalive_time < neg.hold_time
    assert neg.extended_message <= config.extended_message
    assert neg.extended_next_hop <= config.extended_next_hop & neg.families
    assert neg.add_path_receive | neg.add_path_send <= frozenset(config.add_path) & neg.families
    assert (neg.graceful_restart is not None) <= (config.graceful_restart is not None)
    assert neg.receive_context.add_path == neg.add_path_receive


def _apply_routes(rib: AdjRibIn, action: RoutesReceived) -> RibChange:
    """What the speaker does with a ``RoutesReceived`` (bgpd/speaker/peer.py)."""
    if action.error is ErrorAction.TREAT_AS_WITHDRAW:
        return rib.withdraw_all(action.update)
    return rib.apply(action.update)


def _carry_out(session: Session, rib: AdjRibIn, actions: list[Action]) -> AdjRibIn:
    for action in actions:
        if isinstance(action, Send):
            session.encode(action.message)  # the driver encodes every message the session sends
            if isinstance(action.message, Notification):
                assert action.message.code in _CODES, action
        elif isinstance(action, SessionEstablished):
            rib = AdjRibIn(action.negotiated.families)
        elif isinstance(action, RoutesReceived):
            _check_rib(rib, _apply_routes(rib, action))
    return rib


def open_negotiation(data: bytes) -> tuple[State, int]:
    """Option octet: bits 0-1 pick one of ``CONFIGS``; bit 7 lets every timer expire at the end.

    The session has sent its OPEN (or, with DelayOpen, waits) and reads the stream from the peer.
    """
    options, stream = _split(data)
    session = Session(CONFIGS[options & 0x03])
    rib = _carry_out(session, AdjRibIn(), session.handle(ManualStart(), 0.0))
    rib = _carry_out(session, rib, session.handle(TcpConnectionAcknowledged(), 0.0))
    rib = _carry_out(session, rib, session.handle(BytesReceived(stream), 1.0))
    _check_negotiated(session)
    reached = (session.state, len(rib))
    if options & 0x80:
        _carry_out(session, rib, session.handle_timers(1e6))
        deadline = session.next_deadline()
        assert deadline is None or deadline > 1e6, (session.state, deadline)  # every due timer ran
    return reached


# ------------------------------------------------------------------------- UPDATE into Adj-RIB-In
def _context(options: int) -> CodecContext:
    return CodecContext(
        four_octet_as=not options & 0x01,
        add_path=BOTH_FAMILIES if options & 0x02 else frozenset(),
        extended_message=bool(options & 0x04),
        extended_next_hop=frozenset({IPV4_UNICAST}) if options & 0x08 else frozenset(),
    )


def _check_rib(rib: AdjRibIn, change: RibChange) -> None:
    assert change.announced >= 0 and change.withdrawn >= 0
    routes = list(rib.routes())
    assert len(routes) == len(rib) == sum(rib.count(f) for f in {f for f, _, _ in routes})
    for family, prefix, path in routes:
        assert family in rib.families
        assert rib.get(family, prefix) is path
        assert len(path.next_hop) in (4, 16, 32), path  # RFC 4271 §5.1.3, RFC 2545 §3


def _check_update_error(err: UpdateError) -> None:
    assert err.code == ErrorCode.UPDATE_MESSAGE and err.subcode in _UPDATE_SUBCODES, err
    assert isinstance(err.action, ErrorAction)
    if err.action is not ErrorAction.SESSION_RESET:
        assert err.update is not None, err  # RFC 7606 §2: the rest of the message is still used
    _check_sendable(err)


def _receive_update(rib: AdjRibIn, body: bytes, ctx: CodecContext) -> bool:
    """Decode one UPDATE body into ``rib``; False when the session would be reset."""
    try:
        message = decode_message(MessageType.UPDATE, body, ctx)
    except UpdateError as err:
        _check_update_error(err)
        if err.action is ErrorAction.SESSION_RESET:
            return False
        assert err.update is not None
        _check_rib(rib, _apply_routes(rib, RoutesReceived(err.update, err.action)))
        return True
    except NotificationError as err:  # only an UPDATE longer than the negotiated maximum
        assert (err.code, err.subcode) == (ErrorCode.MESSAGE_HEADER, HeaderSub.BAD_MESSAGE_LENGTH), err
        return False
    assert isinstance(message, Update)
    before = len(rib)
    change = rib.apply(message)
    _check_rib(rib, change)
    if message.end_of_rib_family is None:
        after = list(rib.routes())
        assert before - change.withdrawn <= len(after) <= before + change.announced
        # Applied twice, an UPDATE leaves the same table. (Not "withdraws nothing the second time":
        # a prefix both withdrawn and announced, which RFC 4271 §4.3 says to process as announced
        # only, is counted as withdrawn and announced again; the fuzzer found that one.)
        again = rib.apply(message)
        assert list(rib.routes()) == after and again.announced == change.announced
    return True


def update_rib(data: bytes) -> int:
    """Option octet: bit 0 two-octet ASNs, bit 1 ADD-PATH, bit 2 RFC 8654, bit 3 RFC 8950 for IPv4,
    bit 4 an IPv4-only session. The stream's UPDATEs go into one Adj-RIB-In, in order, until one
    would reset the session; other message types and an unframeable tail are skipped."""
    options, stream = _split(data)
    ctx = _context(options)
    rib = AdjRibIn(frozenset({IPV4_UNICAST}) if options & 0x10 else BOTH_FAMILIES)
    framer = Framer(ctx.max_message_len)
    try:
        for msg_type, body in framer.feed(stream):
            if msg_type is MessageType.UPDATE and not _receive_update(rib, body, ctx):
                break
    except NotificationError:
        pass  # framing is the framing target's business
    return len(rib)


# ---------------------------------------------------------------------------------- control socket
def _strict_json(reply: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a reply: not JSON (RFC 8259 §6)")

    assert reply.endswith(b"\n") and reply.count(b"\n") == 1, reply
    return json.loads(reply.decode("utf-8"), parse_constant=refuse)


def control_request(data: bytes) -> str:
    """One request line; parsed, answered, and (when good) re-encoded and parsed again."""
    try:
        request = parse_request(data)
    except BadRequestError as err:
        reply = _strict_json(encode_error(err.request_id, err.code, err.message))
        assert reply["id"] == err.request_id and reply["error"]["code"] == "bad_request", reply
        return "bad_request"
    assert isinstance(request.cmd, str) and request.cmd and isinstance(request.args, dict)
    assert _strict_json(encode_ok(request.id, request.args)) == {
        "id": request.id,
        "ok": True,
        "data": request.args,
    }
    assert parse_request(encode_request(request.id, request.cmd, request.args)) == request
    return "ok"


TARGETS: Final[Mapping[str, Callable[[bytes], object]]] = {
    "framing": framing,
    "open": open_negotiation,
    "update": update_rib,
    "control": control_request,
}

"""BGP messages as the JSON objects ``bgpd decode`` prints (documented in docs/decode.md).

Pure: bytes in, plain dicts out (lowerCamelCase keys, only str/int/bool/list/dict values), so the
CLI only reads input and prints, and tests call ``describe_stream`` directly. Decoding itself is the
codecs' job; this module walks a captured stream, which unlike a live session must keep going after
a malformed message wherever the framing allows (a session would reset; a person reading a capture
wants to see the rest):

- a bad body (any codec error): the error object, whatever could be decoded, then the next message;
- a header whose length is usable but whose type or per-type length is wrong: skip by the length;
- a broken marker or an impossible length: search for the next marker (16 octets of ones);
- a stream ending inside a message: Bad Message Length for that message, marked ``truncated``.

A well-formed OPEN can still be refused by the session (RFC 4271 §6.2: version, peer AS, BGP
Identifier, hold time). Those rules belong to the FSM, so the caller passes its check in
(``open_check``) and a refusal is shown as the error object of the NOTIFICATION it would send.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from bgpd.wire import Message, decode_message
from bgpd.wire.attributes import Aggregator, AsPath, Attributes, MpReach, MpUnreach
from bgpd.wire.capabilities import (
    AddPath,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from bgpd.wire.constants import (
    HEADER_LEN,
    MARKER,
    MAX_EXTENDED_MESSAGE_LEN,
    Afi,
    ErrorAction,
    ErrorCode,
    HeaderSub,
    MessageType,
    Origin,
    RouteRefreshSubtype,
    Safi,
    known_family,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.framing import bad_length, check_length
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.names import error_code_name, error_subcode_name
from bgpd.wire.nlri import Prefix
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open
from bgpd.wire.route_refresh import RouteRefresh
from bgpd.wire.update import Update

JsonObject = dict[str, Any]
OpenCheck = Callable[[Open], None]  # raises the NotificationError a session answers the OPEN with

TYPE_NAMES: Final[Mapping[int, str]] = {
    MessageType.OPEN: "OPEN",
    MessageType.UPDATE: "UPDATE",
    MessageType.NOTIFICATION: "NOTIFICATION",
    MessageType.KEEPALIVE: "KEEPALIVE",
    MessageType.ROUTE_REFRESH: "ROUTE-REFRESH",
}
_ORIGINS: Final = {Origin.IGP: "igp", Origin.EGP: "egp", Origin.INCOMPLETE: "incomplete"}
_SUBTYPES: Final[Mapping[int, str]] = {
    RouteRefreshSubtype.NORMAL: "normal",
    RouteRefreshSubtype.BEGIN: "borr",
    RouteRefreshSubtype.END: "eorr",
}
_ADD_PATH_MODES: Final = {1: "receive", 2: "send", 3: "both"}


# --------------------------------------------------------------------------- stream walking
def describe_stream(
    data: bytes, ctx: CodecContext, open_check: OpenCheck | None = None
) -> Iterator[JsonObject]:
    """One object per message in ``data`` (messages back to back, as on a TCP connection)."""
    pos, size = 0, len(data)
    while pos < size:
        if size - pos < HEADER_LEN:
            yield _truncated(pos, size - pos, None)
            return
        length = int.from_bytes(data[pos + 16 : pos + 18], "big")
        if length > ctx.max_message_len and _framed_at(data, pos, length, ctx):
            yield _too_long(data[pos + 18], length, ctx.max_message_len)
            pos += length
            continue
        if data[pos : pos + 16] != MARKER or not HEADER_LEN <= length <= ctx.max_message_len:
            if data[pos : pos + 16] != MARKER:  # RFC 4271 §6.1: no data
                error = NotificationError(
                    ErrorCode.MESSAGE_HEADER,
                    HeaderSub.CONNECTION_NOT_SYNCHRONIZED,
                    b"",
                    "marker is not all ones",
                )
            else:
                error = bad_length(length)
            found = _next_header(data, pos + 1, ctx.max_message_len)
            skipped = (size if found < 0 else found) - pos
            yield {"offset": pos, "skipped": skipped, "error": error_object(error, ErrorAction.SESSION_RESET)}
            if found < 0:
                return
            pos = found
            continue
        if pos + length > size:
            yield _truncated(pos, size - pos, length)
            return
        body = data[pos + HEADER_LEN : pos + length]
        yield describe_message(data[pos + 18], body, length, ctx, open_check)
        pos += length


def _framed_at(data: bytes, pos: int, length: int, ctx: CodecContext) -> bool:
    """A well-formed header whose message is followed by the end or by another header: the length
    is then trustworthy even though it exceeds what the context allows."""
    end = pos + length
    if data[pos : pos + 16] != MARKER or end > len(data):
        return False
    return end == len(data) or _next_header(data, end, MAX_EXTENDED_MESSAGE_LEN) == end


def _too_long(type_code: int, length: int, max_len: int) -> JsonObject:
    error = bad_length(length)
    error.reason = f"message of {length} octets exceeds {max_len} (extended messages, RFC 8654, not enabled)"
    head: JsonObject = {"type": TYPE_NAMES.get(type_code, type_code), "length": length}
    return head | {"error": error_object(error, ErrorAction.SESSION_RESET)}


def _next_header(data: bytes, start: int, max_len: int) -> int:
    """Where the next plausible header starts (marker, length in range, known type), or -1.

    A lone marker is not enough: the octets of a broken header are often ones themselves."""
    pos = data.find(MARKER, start)
    while pos >= 0 and pos + HEADER_LEN <= len(data):
        length = int.from_bytes(data[pos + 16 : pos + 18], "big")
        if HEADER_LEN <= length <= max_len and data[pos + 18] in TYPE_NAMES:
            return pos
        pos = data.find(MARKER, pos + 1)
    return -1


def describe_message(
    type_code: int, body: bytes, length: int, ctx: CodecContext, open_check: OpenCheck | None = None
) -> JsonObject:
    """The object for one message whose header (marker, ``length``, ``type_code``) was read."""
    head: JsonObject = {"type": TYPE_NAMES.get(type_code, type_code), "length": length}
    try:
        msg_type = MessageType(type_code)
    except ValueError:
        error = NotificationError(  # RFC 4271 §6.1: the data is the Type field
            ErrorCode.MESSAGE_HEADER,
            HeaderSub.BAD_MESSAGE_TYPE,
            bytes((type_code,)),
            f"unknown type {type_code}",
        )
        return head | {"error": error_object(error, ErrorAction.SESSION_RESET)}
    try:
        check_length(msg_type, length, ctx.max_message_len)  # RFC 4271 §6.1 per-type lengths
        message = decode_message(msg_type, body, ctx)
    except UpdateError as err:
        partial = update_fields(err.update) if err.update is not None else {}
        return head | partial | {"error": error_object(err, err.action)}
    except NotificationError as err:
        return head | {"error": error_object(err, ErrorAction.SESSION_RESET)}
    fields = head | message_fields(message)
    if isinstance(message, Open) and open_check is not None:
        try:
            open_check(message)
        except NotificationError as err:  # RFC 4271 §6.2: answered with this NOTIFICATION, then closed
            return fields | {"error": error_object(err, ErrorAction.SESSION_RESET)}
    return fields


def error_object(error: NotificationError, action: ErrorAction) -> JsonObject:
    """What a malformed message is answered with (RFC 4271 §6, RFC 7606 action)."""
    return {
        "code": error.code,
        "subcode": error.subcode,
        "data": error.data.hex(),
        "action": action.value,
        "reason": error.reason,
    }


def _truncated(offset: int, available: int, length: int | None) -> JsonObject:
    """A stream cut inside a message: reported as Bad Message Length (the Length field, when there
    is one, promises more octets than exist), since no NOTIFICATION fits a capture that just ends."""
    if length is None:
        reason = f"stream ends inside a message header: {available} octets"
        error = NotificationError(ErrorCode.MESSAGE_HEADER, HeaderSub.BAD_MESSAGE_LENGTH, b"", reason)
        head: JsonObject = {}
    else:
        error = bad_length(length)
        error.reason = f"stream ends inside a message: {available} octets of {length}"
        head = {"length": length}
    return head | {
        "offset": offset,
        "truncated": True,
        "error": error_object(error, ErrorAction.SESSION_RESET),
    }


# --------------------------------------------------------------------------- messages
def message_fields(message: Message) -> JsonObject:
    """The type-specific fields of a decoded message (without ``type`` and ``length``)."""
    if isinstance(message, Update):
        return update_fields(message)
    if isinstance(message, Open):
        return open_fields(message)
    if isinstance(message, Notification):
        return notification_fields(message)
    if isinstance(message, RouteRefresh):
        return {
            "afi": afi_name(message.afi),
            "safi": safi_name(message.safi),
            "subtype": _SUBTYPES.get(message.subtype, int(message.subtype)),  # RFC 7313 §3; others as numbers
        }
    assert isinstance(message, Keepalive)
    return {}


def open_fields(message: Open) -> JsonObject:
    return {
        "version": message.version,
        "myAsn": message.asn,
        "holdTime": message.hold_time,
        "bgpId": str(ipaddress.IPv4Address(message.bgp_id)),
        "capabilities": [capability_fields(c) for c in message.capabilities],
    }


def capability_fields(cap: Capability) -> JsonObject:
    if isinstance(cap, UnknownCapability):
        return {"code": cap.code, "name": "unknown", "hex": cap.value.hex()}
    head: JsonObject = {"code": int(cap.CODE)}
    if isinstance(cap, Multiprotocol):
        return head | {"name": "multiprotocol", "afi": afi_name(cap.afi), "safi": safi_name(cap.safi)}
    if isinstance(cap, RouteRefreshCapability):
        return head | {"name": "route-refresh"}
    if isinstance(cap, EnhancedRouteRefresh):
        return head | {"name": "enhanced-route-refresh"}
    if isinstance(cap, ExtendedMessage):
        return head | {"name": "extended-message"}
    if isinstance(cap, ExtendedNextHop):
        entries = [
            {"afi": afi_name(e.afi), "safi": safi_name(e.safi), "nextHopAfi": afi_name(e.nexthop_afi)}
            for e in cap.entries
        ]
        return head | {"name": "extended-next-hop", "entries": entries}
    if isinstance(cap, GracefulRestart):
        families = [
            {"afi": afi_name(f.afi), "safi": safi_name(f.safi), "forwardingState": f.forwarding_preserved}
            for f in cap.families
        ]
        return head | {
            "name": "graceful-restart",
            "restartState": cap.restart_state,
            "notification": cap.notification,
            "restartTime": cap.restart_time,
            "families": families,
        }
    if isinstance(cap, FourOctetAs):
        return head | {"name": "four-octet-as", "asn": cap.asn}
    if isinstance(cap, AddPath):
        families = [
            {
                "afi": afi_name(f.afi),
                "safi": safi_name(f.safi),
                "mode": _ADD_PATH_MODES.get(f.mode, int(f.mode)),
            }
            for f in cap.families
        ]
        return head | {"name": "add-path", "families": families}
    assert isinstance(cap, Fqdn)
    return head | {"name": "fqdn", "hostname": cap.hostname, "domain": cap.domain}


def notification_fields(message: Notification) -> JsonObject:
    fields: JsonObject = {
        "code": message.code,
        "subcode": message.subcode,
        "codeName": error_code_name(message.code),
        "subcodeName": error_subcode_name(message.code, message.subcode),
        "data": message.data.hex(),
    }
    text = message.shutdown_message  # RFC 9003
    if text is not None:
        fields["message"] = text
    return fields


def update_fields(update: Update) -> JsonObject:
    fields: JsonObject = {
        "withdrawn": [prefix_text(p, Afi.IPV4) for p in update.withdrawn],
        "nlri": [prefix_text(p, Afi.IPV4) for p in update.nlri],
        "attributes": attribute_fields(update.attributes, update.mp_reach, update.mp_unreach),
    }
    family = update.end_of_rib_family
    if family is not None:
        fields["endOfRib"] = str(family)
    return fields


def attribute_fields(attrs: Attributes, reach: MpReach | None, unreach: MpUnreach | None) -> JsonObject:
    out: JsonObject = {}
    if attrs.origin is not None:
        out["origin"] = _ORIGINS[attrs.origin]
    if attrs.as_path is not None:
        out["asPath"] = as_path(attrs.as_path)
    if attrs.next_hop is not None:
        out["nextHop"] = str(ipaddress.IPv4Address(attrs.next_hop))
    if attrs.med is not None:
        out["med"] = attrs.med
    if attrs.local_pref is not None:
        out["localPref"] = attrs.local_pref
    if attrs.atomic_aggregate:
        out["atomicAggregate"] = True
    if attrs.aggregator is not None:
        out["aggregator"] = aggregator(attrs.aggregator)
    if attrs.communities:
        out["communities"] = [f"{c >> 16}:{c & 0xFFFF}" for c in attrs.communities]
    if attrs.originator_id is not None:
        out["originatorId"] = str(ipaddress.IPv4Address(attrs.originator_id))
    if attrs.cluster_list:
        out["clusterList"] = [str(ipaddress.IPv4Address(c)) for c in attrs.cluster_list]
    if reach is not None:
        out["mpReachNlri"] = mp_reach(reach)
    if unreach is not None:
        out["mpUnreachNlri"] = mp_unreach(unreach)
    if attrs.extended_communities:
        out["extendedCommunities"] = [c.to_bytes(8, "big").hex() for c in attrs.extended_communities]
    if attrs.as4_path is not None:
        out["as4Path"] = as_path(attrs.as4_path)
    if attrs.as4_aggregator is not None:
        out["as4Aggregator"] = aggregator(attrs.as4_aggregator)
    if attrs.large_communities:
        out["largeCommunities"] = [f"{g}:{a}:{b}" for g, a, b in attrs.large_communities]
    if attrs.unknown:
        out["unknown"] = [
            {"code": u.type_code, "flags": u.flags, "hex": u.value.hex()} for u in attrs.unknown
        ]
    return out


def mp_reach(reach: MpReach) -> JsonObject:
    out: JsonObject = {"afi": afi_name(reach.afi), "safi": safi_name(reach.safi)}
    if reach.unparsed or known_family(reach.afi, reach.safi) is None:  # a family bgpd does not decode
        return out | {"nextHopHex": reach.next_hop.hex(), "nlriHex": reach.unparsed.hex()}
    return out | {
        "nextHops": [str(a) for a in reach.next_hops],
        "nlri": [prefix_text(p, reach.afi) for p in reach.nlri],
    }


def mp_unreach(unreach: MpUnreach) -> JsonObject:
    out: JsonObject = {"afi": afi_name(unreach.afi), "safi": safi_name(unreach.safi)}
    if unreach.unparsed or known_family(unreach.afi, unreach.safi) is None:
        return out | {"withdrawnHex": unreach.unparsed.hex()}
    return out | {"withdrawn": [prefix_text(p, unreach.afi) for p in unreach.withdrawn]}


def as_path(path: AsPath) -> list[JsonObject]:
    return [{"type": segment.type.name, "asns": list(segment.asns)} for segment in path]


def aggregator(agg: Aggregator) -> JsonObject:
    return {"asn": agg.asn, "address": str(ipaddress.IPv4Address(agg.address))}


def prefix_text(prefix: Prefix, afi: int) -> str | JsonObject:
    """``"10.0.0.0/24"``; with an ADD-PATH path identifier ``{"prefix": …, "pathId": N}``."""
    network = ipaddress.IPv4Address(prefix[0]) if afi == Afi.IPV4 else ipaddress.IPv6Address(prefix[0])
    text = f"{network}/{prefix[1]}"
    return {"prefix": text, "pathId": prefix[2]} if len(prefix) > 2 else text


def afi_name(afi: int) -> str | int:
    """``ipv4``/``ipv6``, or the number for families bgpd does not know."""
    try:
        return Afi(afi).name.lower()
    except ValueError:
        return afi


def safi_name(safi: int) -> str | int:
    try:
        return Safi(safi).name.lower()
    except ValueError:
        return safi

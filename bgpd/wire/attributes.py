"""Path attributes of the UPDATE message: one table row per attribute, with its RFC 7606 action.

Supported: ORIGIN, AS_PATH, NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR
(RFC 4271 §4.3, §5), COMMUNITIES (RFC 1997), ORIGINATOR_ID and CLUSTER_LIST (RFC 4456),
MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760; IPv6 next hops RFC 2545; IPv6 next hops for IPv4 NLRI
RFC 8950), EXTENDED_COMMUNITIES (RFC 4360), AS4_PATH and AS4_AGGREGATOR (RFC 6793),
LARGE_COMMUNITY (RFC 8092). Error handling follows RFC 7606 (which revises RFC 4271 §6.3).

Decisions a reader should know:

- Unknown optional transitive attributes are kept (``UnknownAttribute``) and re-encoded with the
  Partial bit set (RFC 4271 §5); unknown optional non-transitive ones are dropped on receipt
  ("quietly ignored", RFC 4271 §5); an unknown well-known attribute is 3/2, session reset.
- AS4_PATH/AS4_AGGREGATOR are only meaningful from a 2-octet peer (RFC 6793 §4.1: a NEW speaker
  ignores them from a NEW speaker); with ``ctx.four_octet_as`` they are dropped on receipt.
  ``Attributes.effective_as_path()`` applies the RFC 6793 §4.2.3 merge; ``for_two_octet_peer()``
  builds the AS_TRANS + AS4_* form for sending to a 2-octet peer (§4.2.2).
- MP_REACH_NLRI with an AFI/SAFI bgpd does not know is kept raw (next hop and NLRI bytes, not
  parsed): RFC 4760 §7 lets the receiver ignore families it did not negotiate, and the codec does not
  know the negotiation; the FSM drops them. Its framing (lengths) is still checked.
- NEXT_HOP must be a host address: 0.0.0.0/8, multicast 224/4 and 240/4 (incl. broadcast) are
  Invalid NEXT_HOP (RFC 4271 §6.3 "valid IP host address"). Whether it is the receiver's own
  address or on the peer's subnet are semantic checks for the FSM, which knows the session.
- Attribute errors carry the whole attribute (flags, type, length, value) as NOTIFICATION data where
  RFC 4271 §6.3 asks for it; MALFORMED_AS_PATH and MALFORMED_ATTRIBUTE_LIST carry none. A wrong
  length is Attribute Length Error (3/5) for every attribute; an MP_REACH next hop of the wrong length
  is Optional Attribute Error (3/9), bad MP prefixes Invalid Network Field (3/10); a malformed
  AS4_PATH is 3/9 with attribute discard (RFC 6793 §6). AS_PATH/AS4_PATH segments of length 0 or
  containing AS 0 (RFC 7607 §2) are malformed.
- Checks that need the session are the FSM's: LOCAL_PREF from an eBGP peer (RFC 7606 §7.5) and
  confederation segments from a non-confederation peer (§7.2).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, cast

from bgpd.wire.constants import (
    AS_TRANS,
    Afi,
    AsPathSegmentType,
    AttrFlag,
    AttrType,
    ErrorAction,
    Origin,
    UpdateSub,
    known_family,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.nlri import NlriError, Prefix, encode_prefixes, prefix_field

_U16: Final = struct.Struct("!H")
_U32: Final = struct.Struct("!I")
_AGG2: Final = struct.Struct("!HI")
_AGG4: Final = struct.Struct("!II")
_MP_HEAD: Final = struct.Struct("!HBB")  # AFI, SAFI, Length of Next Hop (RFC 4760 §3)
_MP_UNREACH_HEAD: Final = struct.Struct("!HB")  # AFI, SAFI (RFC 4760 §4)
_MAX_SEGMENT: Final = 255  # RFC 4271 §4.3 (b): segment length is one octet
_CONFED: Final = frozenset({AsPathSegmentType.AS_CONFED_SEQUENCE, AsPathSegmentType.AS_CONFED_SET})
# Plain ints, not AttrFlag: IntFlag arithmetic is slow in the per-attribute loop.
_OPT: Final = int(AttrFlag.OPTIONAL)
_TRANS: Final = int(AttrFlag.TRANSITIVE)
_PARTIAL: Final = int(AttrFlag.PARTIAL)
_EXT: Final = int(AttrFlag.EXTENDED_LENGTH)


# --------------------------------------------------------------------------- value types
@dataclass(frozen=True, slots=True)
class AsSegment:
    """One AS_PATH segment (RFC 4271 §4.3 (b), RFC 5065 §3 for the confederation types)."""

    type: AsPathSegmentType
    asns: tuple[int, ...]


AsPath = tuple[AsSegment, ...]


@dataclass(frozen=True, slots=True)
class Aggregator:
    """AGGREGATOR / AS4_AGGREGATOR: the aggregating ASN and its BGP Identifier as an integer."""

    asn: int
    address: int


@dataclass(frozen=True, slots=True)
class UnknownAttribute:
    """An optional transitive attribute bgpd does not recognize, kept to pass on (RFC 4271 §5).

    ``flags`` are as received minus Extended Length; encoding sets Partial and recomputes Extended Length."""

    type_code: int
    flags: int
    value: bytes


@dataclass(frozen=True, slots=True)
class MpReach:
    """MP_REACH_NLRI (RFC 4760 §3).

    ``next_hop`` is the raw Network Address of Next Hop: 4 octets (IPv4), 16 (IPv6 global) or 32
    (global + link-local, RFC 2545 §3); IPv4 NLRI may carry an IPv6 next hop when RFC 8950 extended
    next hop is negotiated. For a family bgpd does not know, ``nlri`` is empty and ``unparsed`` holds
    the NLRI octets as received."""

    afi: int
    safi: int
    next_hop: bytes
    nlri: Sequence[Prefix] = ()  # a tuple, or the PrefixField of a decoded attribute
    unparsed: bytes = b""

    @property
    def next_hops(self) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        """The next hop addresses: one, or global then link-local (RFC 2545 §3)."""
        if len(self.next_hop) == 4:
            return (ipaddress.IPv4Address(self.next_hop),)
        return tuple(
            ipaddress.IPv6Address(self.next_hop[i : i + 16]) for i in range(0, len(self.next_hop), 16)
        )


@dataclass(frozen=True, slots=True)
class MpUnreach:
    """MP_UNREACH_NLRI (RFC 4760 §4); ``unparsed`` as in ``MpReach`` for unknown families."""

    afi: int
    safi: int
    withdrawn: Sequence[Prefix] = ()
    unparsed: bytes = b""


@dataclass(frozen=True, slots=True)
class Attributes:
    """The path attributes of one UPDATE except MP_REACH/MP_UNREACH (those live on the Update, since
    they carry per-message NLRI). Identical attribute sets are interned, so treat this as a value.

    Absent attributes are None (or empty / False); ``communities`` etc. are 32-bit integers
    (``65000:1`` is ``65000 << 16 | 1``), ``extended_communities`` 64-bit integers, large communities
    (global, local1, local2) triples, addresses (NEXT_HOP, ORIGINATOR_ID, CLUSTER_LIST) integers."""

    origin: Origin | None = None
    as_path: AsPath | None = None
    next_hop: int | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: Aggregator | None = None
    communities: tuple[int, ...] = ()
    originator_id: int | None = None
    cluster_list: tuple[int, ...] = ()
    extended_communities: tuple[int, ...] = ()
    as4_path: AsPath | None = None
    as4_aggregator: Aggregator | None = None
    large_communities: tuple[tuple[int, int, int], ...] = ()
    unknown: tuple[UnknownAttribute, ...] = ()

    def effective_as_path(self) -> AsPath | None:
        """The AS path a 2-octet peer meant: RFC 6793 §4.2.3 merge of AS_PATH and AS4_PATH.

        Without AS4_PATH (always the case on a 4-octet session) this is AS_PATH itself."""
        if self.as4_path is None or self.as_path is None:
            return self.as_path
        if self.aggregator is not None and self.aggregator.asn != AS_TRANS:
            return self.as_path  # RFC 6793 §4.2.3: AS4_* came from before an OLD aggregator
        need = path_length(self.as_path) - path_length(self.as4_path)
        if need < 0:
            return self.as_path  # RFC 6793 §4.2.3: AS4_PATH longer than AS_PATH is ignored
        leading: list[AsSegment] = []
        for segment in self.as_path:
            if segment.type in _CONFED:  # count 0, kept with the leading part
                leading.append(segment)
            elif need == 0:
                break
            elif segment.type is AsPathSegmentType.AS_SET:
                leading.append(segment)
                need -= 1
            else:
                take = min(need, len(segment.asns))
                leading.append(AsSegment(segment.type, segment.asns[:take]))
                need -= take
        tail = list(self.as4_path)
        if (
            leading
            and tail
            and leading[-1].type is tail[0].type is AsPathSegmentType.AS_SEQUENCE
            and len(leading[-1].asns) + len(tail[0].asns) <= _MAX_SEGMENT
        ):
            tail[0] = AsSegment(AsPathSegmentType.AS_SEQUENCE, leading.pop().asns + tail[0].asns)
        return (*leading, *tail)

    def effective_aggregator(self) -> Aggregator | None:
        """AGGREGATOR, replaced by AS4_AGGREGATOR when it says AS_TRANS (RFC 6793 §4.2.3)."""
        if self.aggregator is not None and self.aggregator.asn == AS_TRANS and self.as4_aggregator:
            return self.as4_aggregator
        return self.aggregator

    def for_two_octet_peer(self) -> Attributes:
        """The form to send to a peer without 4-octet AS support (RFC 6793 §4.2.2): ASNs above 65535
        become AS_TRANS in AS_PATH/AGGREGATOR, and AS4_PATH/AS4_AGGREGATOR carry the real ones
        (AS4_PATH without confederation segments). Unchanged when every ASN fits 2 octets."""
        path, agg = self.as_path or (), self.aggregator
        wide_path = any(asn > 0xFFFF for seg in path for asn in seg.asns)
        wide_agg = agg is not None and agg.asn > 0xFFFF
        if not wide_path and not wide_agg:
            return replace(self, as4_path=None, as4_aggregator=None)
        as4_path = tuple(seg for seg in path if seg.type not in _CONFED) if wide_path else None
        return replace(
            self,
            as_path=tuple(AsSegment(s.type, tuple(_as2(a) for a in s.asns)) for s in path) or self.as_path,
            as4_path=as4_path,
            aggregator=Aggregator(AS_TRANS, agg.address) if agg is not None and wide_agg else agg,
            as4_aggregator=agg if wide_agg else None,
        )

    def with_next_hop(self, next_hop: int) -> Attributes:
        """This set with another NEXT_HOP: what the flat-mode decoder builds once per message."""
        draft: Any = _AttributesDraft()  # the same slots as this class (see there)
        draft.origin = self.origin
        draft.as_path = self.as_path
        draft.next_hop = next_hop
        draft.med = self.med
        draft.local_pref = self.local_pref
        draft.atomic_aggregate = self.atomic_aggregate
        draft.aggregator = self.aggregator
        draft.communities = self.communities
        draft.originator_id = self.originator_id
        draft.cluster_list = self.cluster_list
        draft.extended_communities = self.extended_communities
        draft.as4_path = self.as4_path
        draft.as4_aggregator = self.as4_aggregator
        draft.large_communities = self.large_communities
        draft.unknown = self.unknown
        draft.__class__ = Attributes
        return cast(Attributes, draft)


class _AttributesDraft:
    """A mutable twin of ``Attributes`` (the same slots in the same order) that ``with_next_hop``
    fills and then turns into an ``Attributes``.

    Why: a frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``, which
    made building the 15-field set the largest single cost of decoding a flat-mode UPDATE (one
    prefix, its own NEXT_HOP, so one new set per message). Plain slot stores are about five times
    cheaper, and assigning ``__class__`` between classes of identical layout is allowed by CPython.
    The result is an ordinary frozen ``Attributes`` (tests compare it with one built normally)."""

    __slots__ = Attributes.__slots__


NO_ATTRIBUTES: Final = Attributes()


def _as2(asn: int) -> int:
    return asn if asn <= 0xFFFF else AS_TRANS


def path_length(path: AsPath) -> int:
    """AS path length for route selection and RFC 6793 §4.2.3: an AS_SET counts 1, confed 0."""
    total = 0
    for segment in path:
        if segment.type is AsPathSegmentType.AS_SEQUENCE:
            total += len(segment.asns)
        elif segment.type is AsPathSegmentType.AS_SET:
            total += 1
    return total


def community_to_text(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


def community_from_text(text: str) -> int:
    high, _, low = text.partition(":")
    return int(high) << 16 | int(low)


# --------------------------------------------------------------------------- codecs
class AttrError(Exception):
    """A malformed attribute value: the UPDATE Message Error subcode to report and why."""

    def __init__(self, subcode: UpdateSub, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


def _fixed(value: bytes, size: int, what: str) -> None:
    if len(value) != size:
        raise AttrError(UpdateSub.ATTRIBUTE_LENGTH_ERROR, f"{what} length {len(value)}, expected {size}")


def _multiple(value: bytes, size: int, what: str) -> None:
    if not value or len(value) % size:  # RFC 7606 §7.8, §7.10, §7.14; RFC 8092 §6
        raise AttrError(
            UpdateSub.ATTRIBUTE_LENGTH_ERROR,
            f"{what} length {len(value)} is not a non-zero multiple of {size}",
        )


def decode_origin(value: bytes, ctx: CodecContext) -> Origin:
    _fixed(value, 1, "ORIGIN")
    if value[0] > Origin.INCOMPLETE:
        raise AttrError(UpdateSub.INVALID_ORIGIN_ATTRIBUTE, f"ORIGIN value {value[0]}")
    return Origin(value[0])


def encode_origin(value: Origin, ctx: CodecContext) -> bytes:
    return bytes((value,))


def _decode_path(value: bytes, four_octet: bool, subcode: UpdateSub, allow_confed: bool) -> AsPath:
    """RFC 4271 §4.3 (b) segments; zero-length segments and AS 0 (RFC 7607) are malformed too."""
    width, code = (4, "I") if four_octet else (2, "H")
    segments: list[AsSegment] = []
    pos, end = 0, len(value)
    while pos < end:
        if pos + 2 > end:
            raise AttrError(subcode, "AS path segment header truncated")
        seg_type, count = value[pos], value[pos + 1]
        if not AsPathSegmentType.AS_SET <= seg_type <= AsPathSegmentType.AS_CONFED_SET:
            raise AttrError(subcode, f"AS path segment type {seg_type}")
        if not allow_confed and seg_type >= AsPathSegmentType.AS_CONFED_SEQUENCE:
            raise AttrError(subcode, "confederation segment in AS4_PATH")  # RFC 6793 §6
        if count == 0:
            raise AttrError(subcode, "empty AS path segment")
        nxt = pos + 2 + count * width
        if nxt > end:
            raise AttrError(subcode, "AS path segment overruns the attribute")
        asns = struct.unpack_from(f"!{count}{code}", value, pos + 2)
        if 0 in asns:
            raise AttrError(subcode, "AS 0 in AS path")  # RFC 7607 §2
        segments.append(AsSegment(AsPathSegmentType(seg_type), asns))
        pos = nxt
    return tuple(segments)


def _encode_path(path: AsPath, four_octet: bool) -> bytes:
    code, limit = ("I", 0xFFFFFFFF) if four_octet else ("H", 0xFFFF)
    out = bytearray()
    for segment in path:
        count = len(segment.asns)
        if not 0 < count <= _MAX_SEGMENT or max(segment.asns) > limit:
            raise ValueError(f"AS path segment {segment} cannot be encoded (use for_two_octet_peer()?)")
        out += bytes((segment.type, count)) + struct.pack(f"!{count}{code}", *segment.asns)
    return bytes(out)


def decode_as_path(value: bytes, ctx: CodecContext) -> AsPath:
    return _decode_path(value, ctx.four_octet_as, UpdateSub.MALFORMED_AS_PATH, allow_confed=True)


def encode_as_path(value: AsPath, ctx: CodecContext) -> bytes:
    return _encode_path(value, ctx.four_octet_as)


def decode_as4_path(value: bytes, ctx: CodecContext) -> AsPath:
    return _decode_path(value, True, UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, allow_confed=False)


def encode_as4_path(value: AsPath, ctx: CodecContext) -> bytes:
    return _encode_path(value, True)


def _host_address(address: int) -> bool:
    """RFC 4271 §6.3: NEXT_HOP must be a valid IP host address: not in 0.0.0.0/8 ("this network"),
    nor in 224.0.0.0/4 (multicast) or 240.0.0.0/4 (reserved, with the broadcast address)."""
    return address >> 24 != 0 and address >> 29 != 0b111


def decode_next_hop(value: bytes, ctx: CodecContext) -> int:
    _fixed(value, 4, "NEXT_HOP")
    address: int = _U32.unpack(value)[0]
    if not _host_address(address):
        raise AttrError(UpdateSub.INVALID_NEXT_HOP_ATTRIBUTE, f"NEXT_HOP {ipaddress.IPv4Address(address)}")
    return address


def decode_u32(value: bytes, ctx: CodecContext) -> int:
    _fixed(value, 4, "attribute")
    result: int = _U32.unpack(value)[0]
    return result


def encode_u32(value: int, ctx: CodecContext) -> bytes:
    return _U32.pack(value)


def decode_atomic_aggregate(value: bytes, ctx: CodecContext) -> bool:
    _fixed(value, 0, "ATOMIC_AGGREGATE")
    return True


def encode_atomic_aggregate(value: bool, ctx: CodecContext) -> bytes:
    return b""


def decode_aggregator(value: bytes, ctx: CodecContext) -> Aggregator:
    if ctx.four_octet_as:
        _fixed(value, 8, "AGGREGATOR")  # RFC 6793 §3
        return Aggregator(*_AGG4.unpack(value))
    _fixed(value, 6, "AGGREGATOR")
    return Aggregator(*_AGG2.unpack(value))


def encode_aggregator(value: Aggregator, ctx: CodecContext) -> bytes:
    return (_AGG4 if ctx.four_octet_as else _AGG2).pack(value.asn, value.address)


def decode_as4_aggregator(value: bytes, ctx: CodecContext) -> Aggregator:
    _fixed(value, 8, "AS4_AGGREGATOR")
    return Aggregator(*_AGG4.unpack(value))


def encode_as4_aggregator(value: Aggregator, ctx: CodecContext) -> bytes:
    return _AGG4.pack(value.asn, value.address)


def _u32_list(value: bytes, what: str) -> tuple[int, ...]:
    _multiple(value, 4, what)
    return struct.unpack(f"!{len(value) // 4}I", value)


def decode_communities(value: bytes, ctx: CodecContext) -> tuple[int, ...]:
    return _u32_list(value, "COMMUNITIES")


def decode_cluster_list(value: bytes, ctx: CodecContext) -> tuple[int, ...]:
    return _u32_list(value, "CLUSTER_LIST")


def encode_u32_list(value: tuple[int, ...], ctx: CodecContext) -> bytes:
    return struct.pack(f"!{len(value)}I", *value)


def decode_extended_communities(value: bytes, ctx: CodecContext) -> tuple[int, ...]:
    _multiple(value, 8, "EXTENDED_COMMUNITIES")
    return struct.unpack(f"!{len(value) // 8}Q", value)


def encode_extended_communities(value: tuple[int, ...], ctx: CodecContext) -> bytes:
    return struct.pack(f"!{len(value)}Q", *value)


def decode_large_communities(value: bytes, ctx: CodecContext) -> tuple[tuple[int, int, int], ...]:
    _multiple(value, 12, "LARGE_COMMUNITY")
    flat = struct.unpack(f"!{len(value) // 4}I", value)
    return tuple((flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3))


def encode_large_communities(value: tuple[tuple[int, int, int], ...], ctx: CodecContext) -> bytes:
    return struct.pack(f"!{3 * len(value)}I", *(part for triple in value for part in triple))


def _next_hop_lengths(afi: int, safi: int, ctx: CodecContext) -> tuple[int, ...]:
    family = known_family(afi, safi)
    if afi == Afi.IPV6:
        return (16, 32)  # RFC 2545 §3: global, or global + link-local
    if family is not None and family in ctx.extended_next_hop:
        return (4, 16, 32)  # RFC 8950 §3: IPv4 NLRI with an IPv6 next hop
    return (4,)


def decode_mp_reach(value: bytes, ctx: CodecContext) -> MpReach:
    """RFC 4760 §3. Any error here is a session reset (RFC 7606 §7.11, §3 (j))."""
    if len(value) < _MP_HEAD.size + 1:
        raise AttrError(UpdateSub.ATTRIBUTE_LENGTH_ERROR, f"MP_REACH_NLRI length {len(value)}")
    afi, safi, nh_len = _MP_HEAD.unpack_from(value)
    nlri_start = _MP_HEAD.size + nh_len + 1  # + the Reserved octet, ignored on receipt
    if nlri_start > len(value):
        raise AttrError(
            UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, f"next hop length {nh_len} overruns MP_REACH_NLRI"
        )
    next_hop = value[_MP_HEAD.size : _MP_HEAD.size + nh_len]
    if known_family(afi, safi) is None:
        return MpReach(afi, safi, next_hop, (), value[nlri_start:])
    if nh_len not in _next_hop_lengths(afi, safi, ctx):
        raise AttrError(UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, f"next hop length {nh_len} for AFI {afi}")
    add_path = known_family(afi, safi) in ctx.add_path
    try:
        nlri = prefix_field(value, nlri_start, len(value), afi, add_path)
    except NlriError as err:
        raise AttrError(UpdateSub.INVALID_NETWORK_FIELD, f"MP_REACH_NLRI: {err.reason}") from None
    return MpReach(afi, safi, next_hop, nlri)


def encode_mp_reach(value: MpReach, ctx: CodecContext) -> bytes:
    family = known_family(value.afi, value.safi)
    if family is None:
        nlri = value.unparsed
    else:
        nlri = encode_prefixes(value.nlri, value.afi, family in ctx.add_path)
    return mp_reach_value(value.afi, value.safi, value.next_hop, nlri)


def mp_reach_value(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    """The MP_REACH_NLRI value around NLRI already encoded (RFC 4760 §3; Reserved octet 0)."""
    return _MP_HEAD.pack(afi, safi, len(next_hop)) + next_hop + b"\x00" + nlri


def decode_mp_unreach(value: bytes, ctx: CodecContext) -> MpUnreach:
    """RFC 4760 §4; errors are a session reset (RFC 7606 §7.12, §3 (j))."""
    if len(value) < _MP_UNREACH_HEAD.size:
        raise AttrError(UpdateSub.ATTRIBUTE_LENGTH_ERROR, f"MP_UNREACH_NLRI length {len(value)}")
    afi, safi = _MP_UNREACH_HEAD.unpack_from(value)
    family = known_family(afi, safi)
    if family is None:
        return MpUnreach(afi, safi, (), value[_MP_UNREACH_HEAD.size :])
    try:
        withdrawn = prefix_field(value, _MP_UNREACH_HEAD.size, len(value), afi, family in ctx.add_path)
    except NlriError as err:
        raise AttrError(UpdateSub.INVALID_NETWORK_FIELD, f"MP_UNREACH_NLRI: {err.reason}") from None
    return MpUnreach(afi, safi, withdrawn)


def encode_mp_unreach(value: MpUnreach, ctx: CodecContext) -> bytes:
    family = known_family(value.afi, value.safi)
    if family is None:
        return _MP_UNREACH_HEAD.pack(value.afi, value.safi) + value.unparsed
    withdrawn = encode_prefixes(value.withdrawn, value.afi, family in ctx.add_path)
    return _MP_UNREACH_HEAD.pack(value.afi, value.safi) + withdrawn


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True, slots=True)
class AttrSpec:
    """How one attribute is checked and coded. ``flags`` are its Optional/Transitive bits (RFC 4271
    §5); ``on_error`` the RFC 7606 action for any malformation of it, flags errors included (§3 (c))."""

    name: str
    flags: int
    decode: Callable[[bytes, CodecContext], Any]
    encode: Callable[[Any, CodecContext], bytes]
    on_error: ErrorAction
    absent: object = None  # the ``Attributes`` field value meaning "not present"
    four_octet_only_from_old: bool = False  # AS4_*: dropped from NEW peers (RFC 6793 §4.1)


_WK: Final = _TRANS  # well-known: Optional 0, Transitive 1
_OT: Final = _OPT | _TRANS
_ON: Final = _OPT
_WITHDRAW: Final = ErrorAction.TREAT_AS_WITHDRAW
_DISCARD: Final = ErrorAction.ATTRIBUTE_DISCARD
_RESET: Final = ErrorAction.SESSION_RESET

# fmt: off
ATTRIBUTES: Final[Mapping[int, AttrSpec]] = {
    AttrType.ORIGIN: AttrSpec("origin", _WK, decode_origin, encode_origin, _WITHDRAW),  # RFC 7606 §7.1
    AttrType.AS_PATH: AttrSpec("as_path", _WK, decode_as_path, encode_as_path, _WITHDRAW),  # §7.2
    AttrType.NEXT_HOP: AttrSpec("next_hop", _WK, decode_next_hop, encode_u32, _WITHDRAW),  # §7.3
    AttrType.MULTI_EXIT_DISC: AttrSpec("med", _ON, decode_u32, encode_u32, _WITHDRAW),  # §7.4
    AttrType.LOCAL_PREF: AttrSpec("local_pref", _WK, decode_u32, encode_u32, _WITHDRAW),  # §7.5
    AttrType.ATOMIC_AGGREGATE: AttrSpec(  # §7.6
        "atomic_aggregate", _WK, decode_atomic_aggregate, encode_atomic_aggregate, _DISCARD, absent=False),
    AttrType.AGGREGATOR: AttrSpec("aggregator", _OT, decode_aggregator, encode_aggregator, _DISCARD),  # §7.7
    AttrType.COMMUNITIES: AttrSpec(
        "communities", _OT, decode_communities, encode_u32_list, _WITHDRAW, absent=()),  # §7.8
    AttrType.ORIGINATOR_ID: AttrSpec("originator_id", _ON, decode_u32, encode_u32, _WITHDRAW),  # §7.9
    AttrType.CLUSTER_LIST: AttrSpec(
        "cluster_list", _ON, decode_cluster_list, encode_u32_list, _WITHDRAW, absent=()),  # §7.10
    AttrType.MP_REACH_NLRI: AttrSpec("mp_reach", _ON, decode_mp_reach, encode_mp_reach, _RESET),  # §7.11
    AttrType.MP_UNREACH_NLRI: AttrSpec(
        "mp_unreach", _ON, decode_mp_unreach, encode_mp_unreach, _RESET),  # §7.12
    AttrType.EXTENDED_COMMUNITIES: AttrSpec(
        "extended_communities", _OT, decode_extended_communities, encode_extended_communities,
        _WITHDRAW, absent=()),  # §7.14
    AttrType.AS4_PATH: AttrSpec(  # RFC 6793 §6
        "as4_path", _OT, decode_as4_path, encode_as4_path, _DISCARD, four_octet_only_from_old=True),
    AttrType.AS4_AGGREGATOR: AttrSpec(
        "as4_aggregator", _OT, decode_as4_aggregator, encode_as4_aggregator, _DISCARD,
        four_octet_only_from_old=True),  # RFC 6793 §6
    AttrType.LARGE_COMMUNITY: AttrSpec(
        "large_communities", _OT, decode_large_communities, encode_large_communities,
        _WITHDRAW, absent=()),  # RFC 8092 §6
}
# fmt: on
MP_TYPES: Final = frozenset({int(AttrType.MP_REACH_NLRI), int(AttrType.MP_UNREACH_NLRI)})
_ENCODE_ORDER: Final = tuple(
    (code, spec) for code, spec in sorted(ATTRIBUTES.items()) if code not in MP_TYPES
)  # RFC 4271 §5: ascending type code
# RFC 4271 §6.3: these subcodes carry the erroneous attribute as NOTIFICATION data.
_DATA_IS_ATTRIBUTE: Final = frozenset(
    {
        UpdateSub.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
        UpdateSub.ATTRIBUTE_FLAGS_ERROR,
        UpdateSub.ATTRIBUTE_LENGTH_ERROR,
        UpdateSub.INVALID_ORIGIN_ATTRIBUTE,
        UpdateSub.INVALID_NEXT_HOP_ATTRIBUTE,
        UpdateSub.OPTIONAL_ATTRIBUTE_ERROR,
    }
)


def encode_attribute(type_code: int, flags: int, value: bytes) -> bytes:
    """One attribute on the wire; Extended Length exactly when the value exceeds 255 octets."""
    if len(value) > 0xFF:
        return bytes((flags | _EXT, type_code)) + _U16.pack(len(value)) + value
    return bytes((flags & ~_EXT & 0xFF, type_code, len(value))) + value


def split_attributes(raw: bytes) -> list[tuple[int, bytes]]:
    """``(type code, whole attribute)`` for each attribute of an attribute field we encoded."""
    out = []
    pos = 0
    while pos < len(raw):
        header = 4 if raw[pos] & _EXT else 3
        length = _U16.unpack_from(raw, pos + 2)[0] if header == 4 else raw[pos + 2]
        out.append((raw[pos + 1], raw[pos : pos + header + length]))
        pos += header + length
    return out


def encode_attributes(attrs: Attributes, ctx: CodecContext) -> bytes:
    """All of ``attrs`` in ascending type-code order, unknown transitive ones with Partial set."""
    parts: list[tuple[int, bytes]] = []
    for code, spec in _ENCODE_ORDER:
        value = getattr(attrs, spec.name)
        if value == spec.absent:  # an empty AS_PATH (None is absent) is still sent
            continue
        if spec.four_octet_only_from_old and ctx.four_octet_as:
            continue  # RFC 6793 §4.1: AS4_* are never sent to a NEW speaker
        parts.append((code, encode_attribute(code, spec.flags, spec.encode(value, ctx))))
    for unknown in attrs.unknown:
        parts.append(
            (unknown.type_code, encode_attribute(unknown.type_code, unknown.flags | _PARTIAL, unknown.value))
        )
    parts.sort(key=lambda item: item[0])
    return b"".join(raw for _, raw in parts)


# --------------------------------------------------------------------------- decoding
@dataclass(frozen=True, slots=True)
class AttrProblem:
    """One error found in the attribute field: what the NOTIFICATION would say, and the action."""

    type_code: int
    subcode: UpdateSub
    data: bytes
    action: ErrorAction
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedAttributes:
    attributes: Attributes
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    problems: tuple[AttrProblem, ...] = ()


_CACHE_LIMIT: Final = 8192
_CACHES: Final[dict[bool, dict[bytes, Attributes]]] = {True: {}, False: {}}
# Second level, per attribute: raw attribute -> (field name, value), for fields that differ in one
# attribute only (flat mode: every route its own NEXT_HOP, the rest shared).
_VALUE_CACHES: Final[dict[bool, dict[bytes, tuple[str, Any]]]] = {True: {}, False: {}}
# Third level, for the flat-mode shape itself: the field with its NEXT_HOP value cut out -> a set
# decoded from such a field without problems; only the NEXT_HOP value can differ.
_FLAT_CACHES: Final[dict[bool, dict[bytes, Attributes]]] = {True: {}, False: {}}
_NEXT_HOP_HEADER: Final = (_TRANS, int(AttrType.NEXT_HOP), 4)


def _next_hop_value_at(data: bytes, start: int, end: int) -> int:
    """Where the value of the field's NEXT_HOP starts, if the attribute headers before it frame
    cleanly and its own header is the plain well-known one (flags 0x40, length 4); else -1."""
    pos = start
    while pos + 3 <= end:
        if data[pos + 1] == AttrType.NEXT_HOP:
            at = pos + 3
            if (data[pos], data[pos + 1], data[pos + 2]) == _NEXT_HOP_HEADER and at + 4 <= end:
                return at
            return -1
        if data[pos] & _EXT:
            if pos + 4 > end:
                return -1
            pos += 4 + (data[pos + 2] << 8 | data[pos + 3])
        else:
            pos += 3 + data[pos + 2]
    return -1


def interned_attributes(data: bytes, start: int, end: int, ctx: CodecContext) -> Attributes | None:
    """The set of the attribute field ``data[start:end]`` if an identical field, or one differing
    only in its NEXT_HOP value (flat mode), was decoded before without problems; else None.

    Such a field decodes to exactly that set (or that set with the other, valid, NEXT_HOP), so
    nothing is checked again; a field with MP attributes never matches (its NLRI differ). A set
    made for another NEXT_HOP is not interned itself: flat-mode fields do not repeat, and keeping
    each one costs the decoder a fifth of its time (object promotion in the garbage collector).
    Equal sets still compare equal, which is all the Adj-RIB-In relies on."""
    hit = _CACHES[ctx.four_octet_as].get(data[start:end])
    if hit is not None:
        return hit
    at = _next_hop_value_at(data, start, end)
    if at < 0:
        return None
    template = _FLAT_CACHES[ctx.four_octet_as].get(data[start:at] + data[at + 4 : end])
    if template is None:
        return None
    address = int.from_bytes(data[at : at + 4], "big")
    return template.with_next_hop(address) if _host_address(address) else None


def decode_attribute_field(data: bytes, start: int, end: int, ctx: CodecContext) -> ParsedAttributes:
    """Decode the Path Attributes field ``data[start:end]``, collecting every problem (RFC 7606 §3 (h)).

    Identical attribute sets are interned: an error-free field without MP attributes is looked up by
    its raw bytes first (one dict probe for the common case), and a decoded set is stored under the
    bytes of its non-MP attributes. Single decoded attribute values are cached the same way, and
    a field differing from a known one only in its NEXT_HOP value is served from that one (see
    ``interned_attributes``). Each cache holds at most ``_CACHE_LIMIT`` entries; a full one is
    emptied (O(1), hot sets return at once)."""
    known_set = interned_attributes(data, start, end, ctx)
    if known_set is not None:
        return ParsedAttributes(known_set)
    cache = _CACHES[ctx.four_octet_as]
    value_cache = _VALUE_CACHES[ctx.four_octet_as]
    flat = _FLAT_CACHES[ctx.four_octet_as]
    at = _next_hop_value_at(data, start, end)
    values: dict[str, Any] = {}
    unknown: list[UnknownAttribute] = []
    problems: list[AttrProblem] = []
    seen: set[int] = set()
    plain: list[bytes] = []  # raw non-MP attributes: the intern key
    pos = start
    while pos < end:
        flags = data[pos]
        header = 4 if flags & _EXT else 3
        if pos + header > end:  # RFC 7606 §4: too few octets left for an attribute header
            problems.append(
                AttrProblem(
                    0, UpdateSub.MALFORMED_ATTRIBUTE_LIST, b"", _WITHDRAW, "truncated attribute header"
                )
            )
            break
        code = data[pos + 1]
        length = _U16.unpack_from(data, pos + 2)[0] if header == 4 else data[pos + 2]
        vstart = pos + header
        vend = vstart + length
        if vend > end:  # RFC 7606 §4 overrun; an MP attribute's NLRI is then unknown: §3 (j), reset
            action = _RESET if code in MP_TYPES else _WITHDRAW
            reason = f"attribute {code} length {length} overruns the attribute field"
            problems.append(AttrProblem(code, UpdateSub.MALFORMED_ATTRIBUTE_LIST, b"", action, reason))
            break
        raw = data[pos:vend]
        value = data[vstart:vend]
        pos = vend
        if code in seen:  # RFC 7606 §3 (g)
            action = _RESET if code in MP_TYPES else _DISCARD
            reason = f"attribute {code} repeated"
            problems.append(AttrProblem(code, UpdateSub.MALFORMED_ATTRIBUTE_LIST, b"", action, reason))
            continue
        seen.add(code)
        known = value_cache.get(raw)
        if known is not None:
            values[known[0]] = known[1]
            plain.append(raw)
            continue
        spec = ATTRIBUTES.get(code)
        if spec is None:
            if not flags & _OPT:  # RFC 4271 §6.3
                reason = f"unrecognized well-known attribute {code}"
                problems.append(
                    AttrProblem(code, UpdateSub.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, raw, _RESET, reason)
                )
            elif flags & _TRANS:  # RFC 4271 §5: passed on (with Partial set when encoded)
                unknown.append(
                    UnknownAttribute(code, flags & 0xE0, value)
                )  # Extended Length: encoding detail
                plain.append(raw)
            continue  # optional non-transitive and unknown: quietly ignored (RFC 4271 §5)
        if spec.four_octet_only_from_old and ctx.four_octet_as:
            continue  # RFC 6793 §4.1: a NEW speaker discards AS4_* received from a NEW speaker
        # RFC 4271 §6.3 / RFC 7606 §3 (c): Optional and Transitive as specified; Partial only on
        # optional transitive attributes (RFC 4271 §4.3).
        if flags & (_OPT | _TRANS) != spec.flags or (flags & _PARTIAL and spec.flags != _OT):
            reason = f"attribute {code} flags {flags:#04x}"
            problems.append(AttrProblem(code, UpdateSub.ATTRIBUTE_FLAGS_ERROR, raw, spec.on_error, reason))
            continue
        try:
            decoded = spec.decode(value, ctx)
        except AttrError as err:
            data_field = raw if err.subcode in _DATA_IS_ATTRIBUTE else b""
            problems.append(AttrProblem(code, err.subcode, data_field, spec.on_error, err.reason))
            continue
        values[spec.name] = decoded
        if code not in MP_TYPES:
            plain.append(raw)
            if len(value_cache) >= _CACHE_LIMIT:
                value_cache.clear()
            value_cache[raw] = (spec.name, decoded)
    mp_reach: MpReach | None = values.pop("mp_reach", None)
    mp_unreach: MpUnreach | None = values.pop("mp_unreach", None)
    key = data[start:end] if len(plain) == len(seen) else b"".join(plain)
    attrs = cache.get(key) if not problems else None
    if attrs is None:
        attrs = Attributes(**values, unknown=tuple(unknown))
        if not problems:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = attrs
            if at >= 0 and mp_reach is None and mp_unreach is None:
                if len(flat) >= _CACHE_LIMIT:
                    flat.clear()
                flat[data[start:at] + data[at + 4 : end]] = attrs
    return ParsedAttributes(attrs, mp_reach, mp_unreach, tuple(problems))

"""The UPDATE message (RFC 4271 §4.3, §6.3) with multiprotocol NLRI (RFC 4760), ADD-PATH path
identifiers (RFC 7911), End-of-RIB markers (RFC 4724 §2) and RFC 7606 error handling.

Shape: ``withdrawn`` and ``nlri`` are the IPv4 unicast fields (prefix tuples, see ``nlri.py``);
``attributes`` is the interned ``Attributes`` set; ``mp_reach``/``mp_unreach`` carry the other
families. ``encode`` writes MP_REACH/MP_UNREACH first (RFC 7606 §5.1), then the other attributes by
ascending type code (RFC 4271 §5).

Errors (what the FSM does with them): ``Update.decode`` raises ``UpdateError`` for every malformed
message, with ``action`` the harshest action of all problems found (RFC 7606 §3 (h)) and ``code``,
``subcode`` and ``data`` those of the first problem with that action:

- ``SESSION_RESET``: send the NOTIFICATION (code, subcode, data) and close. ``update`` may be None.
- ``TREAT_AS_WITHDRAW`` (RFC 7606 §2): ``update`` is the message as far as it decoded; withdraw
  every prefix in it, conveniently by processing each of ``update.as_withdrawals()``.
- ``ATTRIBUTE_DISCARD``: ``update`` is the message without the bad attributes; process it normally.

Framing errors of the message itself (RFC 4271 §6.3: Withdrawn Routes Length or Total Path Attribute
Length too large) and syntactically incorrect prefix fields (RFC 7606 §5.3) are session resets, since
the prefixes cannot be known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from bgpd.wire.attributes import (
    NO_ATTRIBUTES,
    Attributes,
    AttrProblem,
    MpReach,
    MpUnreach,
    decode_attribute_field,
    encode_attribute,
    encode_attributes,
    encode_mp_reach,
    encode_mp_unreach,
    interned_attributes,
    mp_reach_value,
)
from bgpd.wire.constants import (
    IPV4_UNICAST,
    Afi,
    AttrFlag,
    AttrType,
    ErrorAction,
    ErrorCode,
    Family,
    MessageType,
    UpdateSub,
    known_family,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import UpdateError
from bgpd.wire.framing import bad_length
from bgpd.wire.nlri import NlriError, Prefix, encode_prefixes, prefix_field

_SEVERITY: Final = {
    ErrorAction.ATTRIBUTE_DISCARD: 0,
    ErrorAction.TREAT_AS_WITHDRAW: 1,
    ErrorAction.SESSION_RESET: 2,
}
_ENCODED_CACHE_LIMIT: Final = 4096
_ENCODED: Final[dict[tuple[Attributes, bool], bytes]] = {}
_MP_FLAGS: Final = AttrFlag.OPTIONAL  # MP_REACH/MP_UNREACH: optional non-transitive (RFC 4760 §3, §4)
_MIN_BODY: Final = 4  # Withdrawn Routes Length + Total Path Attribute Length (RFC 4271 §4.3)


@dataclass(frozen=True, slots=True)
class Update:
    """One UPDATE. Prefixes are ``(network, length)`` tuples, ``(network, length, path_id)`` for a
    family with ADD-PATH in the context."""

    TYPE: ClassVar[MessageType] = MessageType.UPDATE
    withdrawn: Sequence[Prefix] = ()  # a tuple, or the PrefixField of a decoded message
    attributes: Attributes = NO_ATTRIBUTES
    nlri: Sequence[Prefix] = ()
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None

    @classmethod
    def end_of_rib(cls, family: Family) -> Update:
        """The End-of-RIB marker for ``family`` (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
        otherwise only an MP_UNREACH_NLRI with no withdrawn routes."""
        if family == IPV4_UNICAST:
            return cls()
        return cls(mp_unreach=MpUnreach(family.afi, family.safi))

    @property
    def end_of_rib_family(self) -> Family | None:
        """The family this UPDATE marks End-of-RIB for, or None if it is not such a marker."""
        if self.withdrawn or self.nlri or self.mp_reach is not None or self.attributes != NO_ATTRIBUTES:
            return None
        if self.mp_unreach is None:
            return IPV4_UNICAST
        if self.mp_unreach.withdrawn or self.mp_unreach.unparsed:
            return None
        return known_family(self.mp_unreach.afi, self.mp_unreach.safi)

    def as_withdrawals(self) -> tuple[Update, ...]:
        """RFC 7606 §2 "treat-as-withdraw": UPDATEs withdrawing every prefix this one announces or
        withdraws (IPv4 NLRI into ``withdrawn``, MP_REACH NLRI into an MP_UNREACH of its family).
        Usually one; two when MP_REACH and MP_UNREACH name different families (RFC 7606 §5.1 says
        senders must not, receivers must cope)."""
        first = Update((*self.withdrawn, *self.nlri), mp_unreach=self.mp_unreach)
        reach = self.mp_reach
        if reach is None or not reach.nlri:
            return (first,)
        unreach = self.mp_unreach
        if unreach is None or (unreach.afi, unreach.safi) == (reach.afi, reach.safi):
            earlier = unreach.withdrawn if unreach is not None else ()
            return (
                Update(first.withdrawn, mp_unreach=MpUnreach(reach.afi, reach.safi, (*earlier, *reach.nlri))),
            )
        return first, Update(mp_unreach=MpUnreach(reach.afi, reach.safi, reach.nlri))

    def encode(self, ctx: CodecContext) -> bytes:
        """The UPDATE body (no header). Splitting routes into messages that fit is the caller's job."""
        v4_add_path = bool(ctx.add_path) and IPV4_UNICAST in ctx.add_path
        withdrawn = encode_prefixes(self.withdrawn, Afi.IPV4, v4_add_path) if self.withdrawn else b""
        key = (self.attributes, ctx.four_octet_as)
        plain = _ENCODED.get(key)
        if plain is None:
            plain = encode_attributes(self.attributes, ctx)
            if len(_ENCODED) >= _ENCODED_CACHE_LIMIT:
                _ENCODED.clear()
            _ENCODED[key] = plain
        if self.mp_reach is not None or self.mp_unreach is not None:
            mp = b""
            if self.mp_reach is not None:  # RFC 7606 §5.1: MP attributes first
                mp += encode_attribute(AttrType.MP_REACH_NLRI, _MP_FLAGS, encode_mp_reach(self.mp_reach, ctx))
            if self.mp_unreach is not None:
                mp += encode_attribute(
                    AttrType.MP_UNREACH_NLRI, _MP_FLAGS, encode_mp_unreach(self.mp_unreach, ctx)
                )
            plain = mp + plain
        nlri = encode_prefixes(self.nlri, Afi.IPV4, v4_add_path) if self.nlri else b""
        return update_body(withdrawn, plain, nlri)

    @classmethod
    def decode(cls, body: bytes | memoryview, ctx: CodecContext) -> Update:
        """Decode an UPDATE body; raises ``UpdateError`` (see the module docstring) or, for a body too
        short to be an UPDATE, ``NotificationError`` Bad Message Length (RFC 4271 §6.1)."""
        data = body if type(body) is bytes else bytes(body)
        size = len(data)
        if size < _MIN_BODY:
            raise bad_length(size + 19)
        withdrawn_len = data[0] << 8 | data[1]
        attrs_at = 2 + withdrawn_len + 2
        if attrs_at > size:  # RFC 4271 §6.3
            raise _reset(
                UpdateSub.MALFORMED_ATTRIBUTE_LIST, f"Withdrawn Routes Length {withdrawn_len} too large"
            )
        attrs_len = data[attrs_at - 2] << 8 | data[attrs_at - 1]
        nlri_at = attrs_at + attrs_len
        if nlri_at > size:  # RFC 4271 §6.3
            raise _reset(
                UpdateSub.MALFORMED_ATTRIBUTE_LIST, f"Total Path Attribute Length {attrs_len} too large"
            )
        v4_add_path = bool(ctx.add_path) and IPV4_UNICAST in ctx.add_path
        try:
            withdrawn = prefix_field(data, 2, attrs_at - 2, Afi.IPV4, v4_add_path) if withdrawn_len else ()
            nlri = prefix_field(data, nlri_at, size, Afi.IPV4, v4_add_path) if nlri_at < size else ()
        except NlriError as err:  # RFC 4271 §6.3 Invalid Network Field; RFC 7606 §3 (i), §5.3: reset
            raise _reset(UpdateSub.INVALID_NETWORK_FIELD, err.reason) from None
        if attrs_len == 0:
            return cls(withdrawn, NO_ATTRIBUTES, nlri)
        known = interned_attributes(data, attrs_at, nlri_at, ctx)
        if known is not None:  # seen before (flat mode: but for NEXT_HOP): no MP attributes, no problems
            update = cls(withdrawn, known, nlri)
            problems: tuple[AttrProblem, ...] = ()
        else:
            parsed = decode_attribute_field(data, attrs_at, nlri_at, ctx)
            update = cls(withdrawn, parsed.attributes, nlri, parsed.mp_reach, parsed.mp_unreach)
            problems = parsed.problems
        attrs = update.attributes
        complete = attrs.origin is not None and attrs.as_path is not None and attrs.next_hop is not None
        if not complete and (nlri or (update.mp_reach is not None and update.mp_reach.nlri)):
            missing = _missing_well_known(update, problems)
            if missing is not None:
                problems = (*problems, missing)
        if problems:
            raise _worst(problems, update)
        return update


def update_body(withdrawn: bytes, attributes: bytes, nlri: bytes) -> bytes:
    """An UPDATE body from its three fields, each already encoded (RFC 4271 §4.3)."""
    withdrawn_len = len(withdrawn).to_bytes(2, "big")
    return withdrawn_len + withdrawn + len(attributes).to_bytes(2, "big") + attributes + nlri


def mp_reach_attribute(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    """The whole MP_REACH_NLRI attribute (flags, type, length, value) around encoded NLRI."""
    return encode_attribute(AttrType.MP_REACH_NLRI, _MP_FLAGS, mp_reach_value(afi, safi, next_hop, nlri))


def _missing_well_known(update: Update, problems: tuple[AttrProblem, ...]) -> AttrProblem | None:
    """RFC 4271 §6.3 Missing Well-known Attribute (data: the type code), treat-as-withdraw per RFC 7606
    §3 (d). ORIGIN and AS_PATH are needed with any NLRI (RFC 4760 §3); NEXT_HOP only for the IPv4 NLRI
    field (RFC 4760 §3 makes it irrelevant for MP_REACH). An attribute that was present but malformed
    is already a problem and not reported twice."""
    attrs = update.attributes
    reported = {p.type_code for p in problems}
    needed = [(AttrType.ORIGIN, attrs.origin is None), (AttrType.AS_PATH, attrs.as_path is None)]
    if update.nlri:
        needed.append((AttrType.NEXT_HOP, attrs.next_hop is None))
    for code, absent in needed:
        if absent and code not in reported:
            return AttrProblem(
                code,
                UpdateSub.MISSING_WELL_KNOWN_ATTRIBUTE,
                bytes((code,)),
                ErrorAction.TREAT_AS_WITHDRAW,
                f"missing well-known attribute {code.name}",
            )
    return None


def _worst(problems: tuple[AttrProblem, ...], update: Update) -> UpdateError:
    """RFC 7606 §3 (h): the strongest action wins; the first problem with it names the error."""
    worst = max(problems, key=lambda p: _SEVERITY[p.action])  # max keeps the first of equals
    reasons = "; ".join(p.reason for p in problems)
    return UpdateError(
        ErrorCode.UPDATE_MESSAGE, worst.subcode, worst.data, reasons, action=worst.action, update=update
    )


def _reset(subcode: UpdateSub, reason: str) -> UpdateError:
    return UpdateError(ErrorCode.UPDATE_MESSAGE, subcode, b"", reason, action=ErrorAction.SESSION_RESET)

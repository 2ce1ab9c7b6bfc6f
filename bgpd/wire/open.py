"""The OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and extended parameters (RFC 9072).

Decoding checks only the structure (the §6.2 rules about lengths and parameter types). The value
checks (version, peer AS, BGP Identifier, hold time) are in ``check_open``, which the FSM calls
with what it knows of the configuration.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from bgpd.wire.buffer import Reader
from bgpd.wire.capabilities import Capability, FourOctetAs, decode_capabilities, encode_capability
from bgpd.wire.constants import BGP_VERSION, HEADER_LEN, ErrorCode, MessageType, OpenSub, OptionalParameter
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import bad_length

_FIXED: Final = struct.Struct("!BHHIB")  # version, My AS, Hold Time, BGP Identifier, Opt Parm Len
_EXT_MARK: Final = OptionalParameter.EXTENDED_LENGTH  # RFC 9072 §2: 255 in Non-Ext OP Len and Type
_MAX_NON_EXT: Final = 0xFF


@dataclass(frozen=True, slots=True)
class Open:
    """An OPEN. ``my_as`` is the 2-octet field as sent (AS_TRANS for a 4-octet ASN); ``asn`` the real ASN."""

    TYPE: ClassVar[MessageType] = MessageType.OPEN
    my_as: int
    hold_time: int
    bgp_id: int  # the BGP Identifier as an unsigned 32-bit integer
    capabilities: tuple[Capability, ...] = ()
    version: int = BGP_VERSION

    @property
    def asn(self) -> int:
        """The speaker's ASN: from the 4-octet AS capability when present (RFC 6793 §4.1)."""
        for capability in self.capabilities:
            if isinstance(capability, FourOctetAs):
                return capability.asn
        return self.my_as

    def encode(self, ctx: CodecContext) -> bytes:
        """The body. All capabilities go in one Capabilities parameter (as BIRD and FRR send them);
        the RFC 9072 extended form is used only when that parameter does not fit 255 octets."""
        caps = b"".join(encode_capability(c) for c in self.capabilities)
        if not caps:
            opt_len, params = 0, b""
        elif len(caps) + 2 <= _MAX_NON_EXT:  # parameter type + length octets + value
            opt_len, params = len(caps) + 2, bytes((OptionalParameter.CAPABILITIES, len(caps))) + caps
        else:  # RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet lengths from here on
            param = bytes((OptionalParameter.CAPABILITIES,)) + len(caps).to_bytes(2, "big") + caps
            opt_len, params = _EXT_MARK, bytes((_EXT_MARK,)) + len(param).to_bytes(2, "big") + param
        return _FIXED.pack(self.version, self.my_as, self.hold_time, self.bgp_id, opt_len) + params

    @classmethod
    def decode(cls, body: bytes | memoryview, ctx: CodecContext) -> Open:
        if len(body) < _FIXED.size:  # RFC 4271 §6.1, also when called without a Framer
            raise bad_length(len(body) + HEADER_LEN)
        version, my_as, hold_time, bgp_id, opt_len = _FIXED.unpack_from(body)
        return cls(my_as, hold_time, bgp_id, tuple(_decode_parameters(body, opt_len)), version)


def _decode_parameters(body: bytes | memoryview, opt_len: int) -> list[Capability]:
    """Collect the capabilities of every Capabilities parameter (RFC 5492 §4 allows several).

    Lengths that disagree with the message are OPEN Message Error / Unspecific (2/0), as in BIRD:
    RFC 4271 §6.2 has no dedicated subcode. Unlike BIRD we also refuse octets after the parameters.
    Like BIRD, a first parameter type of 255 selects the RFC 9072 extended encoding whatever the
    Non-Ext OP Len says (255 is not a parameter type, so nothing else could be meant).
    """
    start = _FIXED.size
    extended = opt_len > 0 and len(body) > start and body[start] == _EXT_MARK
    reader = Reader(body, ErrorCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, start + 1 if extended else start)
    if extended:
        opt_len = reader.u16()
    if opt_len != reader.remaining:
        raise NotificationError(
            ErrorCode.OPEN_MESSAGE,
            OpenSub.UNSPECIFIC,
            b"",
            f"optional parameters length {opt_len} but {reader.remaining} octets follow",
        )
    capabilities: list[Capability] = []
    while not reader.at_end():
        param_start = reader.position
        param_type = reader.u8()
        value = reader.sub(reader.u16() if extended else reader.u8())
        if param_type != OptionalParameter.CAPABILITIES:
            raise NotificationError(  # RFC 4271 §6.2; the data is the whole parameter, as BIRD sends
                ErrorCode.OPEN_MESSAGE,
                OpenSub.UNSUPPORTED_OPTIONAL_PARAMETER,
                bytes(body[param_start : reader.position]),
                f"unsupported optional parameter type {param_type}",
            )
        capabilities.extend(decode_capabilities(value))
    return capabilities


def check_open(message: Open, peer_as: int | None = None) -> None:
    """The RFC 4271 §6.2 value checks that need no session state beyond the configured peer AS.

    Raises the NOTIFICATION to send. Left to the FSM, which knows the local side: comparing the
    identifier with our own (RFC 6286 §2.2) and whether a hold time is acceptable by local policy.
    """
    if message.version != BGP_VERSION:  # data: the version we support, as a 2-octet integer
        raise NotificationError(
            ErrorCode.OPEN_MESSAGE,
            OpenSub.UNSUPPORTED_VERSION_NUMBER,
            BGP_VERSION.to_bytes(2, "big"),
            f"peer bid BGP version {message.version}",
        )
    if message.asn == 0 or (peer_as is not None and message.asn != peer_as):  # RFC 7607: AS 0 is bad
        expected = "AS 0 is never valid (RFC 7607)" if peer_as is None else f"expected {peer_as}"
        raise NotificationError(
            ErrorCode.OPEN_MESSAGE, OpenSub.BAD_PEER_AS, b"", f"peer AS {message.asn}, {expected}"
        )
    if message.bgp_id == 0:  # RFC 6286 §2.1: a non-zero 4-octet integer
        raise NotificationError(ErrorCode.OPEN_MESSAGE, OpenSub.BAD_BGP_IDENTIFIER, b"", "BGP Identifier 0")
    if message.hold_time in (1, 2):  # RFC 4271 §4.2: zero or at least three seconds
        raise NotificationError(
            ErrorCode.OPEN_MESSAGE, OpenSub.UNACCEPTABLE_HOLD_TIME, b"", f"hold time {message.hold_time}"
        )

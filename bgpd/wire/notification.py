"""The NOTIFICATION message (RFC 4271 §4.5) and the shutdown communication of RFC 9003."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from bgpd.wire.constants import HEADER_LEN, MAX_MESSAGE_LEN, CeaseSub, ErrorCode, MessageType
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import bad_length
from bgpd.wire.names import error_name

_FIXED_LEN: Final = 2  # error code, error subcode
_MAX_PREFIXES_DATA: Final = struct.Struct("!HBI")  # RFC 4486 §4 Figure 1: AFI, SAFI, upper bound
_SHUTDOWN_SUBCODES: Final = frozenset({CeaseSub.ADMINISTRATIVE_SHUTDOWN, CeaseSub.ADMINISTRATIVE_RESET})
MAX_SHUTDOWN_COMMUNICATION: Final = 255  # RFC 9003 §2: octets after the length octet


@dataclass(frozen=True, slots=True)
class Notification:
    """A NOTIFICATION. Codes stay plain integers: a peer may send codes this version does not know."""

    TYPE: ClassVar[MessageType] = MessageType.NOTIFICATION
    code: int
    subcode: int
    data: bytes = b""

    @classmethod
    def from_error(cls, error: NotificationError, max_len: int = MAX_MESSAGE_LEN) -> Notification:
        """The NOTIFICATION that answers a decoding error, its data cut to fit ``max_len`` octets.

        Some data is a whole received message (RFC 7313 §5) or attribute, which can be longer than
        a NOTIFICATION may be; cutting it keeps the answer sendable (the peer learns the code
        either way), where refusing to encode would leave the error unanswered.
        """
        room = max_len - HEADER_LEN - _FIXED_LEN
        return cls(error.code, error.subcode, error.data[:room])

    @classmethod
    def shutdown(cls, message: str, subcode: int = CeaseSub.ADMINISTRATIVE_SHUTDOWN) -> Notification:
        """Cease with an RFC 9003 shutdown communication; text beyond 255 octets is cut at a
        character boundary, because an operator's long reason should not stop a shutdown."""
        if subcode not in _SHUTDOWN_SUBCODES:
            raise ValueError(f"shutdown communication is defined for Cease subcodes 2 and 4, not {subcode}")
        raw = message.encode()[:MAX_SHUTDOWN_COMMUNICATION].decode(errors="ignore").encode()
        return cls(ErrorCode.CEASE, subcode, bytes((len(raw),)) + raw)

    @classmethod
    def max_prefixes(cls, afi: int, safi: int, limit: int) -> Notification:
        """Cease / Maximum Number of Prefixes Reached with the optional data of RFC 4486 §4: the
        family that went over and the configured upper bound (4 octets; a larger bound is sent as
        the largest the field holds)."""
        data = _MAX_PREFIXES_DATA.pack(afi, safi, min(limit, 0xFFFFFFFF))
        return cls(ErrorCode.CEASE, CeaseSub.MAXIMUM_PREFIXES_REACHED, data)

    @property
    def max_prefixes_data(self) -> tuple[int, int, int] | None:
        """(AFI, SAFI, upper bound) of a Cease 6/1 that carries the RFC 4486 §4 data, else None
        (the data is optional: a Cease 6/1 without it, or with other octets, gives None)."""
        if (self.code, self.subcode) != (ErrorCode.CEASE, CeaseSub.MAXIMUM_PREFIXES_REACHED):
            return None
        if len(self.data) != _MAX_PREFIXES_DATA.size:
            return None
        afi, safi, limit = _MAX_PREFIXES_DATA.unpack(self.data)
        return afi, safi, limit

    @property
    def name(self) -> str:
        """E.g. ``"Cease / Administrative Shutdown"``."""
        return error_name(self.code, self.subcode)

    @property
    def shutdown_message(self) -> str | None:
        """The RFC 9003 shutdown communication of a Cease 2 or 4, else None.

        A length running past the data or bytes that are not UTF-8 give None (RFC 9003 §4: such a
        communication must not be interpreted); ``data`` still holds the raw bytes for a hex dump.
        Octets after the communication are allowed and ignored, as GoBGP does.
        """
        if self.code != ErrorCode.CEASE or self.subcode not in _SHUTDOWN_SUBCODES or not self.data:
            return None
        length = self.data[0]
        if length == 0 or len(self.data) < 1 + length:
            return None
        try:
            return self.data[1 : 1 + length].decode("utf-8")
        except UnicodeDecodeError:
            return None

    def encode(self, ctx: CodecContext) -> bytes:
        return bytes((self.code, self.subcode)) + self.data

    @classmethod
    def decode(cls, body: bytes | memoryview, ctx: CodecContext) -> Notification:
        if len(body) < _FIXED_LEN:  # RFC 4271 §6.1, also when called without a Framer
            raise bad_length(len(body) + HEADER_LEN)
        return cls(body[0], body[1], bytes(body[_FIXED_LEN:]))

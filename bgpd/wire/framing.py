"""Message framing (RFC 4271 §4.1, §6.1): a TCP byte stream in, whole BGP messages out.

The ``Framer`` only cuts the stream and checks the header; message bodies are decoded elsewhere.
Bytes may arrive in any pieces (one at a time works); the buffer is a bytearray read through an
offset and compacted once per drain, so a long stream costs linear time, not quadratic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from bgpd.wire.constants import (
    HEADER_LEN,
    MARKER,
    MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
    ErrorCode,
    HeaderSub,
    MessageType,
)
from bgpd.wire.errors import NotificationError

# RFC 4271 §6.1: the smallest legal length of each type (header included). ROUTE-REFRESH is absent on
# purpose: RFC 7313 §5 answers a bad ROUTE-REFRESH length with 7/1 and the whole message, which its
# decoder does, so the framer hands those messages on instead of sending 1/2.
MIN_LENGTH: Final[Mapping[MessageType, int]] = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: HEADER_LEN,
    MessageType.ROUTE_REFRESH: HEADER_LEN,
}
# Upper bounds below the session maximum: a KEEPALIVE is exactly a header (RFC 4271 §4.4), and OPEN
# stays within 4096 octets even after extended messages are negotiated (RFC 8654 §4).
MAX_LENGTH: Final[Mapping[MessageType, int]] = {
    MessageType.OPEN: MAX_MESSAGE_LEN,
    MessageType.KEEPALIVE: HEADER_LEN,
}


class MessageTooLongError(ValueError):
    """A message we were asked to encode does not fit the negotiated maximum length (a local bug)."""


def bad_length(length: int) -> NotificationError:
    """RFC 4271 §6.1: Bad Message Length carries the erroneous Length field (2 octets)."""
    field = min(max(length, 0), 0xFFFF).to_bytes(2, "big")
    return NotificationError(
        ErrorCode.MESSAGE_HEADER, HeaderSub.BAD_MESSAGE_LENGTH, field, f"bad message length {length}"
    )


def check_length(msg_type: MessageType, length: int, max_len: int) -> None:
    """Raise Bad Message Length when ``length`` (header included) is illegal for ``msg_type``."""
    upper = min(max_len, MAX_LENGTH.get(msg_type, max_len))
    if not MIN_LENGTH[msg_type] <= length <= upper:
        raise bad_length(length)


def encode_header(msg_type: MessageType, body: bytes, max_len: int = MAX_EXTENDED_MESSAGE_LEN) -> bytes:
    """Prefix ``body`` with marker, length and type; refuse bodies that would exceed ``max_len``."""
    length = HEADER_LEN + len(body)
    if length > max_len:
        raise MessageTooLongError(f"{msg_type.name} of {length} octets exceeds the maximum of {max_len}")
    return MARKER + length.to_bytes(2, "big") + bytes((msg_type,)) + body


class Framer:
    """Cuts a byte stream into ``(MessageType, body)`` pairs, checking each header (RFC 4271 §6.1).

    After a header error the stream cannot be resynchronised, so the framer stays failed and every
    later ``feed`` raises the same NOTIFICATION again.
    """

    __slots__ = ("_buf", "_failed", "_max_len", "_pos")

    def __init__(self, max_len: int = MAX_MESSAGE_LEN) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max_len = MAX_MESSAGE_LEN
        self._failed: NotificationError | None = None
        self.max_len = max_len

    @property
    def max_len(self) -> int:
        """The largest accepted message: 4096, or up to 65535 once RFC 8654 is negotiated."""
        return self._max_len

    @max_len.setter
    def max_len(self, value: int) -> None:
        if not MAX_MESSAGE_LEN <= value <= MAX_EXTENDED_MESSAGE_LEN:
            raise ValueError(f"max_len must be {MAX_MESSAGE_LEN}..{MAX_EXTENDED_MESSAGE_LEN}, got {value}")
        self._max_len = value

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a whole message."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[tuple[MessageType, bytes]]:
        """Buffer ``data`` now; the returned iterator yields every whole message buffered so far.

        A header error is raised by the iterator after the messages that preceded it were yielded,
        so the caller acts on them in stream order. Messages the caller leaves unread stay buffered
        and come out of the next ``feed``.
        """
        if self._failed is not None:
            raise NotificationError(
                self._failed.code, self._failed.subcode, self._failed.data, self._failed.reason
            )
        self._buf += data
        return self._frames()

    def _frames(self) -> Iterator[tuple[MessageType, bytes]]:
        buf = self._buf
        while len(buf) - self._pos >= HEADER_LEN:
            pos = self._pos
            try:
                msg_type, length = self._check_header(pos)
            except NotificationError as err:
                self._failed = err
                raise
            if len(buf) - pos < length:
                break
            self._pos = pos + length
            yield msg_type, bytes(buf[pos + HEADER_LEN : pos + length])
        if self._pos:
            del buf[: self._pos]
            self._pos = 0

    def _check_header(self, pos: int) -> tuple[MessageType, int]:
        buf = self._buf
        if not buf.startswith(MARKER, pos):
            raise NotificationError(  # RFC 4271 §6.1: Connection Not Synchronized, no data
                ErrorCode.MESSAGE_HEADER, HeaderSub.CONNECTION_NOT_SYNCHRONIZED, b"", "marker is not all ones"
            )
        length = (buf[pos + 16] << 8) | buf[pos + 17]
        if not HEADER_LEN <= length <= self._max_len:
            raise bad_length(length)
        type_code = buf[pos + 18]
        try:
            msg_type = MessageType(type_code)
        except ValueError:
            raise NotificationError(  # RFC 4271 §6.1: the data is the erroneous Type field
                ErrorCode.MESSAGE_HEADER,
                HeaderSub.BAD_MESSAGE_TYPE,
                bytes((type_code,)),
                f"unknown message type {type_code}",
            ) from None
        check_length(msg_type, length, self._max_len)
        return msg_type, length

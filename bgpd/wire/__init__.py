"""bgpd.wire: BGP messages as frozen values, and the pure codecs between them and bytes.

The package API: ``Framer`` cuts a TCP stream into (type, body) pairs; ``decode_message`` turns one
body into a message; ``encode_message`` turns a message into its full wire form, header included.
Every malformed input raises ``NotificationError`` (``UpdateError`` for UPDATEs) carrying the
NOTIFICATION the RFCs prescribe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeAlias

from bgpd.wire.constants import MAX_MESSAGE_LEN, ErrorCode, HeaderSub, MessageType
from bgpd.wire.context import DEFAULT_CONTEXT, CodecContext
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.framing import Framer, MessageTooLongError, encode_header
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.names import error_name
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open, check_open
from bgpd.wire.route_refresh import RouteRefresh
from bgpd.wire.update import Update

Message: TypeAlias = Open | Update | Notification | Keepalive | RouteRefresh

_CLASSES: Final[Mapping[int, type[Message]]] = {
    MessageType.OPEN: Open,
    MessageType.UPDATE: Update,
    MessageType.NOTIFICATION: Notification,
    MessageType.KEEPALIVE: Keepalive,
    MessageType.ROUTE_REFRESH: RouteRefresh,
}
# RFC 8654 §4: OPEN and KEEPALIVE never exceed 4096 octets, whatever was negotiated.
_ALWAYS_SHORT: Final = frozenset({MessageType.OPEN, MessageType.KEEPALIVE})


def decode_message(msg_type: int, body: bytes | memoryview, ctx: CodecContext) -> Message:
    """Decode one message body (the bytes after the 19-octet header) of type ``msg_type``."""
    cls = _CLASSES.get(msg_type)
    if cls is None:  # RFC 4271 §6.1; a Framer never yields one, a direct caller may ask
        raise NotificationError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSub.BAD_MESSAGE_TYPE,
            bytes((msg_type & 0xFF,)),
            f"unknown message type {msg_type}",
        )
    return cls.decode(body, ctx)


def encode_message(message: Message, ctx: CodecContext) -> bytes:
    """The whole message, header included; ``MessageTooLongError`` if it exceeds the limit."""
    limit = MAX_MESSAGE_LEN if message.TYPE in _ALWAYS_SHORT else ctx.max_message_len
    return encode_header(message.TYPE, message.encode(ctx), limit)


__all__ = [
    "DEFAULT_CONTEXT",
    "CodecContext",
    "Framer",
    "Keepalive",
    "Message",
    "MessageTooLongError",
    "MessageType",
    "Notification",
    "NotificationError",
    "Open",
    "RouteRefresh",
    "Update",
    "UpdateError",
    "check_open",
    "decode_message",
    "encode_header",
    "encode_message",
    "error_name",
]

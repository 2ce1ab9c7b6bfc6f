"""The one error type the codecs raise: it already knows the NOTIFICATION that answers it.

Decoders never let IndexError, struct.error or ValueError escape; every malformed input becomes a
``NotificationError`` (RFC 4271 §6) or, for UPDATE messages, an ``UpdateError`` that also carries the
RFC 7606 action and whatever of the message could still be decoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bgpd.wire.constants import ErrorAction

if TYPE_CHECKING:
    from bgpd.wire.update import Update


class NotificationError(Exception):
    """A protocol error whose answer is the NOTIFICATION (code, subcode, data)."""

    def __init__(self, code: int, subcode: int, data: bytes = b"", reason: str = "") -> None:
        self.code = code
        self.subcode = subcode
        self.data = bytes(data)
        self.reason = reason or f"error {code}/{subcode}"
        super().__init__(self.reason)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code}, subcode={self.subcode}, "
            f"data={self.data.hex()!r}, reason={self.reason!r})"
        )


class UpdateError(NotificationError):
    """A malformed UPDATE (RFC 7606): the action to take plus the message as far as it decoded.

    ``update`` is the best-effort decode: for ``TREAT_AS_WITHDRAW`` its NLRI (and MP_REACH NLRI) are
    the prefixes to withdraw; for ``ATTRIBUTE_DISCARD`` it is the usable message with the bad
    attributes removed; for ``SESSION_RESET`` it may be None.
    """

    def __init__(
        self,
        code: int,
        subcode: int,
        data: bytes = b"",
        reason: str = "",
        *,
        action: ErrorAction = ErrorAction.SESSION_RESET,
        update: Update | None = None,
    ) -> None:
        super().__init__(code, subcode, data, reason)
        self.action = action
        self.update = update

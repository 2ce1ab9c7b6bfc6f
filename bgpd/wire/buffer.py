"""Bounds-checked reading of message bodies.

A ``Reader`` is created with the NOTIFICATION (code, subcode) that running out of bytes means in its
context, so a short field becomes the right protocol error instead of an IndexError.
"""

from __future__ import annotations

from bgpd.wire.errors import NotificationError


class Reader:
    """A cursor over an immutable byte view; every pull checks the remaining length first."""

    __slots__ = ("_buf", "_code", "_end", "_pos", "_subcode")

    def __init__(
        self, data: bytes | memoryview, code: int, subcode: int, start: int = 0, end: int | None = None
    ) -> None:
        self._buf = data if isinstance(data, memoryview) else memoryview(data)
        self._pos = start
        self._end = len(self._buf) if end is None else end
        self._code = code
        self._subcode = subcode

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos >= self._end

    def _need(self, count: int) -> None:
        if count < 0 or self._pos + count > self._end:
            raise NotificationError(
                self._code,
                self._subcode,
                b"",
                f"truncated: need {count} bytes at offset {self._pos}, have {self._end - self._pos}",
            )

    def u8(self) -> int:
        self._need(1)
        value = self._buf[self._pos]
        self._pos += 1
        return value

    def u16(self) -> int:
        self._need(2)
        value = int.from_bytes(self._buf[self._pos : self._pos + 2], "big")
        self._pos += 2
        return value

    def u32(self) -> int:
        self._need(4)
        value = int.from_bytes(self._buf[self._pos : self._pos + 4], "big")
        self._pos += 4
        return value

    def take(self, count: int) -> bytes:
        self._need(count)
        value = bytes(self._buf[self._pos : self._pos + count])
        self._pos += count
        return value

    def rest(self) -> bytes:
        value = bytes(self._buf[self._pos : self._end])
        self._pos = self._end
        return value

    def sub(self, count: int, code: int | None = None, subcode: int | None = None) -> Reader:
        """A child reader over the next ``count`` bytes; it can never read past them."""
        self._need(count)
        child = Reader(
            self._buf,
            self._code if code is None else code,
            self._subcode if subcode is None else subcode,
            self._pos,
            self._pos + count,
        )
        self._pos += count
        return child

    def expect_end(self, reason: str = "trailing bytes") -> None:
        if self._pos != self._end:
            raise NotificationError(self._code, self._subcode, b"", reason)

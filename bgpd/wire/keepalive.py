"""The KEEPALIVE message (RFC 4271 §4.4): a header and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgpd.wire.constants import HEADER_LEN, MessageType
from bgpd.wire.context import CodecContext
from bgpd.wire.framing import bad_length


@dataclass(frozen=True, slots=True)
class Keepalive:
    TYPE: ClassVar[MessageType] = MessageType.KEEPALIVE

    def encode(self, ctx: CodecContext) -> bytes:
        return b""

    @classmethod
    def decode(cls, body: bytes | memoryview, ctx: CodecContext) -> Keepalive:
        if len(body):  # RFC 4271 §6.1: a KEEPALIVE is exactly 19 octets
            raise bad_length(len(body) + HEADER_LEN)
        return cls()

"""The KEEPALIVE message (RFC 4271 §4.4): a header and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgpd.wire.constants import MessageType


@dataclass(frozen=True, slots=True)
class Keepalive:
    TYPE: ClassVar[MessageType] = MessageType.KEEPALIVE

"""The NOTIFICATION message (RFC 4271 §4.5) and the shutdown communication of RFC 9003."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgpd.wire.constants import MessageType


@dataclass(frozen=True, slots=True)
class Notification:
    TYPE: ClassVar[MessageType] = MessageType.NOTIFICATION
    code: int
    subcode: int
    data: bytes = b""

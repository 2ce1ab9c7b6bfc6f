"""The UPDATE message (RFC 4271 §4.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgpd.wire.constants import MessageType


@dataclass(frozen=True, slots=True)
class Update:
    TYPE: ClassVar[MessageType] = MessageType.UPDATE
    withdrawn: tuple[tuple[int, int], ...] = ()
    nlri: tuple[tuple[int, int], ...] = ()

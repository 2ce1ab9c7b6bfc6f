"""The six states of the BGP finite state machine (RFC 4271 §8.2.2)."""

from __future__ import annotations

from enum import Enum


class State(Enum):
    """RFC 4271 §8.2.2. The values are the names operators know from every other BGP daemon."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"

    def __str__(self) -> str:
        return self.value

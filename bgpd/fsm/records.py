"""What a session remembers for status: counters, transition history, last NOTIFICATIONs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bgpd.fsm.reasons import Reason
from bgpd.fsm.states import State
from bgpd.wire.constants import MessageType
from bgpd.wire.notification import Notification


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change at ``time`` (the driver's clock)."""

    time: float
    old: State
    new: State
    reason: Reason


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A NOTIFICATION sent or received, with its RFC 9003 shutdown communication when it has one."""

    time: float
    message: Notification

    @property
    def text(self) -> str:
        shutdown = self.message.shutdown_message
        name = self.message.name
        return f"{name}: {shutdown}" if shutdown else name


@dataclass(slots=True)
class Counters:
    """Message counts per type in each direction, session flaps and the current uptime origin."""

    messages_in: Counter[MessageType] = field(default_factory=Counter)
    messages_out: Counter[MessageType] = field(default_factory=Counter)
    updates_treated_as_withdraw: int = 0
    updates_attribute_discard: int = 0
    updates_ignored_family: int = 0  # UPDATEs with NLRI of a family that was not negotiated
    flaps: int = 0  # Established -> anything else
    established_since: float | None = None
    connect_retry_counter: int = 0  # RFC 4271 §8 ConnectRetryCounter

    @property
    def updates_in(self) -> int:
        return self.messages_in[MessageType.UPDATE]

    @property
    def updates_out(self) -> int:
        return self.messages_out[MessageType.UPDATE]

"""bgpd.speaker: the asyncio layer — sockets, listeners, one driver per session, the daemon's API."""

from __future__ import annotations

from bgpd.speaker.peer import SessionNotEstablishedError
from bgpd.speaker.speaker import SessionNotFoundError, Speaker
from bgpd.speaker.status import ReceivedRoute, SessionReading, SessionStatus, SessionSummary, SoftReset

__all__ = [
    "ReceivedRoute",
    "SessionNotEstablishedError",
    "SessionNotFoundError",
    "SessionReading",
    "SessionStatus",
    "SessionSummary",
    "SoftReset",
    "Speaker",
]

"""Who may take a control-socket connection slot: fair shares per uid, a reserve for the operators.

Anyone in the socket's group can connect. Without limits per user, one unprivileged member once
held all 16 slots with idle connections, re-opened every 55 s, and root could not run ``bgpctl
reload`` at all. So:

- ``reserved`` slots are kept for privileged clients (root and the daemon's own uid, as SO_PEERCRED
  reports them): unprivileged clients together hold at most ``max_clients - reserved``;
- one unprivileged uid holds at most ``per_uid`` connections, so one user cannot crowd out another;
- privileged clients may use every slot (they can stop the daemon anyway; limiting them protects
  nothing), and a client whose credentials could not be read counts as unprivileged.

Pure bookkeeping: the server asks ``admit`` on accept and calls ``release`` when the connection ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = ["Admission", "ConnectionLimits"]


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_clients: int = 16
    reserved: int = 4  # slots only privileged clients may take
    per_uid: int = 4  # connections one unprivileged uid may hold at once

    def __post_init__(self) -> None:
        if not 0 <= self.reserved < self.max_clients:
            raise ValueError(f"reserved slots ({self.reserved}) must be fewer than max_clients")
        if self.per_uid < 1:
            raise ValueError("per_uid must be at least 1")


class Admission:
    """Counts open connections per uid and decides whether one more may be opened."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._held: Counter[int | None] = Counter()  # uid (None: unknown) -> open connections
        self._unprivileged = 0

    @property
    def total(self) -> int:
        return self._held.total()

    def admit(self, uid: int | None, privileged: bool) -> str | None:
        """Take a slot for ``uid`` and return None, or return why it was refused (and take nothing)."""
        limits = self.limits
        if self.total >= limits.max_clients:
            return f"too many clients (limit {limits.max_clients})"
        if not privileged:
            shared = limits.max_clients - limits.reserved
            if self._unprivileged >= shared:
                return (
                    f"all {shared} connections open to unprivileged users are in use "
                    f"(limit {limits.max_clients}, {limits.reserved} kept for root and the daemon's user)"
                )
            if self._held[uid] >= limits.per_uid:
                who = "this unknown user" if uid is None else f"uid {uid}"
                return f"{who} already holds the {limits.per_uid} connections one user may hold"
            self._unprivileged += 1
        self._held[uid] += 1
        return None

    def release(self, uid: int | None, privileged: bool) -> None:
        """Give back the slot an earlier successful ``admit(uid, privileged)`` took."""
        self._held[uid] -= 1
        if not self._held[uid]:
            del self._held[uid]
        if not privileged:
            self._unprivileged -= 1

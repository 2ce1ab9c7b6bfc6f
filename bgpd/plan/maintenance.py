"""What an operator took out of service: disabled sessions and drained ones, as plain data.

Two maintenance states, both keyed by session name (a name always means the same peer and
floating IP, so a state survives reloads, restarts and floating IPs moving away and back):

- **disabled**: the session is held down. ``bgpctl disable`` sends Cease/Administrative Shutdown
  (RFC 4486 6/2) with the operator's text as the RFC 9003 shutdown communication, and the session
  is never started again — not by a reload, not by a restart of bgpd — until ``bgpctl enable``.
- **drained**: the session keeps running, and every route it announces carries the
  GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326), so the routers move traffic to other paths before
  the session goes down. ``drained_all`` drains every session, including ones a later reload adds
  (a whole gateway going into maintenance).

The plan reads this (``build_plan``), so what a disabled or drained session does is part of the
plan's answer and the daemon only executes the diff. Pure: the state file is read and written
atomically by ``bgpd.daemon.host.statefile``. JSON form (version 1), keys sorted::

    {"kind": "bgpd-maintenance", "version": 1,
     "disabled": {"10.0.1.254-node-01": "ToR firmware upgrade"}, "drainedAll": false,
     "drained": ["10.0.3.254-node-02"]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

__all__ = ["MAINTENANCE_KIND", "MAINTENANCE_VERSION", "Maintenance", "MaintenanceError"]

MAINTENANCE_KIND: Final = "bgpd-maintenance"
MAINTENANCE_VERSION: Final = 1
_KEYS: Final = frozenset({"kind", "version", "disabled", "drainedAll", "drained"})


class MaintenanceError(Exception):
    """A maintenance file that cannot be trusted, or a change that does not make sense; the message
    says why in the operator's words."""


@dataclass(frozen=True, slots=True)
class Maintenance:
    """Disabled sessions (name → the shutdown communication sent) and drained ones. Immutable:
    every change returns a new value, so the daemon can persist it before it acts on it."""

    disabled: Mapping[str, str] = field(default_factory=dict)
    drained_all: bool = False
    drained: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ reading
    def shutdown_message(self, session: str) -> str | None:
        """The shutdown communication of a disabled session; None when it is not disabled."""
        return self.disabled.get(session)

    def is_drained(self, session: str) -> bool:
        return self.drained_all or session in self.drained

    # ------------------------------------------------------------------ changing
    def disable(self, session: str, message: str) -> Maintenance:
        return replace(self, disabled={**self.disabled, session: message})

    def enable(self, session: str) -> Maintenance:
        return replace(self, disabled={k: v for k, v in self.disabled.items() if k != session})

    def drain(self, session: str | None) -> Maintenance:
        """Drain one session, or (None) every session, now and later."""
        if session is None:
            return replace(self, drained_all=True, drained=frozenset())
        return replace(self, drained=self.drained | {session})

    def undrain(self, session: str | None) -> Maintenance:
        """Undrain one session, or (None) all of them. One session cannot be taken out of a drain
        of every session: that would need a list of exceptions nobody can see in the tables."""
        if session is None:
            return replace(self, drained_all=False, drained=frozenset())
        if self.drained_all:
            raise MaintenanceError(
                f"every session is drained (bgpctl drain without a session); undrain them all "
                f"with 'bgpctl undrain', then drain the others again, to return {session} alone"
            )
        return replace(self, drained=self.drained - {session})

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        data = {
            "kind": MAINTENANCE_KIND,
            "version": MAINTENANCE_VERSION,
            "disabled": dict(sorted(self.disabled.items())),
            "drainedAll": self.drained_all,
            "drained": sorted(self.drained),
        }
        return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Maintenance:
        """Strict: anything unexpected is a ``MaintenanceError`` (a state file half-understood
        could bring a disabled session up during someone's maintenance window)."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as err:
            raise MaintenanceError(f"not JSON: {err.msg} at line {err.lineno}") from None
        if not isinstance(data, dict):
            raise MaintenanceError("not a JSON object")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise MaintenanceError(f"unknown key(s) {', '.join(unknown)}")
        if data.get("kind") != MAINTENANCE_KIND or data.get("version") != MAINTENANCE_VERSION:
            raise MaintenanceError(
                f"kind/version must be {MAINTENANCE_KIND!r}/{MAINTENANCE_VERSION}, "
                f"not {data.get('kind')!r}/{data.get('version')!r}"
            )
        disabled = data.get("disabled", {})
        if not isinstance(disabled, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in disabled.items()
        ):
            raise MaintenanceError('"disabled" must map session names to shutdown messages')
        drained_all = data.get("drainedAll", False)
        if not isinstance(drained_all, bool):
            raise MaintenanceError('"drainedAll" must be true or false')
        drained = data.get("drained", [])
        if not isinstance(drained, list) or not all(isinstance(n, str) and n for n in drained):
            raise MaintenanceError('"drained" must be a list of session names')
        return cls(dict(disabled), drained_all, frozenset(drained))

"""Adj-RIB-Out (RFC 4271 §3.2): what one session has told its peer, and the UPDATEs that change it.

The session asks for a set of routes (``set_routes``, any time); while the session is Established
the difference between those routes and what was sent is *pending*. ``next_updates`` packs pending
changes into as few UPDATEs as fit the negotiated maximum message size, only as many as the caller
has room for, so a peer that reads slowly never makes us build a large backlog: the RIB is the
backlog (as in BIRD's buckets, which hold changes until the socket can take them).

- Withdrawals go first, batched per family (IPv4 in the Withdrawn Routes field, others in
  MP_UNREACH_NLRI, RFC 4760 §4).
- Announcements are grouped by identical path: one UPDATE carries many prefixes sharing one
  attribute set (IPv4 with an IPv4 next hop in the classic NLRI field with NEXT_HOP, RFC 4271 §4.3;
  IPv6, and IPv4 with an RFC 8950 IPv6 next hop, in MP_REACH_NLRI, RFC 4760 §3).
- A changed route is simply announced again (an implicit withdrawal, RFC 4271 §3.1).
- After the initial table, each negotiated family gets its End-of-RIB marker (RFC 4724 §2), also
  when nothing was announced in it.

Routes the session cannot carry (family not negotiated, or an IPv6 next hop for IPv4 without RFC
8950) are kept but not sent, and reported by ``unsendable`` so operators can see why.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from bgpd.rib.routes import ExportPolicy, Path, Route, RouteError
from bgpd.wire.attributes import Attributes, MpReach, MpUnreach, encode_attributes
from bgpd.wire.constants import HEADER_LEN, IPV4_UNICAST, Family
from bgpd.wire.context import CodecContext
from bgpd.wire.nlri import Prefix
from bgpd.wire.update import Update

_UPDATE_FIXED: Final = HEADER_LEN + 2 + 2  # header, Withdrawn Routes Length, Total Path Attribute Length
_MP_REACH_FIXED: Final = 2 + 1 + 1 + 1  # AFI, SAFI, next hop length, reserved (RFC 4760 §3)
_MP_UNREACH_FIXED: Final = 2 + 1  # AFI, SAFI (RFC 4760 §4)
_LONG_ATTR_HEADER: Final = 4  # flags, type, 2-octet length: reserved for MP attributes (RFC 4271 §4.3)


@dataclass(frozen=True, slots=True)
class SendContext:
    """What an Established session negotiated for sending: codec facts, families, export policy."""

    ctx: CodecContext
    families: frozenset[Family]
    policy: ExportPolicy


@dataclass(frozen=True, slots=True)
class Unsendable:
    """A requested route this session does not carry, and why."""

    route: Route
    reason: str


@dataclass(slots=True)
class _Pending:
    """The changes of one family still to send."""

    withdraw: list[Prefix] = field(default_factory=list)
    announce: dict[Path, list[Prefix]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.withdraw or self.announce)


class AdjRibOut:
    """Requested routes, routes sent, and the pending difference for one session."""

    def __init__(self) -> None:
        self._desired: dict[Family, dict[Prefix, Path]] = {}
        self._sent: dict[Family, dict[Prefix, Path]] = {}
        self._pending: dict[Family, _Pending] = {}
        self._eor_due: list[Family] = []
        self._session: SendContext | None = None
        self._attrs: dict[tuple[Path, Family], tuple[Attributes, int]] = {}

    # ------------------------------------------------------------------ inputs
    def set_routes(self, routes: Iterable[Route]) -> None:
        """Replace the routes to announce. Raises ``RouteError`` for a prefix given twice with
        different paths (which one to send would be a guess)."""
        desired: dict[Family, dict[Prefix, Path]] = {}
        for route in routes:
            table = desired.setdefault(route.family, {})
            known = table.setdefault(route.prefix, route.path)
            if known != route.path:
                raise RouteError(f"{route.text} requested twice with different paths")
        self._desired = desired
        if self._session is not None:
            self._reconcile()

    def start(self, session: SendContext) -> None:
        """The session is Established: the peer knows nothing yet, so everything is pending,
        followed by End-of-RIB for every negotiated family (RFC 4724 §2)."""
        self._session = session
        self._sent = {}
        self._attrs = {}
        self._eor_due = sorted(session.families)
        self._reconcile()

    def refresh(self, family: Family, end_of_rib: bool = False) -> None:
        """Send ``family`` again: everything we announce in it becomes pending once more
        (withdrawals already sent stay done). The peer's ROUTE-REFRESH (RFC 2918 §4) gets no
        marker; an operator's soft reset asks for ``end_of_rib`` so the peer can tell when the
        whole table has been re-sent (RFC 4724 §2)."""
        if self._session is None:
            return
        self._sent.pop(family, None)
        if end_of_rib and family in self._session.families and family not in self._eor_due:
            self._eor_due.append(family)
        self._reconcile()

    def stop(self) -> None:
        """The session went down: the peer forgot what we sent (RFC 4271 §8.2.2 "deletes all
        routes"); the requested routes stay for the next session."""
        self._session = None
        self._sent = {}
        self._pending = {}
        self._eor_due = []
        self._attrs = {}

    # ------------------------------------------------------------------ state
    @property
    def established(self) -> bool:
        return self._session is not None

    @property
    def has_pending(self) -> bool:
        return bool(self._eor_due) or any(self._pending.values())

    @property
    def pending_prefixes(self) -> int:
        return sum(len(p.withdraw) + sum(len(v) for v in p.announce.values()) for p in self._pending.values())

    def sent_count(self, family: Family | None = None) -> int:
        if family is not None:
            return len(self._sent.get(family, ()))
        return sum(len(table) for table in self._sent.values())

    def requested(self) -> Iterator[Route]:
        for family in sorted(self._desired):
            for prefix, path in sorted(self._desired[family].items()):
                yield Route(family, prefix, path)

    def advertised(self) -> Iterator[Route]:
        """The routes the peer has been sent and not withdrawn."""
        for family in sorted(self._sent):
            for prefix, path in sorted(self._sent[family].items()):
                yield Route(family, prefix, path)

    def unsendable(self) -> list[Unsendable]:
        """Requested routes this session will not carry with what it negotiated."""
        if self._session is None:
            return []
        out = []
        for route in self.requested():
            reason = self._refusal(route.family, route.path)
            if reason is not None:
                out.append(Unsendable(route, reason))
        return out

    # ------------------------------------------------------------------ output
    def next_updates(self, budget: int) -> list[Update]:
        """UPDATEs for pending changes, about ``budget`` octets of them (at least one message when
        anything is pending); what they carry counts as sent from now on."""
        session = self._session
        if session is None:
            return []
        out: list[Update] = []
        used = 0
        limit = session.ctx.max_message_len
        for family in sorted(self._pending):
            withdraw = self._pending[family].withdraw
            while withdraw and used < budget:
                update, size = self._withdrawal(family, withdraw, limit)
                out.append(update)
                used += size
        for family in sorted(set(self._pending) | set(self._eor_due)):
            pending = self._pending.get(family)
            while pending is not None and pending.announce and used < budget:
                path, prefixes = pending.announce.popitem()  # O(1); next(iter()) degrades after deletes
                update, size = self._announcement(family, path, prefixes, limit)
                if prefixes:  # did not fit one UPDATE: back in, and popped again next
                    pending.announce[path] = prefixes
                out.append(update)
                used += size
            if used >= budget:
                break
            if not pending and family in self._eor_due:
                self._eor_due.remove(family)
                out.append(Update.end_of_rib(family))
                used += _UPDATE_FIXED
        for family in [f for f, p in self._pending.items() if not p]:
            del self._pending[family]
        return out

    # ------------------------------------------------------------------ internals
    def _refusal(self, family: Family, path: Path) -> str | None:
        session = self._session
        assert session is not None
        if family not in session.families:
            return f"{family} not negotiated"
        if (
            family == IPV4_UNICAST
            and path.next_hop.version == 6
            and family not in session.ctx.extended_next_hop
        ):
            return "IPv6 next hop for IPv4 needs RFC 8950 extended next hop, not negotiated"
        return None

    def _reconcile(self) -> None:
        """Recompute what is pending: requested-and-sendable versus sent, per family."""
        self._pending = {}
        for family in set(self._desired) | set(self._sent):
            want = {
                prefix: path
                for prefix, path in self._desired.get(family, {}).items()
                if self._refusal(family, path) is None
            }
            sent = self._sent.get(family, {})
            pending = _Pending(withdraw=sorted(p for p in sent if p not in want))
            for prefix in sorted(want):
                path = want[prefix]
                if sent.get(prefix) != path:
                    pending.announce.setdefault(path, []).append(prefix)
            if pending:
                self._pending[family] = pending

    def _attributes(self, family: Family, path: Path) -> tuple[Attributes, int]:
        key = (path, family)
        cached = self._attrs.get(key)
        if cached is None:
            session = self._session
            assert session is not None
            attrs = session.policy.attributes(path, family)
            if not session.ctx.four_octet_as:
                attrs = attrs.for_two_octet_peer()  # RFC 6793 §4.2.2
            cached = (attrs, len(encode_attributes(attrs, session.ctx)))
            self._attrs[key] = cached
        return cached

    def _prefix_overhead(self, family: Family) -> int:
        """Octets each prefix takes beyond its address octets: the length octet, and the RFC 7911
        path identifier (0, the only path) when ADD-PATH is in use for sending."""
        session = self._session
        assert session is not None
        return 1 + (4 if family in session.ctx.add_path else 0)

    def _take(self, prefixes: list[Prefix], room: int, family: Family) -> tuple[list[Prefix], int]:
        """Remove and return the longest head of ``prefixes`` whose encoding fits ``room`` octets,
        and the octets it takes."""
        extra = self._prefix_overhead(family)
        used = 0
        count = 0
        for prefix in prefixes:
            size = extra + ((prefix[1] + 7) >> 3)
            if used + size > room:
                break
            used += size
            count += 1
        taken = prefixes[:count]
        del prefixes[:count]
        return taken, used

    def _withdrawal(self, family: Family, prefixes: list[Prefix], limit: int) -> tuple[Update, int]:
        sent = self._sent.setdefault(family, {})
        if family == IPV4_UNICAST:
            taken, size = self._take(prefixes, limit - _UPDATE_FIXED, family)
            update = Update(withdrawn=tuple(taken))
            size += _UPDATE_FIXED
        else:
            fixed = _UPDATE_FIXED + _LONG_ATTR_HEADER + _MP_UNREACH_FIXED
            taken, size = self._take(prefixes, limit - fixed, family)
            update = Update(mp_unreach=MpUnreach(family.afi, family.safi, tuple(taken)))
            size += fixed
        for prefix in taken:
            sent.pop(prefix, None)
        return update, size

    def _announcement(
        self, family: Family, path: Path, prefixes: list[Prefix], limit: int
    ) -> tuple[Update, int]:
        attrs, attrs_len = self._attributes(family, path)
        sent = self._sent.setdefault(family, {})
        if attrs.next_hop is not None:  # classic IPv4 NLRI field, RFC 4271 §4.3
            fixed = _UPDATE_FIXED + attrs_len
            taken, size = self._take(prefixes, limit - fixed, family)
            update = Update(attributes=attrs, nlri=tuple(taken))
        else:
            next_hop = path.next_hop_bytes
            fixed = _UPDATE_FIXED + attrs_len + _LONG_ATTR_HEADER + _MP_REACH_FIXED + len(next_hop)
            taken, size = self._take(prefixes, limit - fixed, family)
            update = Update(
                attributes=attrs, mp_reach=MpReach(family.afi, family.safi, next_hop, tuple(taken))
            )
        if not taken:
            raise RouteError(f"attributes of {family} path {path} leave no room for a prefix")
        for prefix in taken:
            sent[prefix] = path
        return update, fixed + size

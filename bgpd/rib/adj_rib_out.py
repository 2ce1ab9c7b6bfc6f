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
8950) are kept but not sent, and reported by ``unsendable`` so operators can see why; the set is
kept as routes and negotiations change, so asking costs nothing over the table.

A reload that changes a few routes calls ``change_routes`` with just those: the requested table,
its groups by path and what is pending change for them alone (``set_routes`` replaces everything
and goes over the whole table; a session starts with it).
"""

from __future__ import annotations

import ipaddress
from bisect import insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from bgpd.rib.routes import ExportEncoder, ExportPolicy, Path, Route, RouteError
from bgpd.wire import encode_header, encode_message
from bgpd.wire.attributes import MpUnreach
from bgpd.wire.constants import HEADER_LEN, IPV4_UNICAST, Family, MessageType
from bgpd.wire.context import CodecContext
from bgpd.wire.nlri import Prefix, encode_prefixes
from bgpd.wire.update import Update, mp_reach_attribute, update_body

_UPDATE_FIXED: Final = HEADER_LEN + 2 + 2  # header, Withdrawn Routes Length, Total Path Attribute Length
_MP_REACH_FIXED: Final = 2 + 1 + 1 + 1  # AFI, SAFI, next hop length, reserved (RFC 4760 §3)
_MP_UNREACH_FIXED: Final = 2 + 1  # AFI, SAFI (RFC 4760 §4)
_LONG_ATTR_HEADER: Final = 4  # flags, type, 2-octet length: reserved for MP attributes (RFC 4271 §4.3)
_NO_EXTENDED_NEXT_HOP: Final = "IPv6 next hop for IPv4 needs RFC 8950 extended next hop, not negotiated"


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


@dataclass(frozen=True, slots=True)
class Batch:
    """UPDATE messages on their way to the peer: the wire bytes (headers included) and what they
    carry, for the session's counters."""

    data: bytes = b""
    messages: int = 0
    announced: int = 0  # prefixes
    withdrawn: int = 0


_NOTHING: Final = Batch()


@dataclass(slots=True)
class _BatchBuilder:
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    announced: int = 0
    withdrawn: int = 0

    def add(self, message: bytes, announced: int = 0, withdrawn: int = 0) -> None:
        self.parts.append(message)
        self.size += len(message)
        self.announced += announced
        self.withdrawn += withdrawn

    def build(self) -> Batch:
        if not self.parts:
            return _NOTHING
        return Batch(b"".join(self.parts), len(self.parts), self.announced, self.withdrawn)


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
        self._groups: dict[Family, dict[Path, list[Prefix]]] = {}  # the same routes by path
        self._sent: dict[Family, dict[Prefix, Path]] = {}
        self._pending: dict[Family, _Pending] = {}
        self._eor_due: list[Family] = []
        self._session: SendContext | None = None
        self._encoder: ExportEncoder | None = None
        self._refused: dict[tuple[Family, Prefix], str] = {}  # requested, not sendable: why

    # ------------------------------------------------------------------ inputs
    def set_routes(self, routes: Iterable[Route]) -> None:
        """Replace the routes to announce. Raises ``RouteError`` for a prefix given twice with
        different paths (which one to send would be a guess)."""
        desired: dict[Family, dict[Prefix, Path]] = {}
        groups: dict[Family, dict[Path, list[Prefix]]] = {}
        for route in routes:
            prefix, path = route.prefix, route.path
            table = desired.setdefault(route.family, {})
            known = table.get(prefix)
            if known is None:
                table[prefix] = path
                groups.setdefault(route.family, {}).setdefault(path, []).append(prefix)
            elif known != path:
                raise RouteError(f"{route.text} requested twice with different paths")
        for by_path in groups.values():
            for prefixes in by_path.values():
                prefixes.sort()
        self._desired = desired
        self._groups = groups
        if self._session is not None:
            self._reconcile()

    def change_routes(self, announce: Iterable[Route], withdraw: Iterable[tuple[Family, Prefix]]) -> None:
        """Announce ``announce`` (new prefixes, or a new path for one) and stop announcing the
        prefixes of ``withdraw`` (a prefix is in one of them at most), leaving the rest as it is:
        work for the change only."""
        old: dict[tuple[Family, Prefix], Path | None] = {}
        for family, prefix in withdraw:
            path = self._desired.get(family, {}).pop(prefix, None)
            if path is not None:
                self._ungroup(family, path, prefix)
                old.setdefault((family, prefix), path)
        for route in announce:
            family, prefix, path = route.family, route.prefix, route.path
            table = self._desired.setdefault(family, {})
            known = table.get(prefix)
            if known == path:
                continue
            if known is not None:
                self._ungroup(family, known, prefix)
            old.setdefault((family, prefix), known)
            table[prefix] = path
            group = self._groups.setdefault(family, {})
            group[path] = _inserted(group.get(path, ()), prefix)
        if self._session is not None:
            for (family, prefix), before in old.items():
                self._repend(family, prefix, before)

    def _ungroup(self, family: Family, path: Path, prefix: Prefix) -> None:
        """Take ``prefix`` out of its path's group: a new list, as the writer may hold the old."""
        group = self._groups[family]
        rest = [p for p in group[path] if p != prefix]
        if rest:
            group[path] = rest
        else:
            del group[path]

    def _repend(self, family: Family, prefix: Prefix, before: Path | None) -> None:
        """Bring what is pending for one prefix up to date with what is requested now."""
        session = self._session
        assert session is not None
        pending = self._pending.setdefault(family, _Pending())
        if before is not None and prefix in pending.announce.get(before, ()):
            rest = [p for p in pending.announce[before] if p != prefix]
            if rest:
                pending.announce[before] = rest
            else:
                del pending.announce[before]
        if prefix in pending.withdraw:
            pending.withdraw.remove(prefix)
        self._refused.pop((family, prefix), None)
        path = self._desired.get(family, {}).get(prefix)
        sent = self._sent.get(family, {}).get(prefix)
        refusal = None if path is None else self._refusal(family, path)
        if refusal is not None:
            self._refused[(family, prefix)] = refusal
        if path is not None and refusal is None:
            if sent != path:
                pending.announce[path] = _inserted(pending.announce.get(path, ()), prefix)
        elif sent is not None:
            insort(pending.withdraw, prefix)
        if not pending:
            del self._pending[family]

    def start(self, session: SendContext) -> None:
        """The session is Established: the peer knows nothing yet, so everything is pending,
        followed by End-of-RIB for every negotiated family (RFC 4724 §2)."""
        self._session = session
        self._encoder = session.policy.encoder(session.ctx)
        self._sent = {}
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
        self._encoder = None
        self._refused = {}

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
        """Requested routes this session will not carry with what it negotiated (kept up to date
        as they change, see the module docstring)."""
        return [
            Unsendable(Route(family, prefix, self._desired[family][prefix]), reason)
            for (family, prefix), reason in sorted(self._refused.items())
        ]

    # ------------------------------------------------------------------ output
    def next_batch(self, budget: int) -> Batch:
        """UPDATE messages for pending changes, ready for the wire: about ``budget`` octets of them
        (at least one message when anything is pending); what they carry counts as sent from now on."""
        session = self._session
        encoder = self._encoder
        if session is None or encoder is None:
            return _NOTHING
        batch = _BatchBuilder()
        for family in sorted(self._pending):
            withdrawing = self._pending[family]
            if withdrawing.withdraw and batch.size < budget:
                writer = _Writer(family, session, encoder, self._sent.setdefault(family, {}), batch)
                while withdrawing.withdraw and batch.size < budget:
                    withdrawing.withdraw = writer.withdrawal(withdrawing.withdraw)
        for family in sorted(set(self._pending) | set(self._eor_due)):
            pending = self._pending.get(family)
            if pending is not None and pending.announce and batch.size < budget:
                writer = _Writer(family, session, encoder, self._sent.setdefault(family, {}), batch)
                announce = pending.announce
                while announce and batch.size < budget:
                    path, prefixes = announce.popitem()  # O(1); next(iter()) degrades after deletes
                    rest = writer.announcement(path, prefixes)
                    if rest:  # did not fit one UPDATE: back in, and popped again next
                        announce[path] = rest
            if batch.size >= budget:
                break
            if not pending and family in self._eor_due:
                self._eor_due.remove(family)
                batch.add(encode_message(Update.end_of_rib(family), session.ctx))
        for family in [f for f, p in self._pending.items() if not p]:
            del self._pending[family]
        return batch.build()

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
            return _NO_EXTENDED_NEXT_HOP
        return None

    def _reconcile(self) -> None:
        """Recompute what is pending: requested-and-sendable versus sent, per family.

        The routes come grouped by path (``set_routes``), and group lists are never changed in
        place (the writer slices them), so a session that has sent nothing yet starts from a copy
        of the groups: no per-route work at Established (flat mode has a path per route)."""
        session = self._session
        assert session is not None
        self._pending = {}
        self._refused = {}
        for family in set(self._groups) | set(self._sent):
            if family not in session.families:
                why = f"{family} not negotiated"
                self._refused.update(((family, p), why) for p in self._desired.get(family, ()))
                continue
            v6_refused = family == IPV4_UNICAST and family not in session.ctx.extended_next_hop
            groups = self._groups.get(family, {})
            if v6_refused and any(type(path.next_hop) is ipaddress.IPv6Address for path in groups):
                why = _NO_EXTENDED_NEXT_HOP
                for path, prefixes in groups.items():
                    if type(path.next_hop) is ipaddress.IPv6Address:
                        self._refused.update(((family, p), why) for p in prefixes)
                groups = {p: g for p, g in groups.items() if type(p.next_hop) is ipaddress.IPv4Address}
            sent = self._sent.get(family, {})
            if not sent:
                pending = _Pending(announce=dict(groups))  # a dict copy keeps the hashes
            else:
                pending = _Pending()
                for path, prefixes in groups.items():
                    changed = [p for p in prefixes if sent.get(p) != path]
                    if changed:
                        pending.announce[path] = changed
                desired = self._desired.get(family, {})
                pending.withdraw = sorted(
                    prefix
                    for prefix in sent
                    if (wanted := desired.get(prefix)) is None
                    or (v6_refused and type(wanted.next_hop) is ipaddress.IPv6Address)
                )
            if pending:
                self._pending[family] = pending


class _Writer:
    """Writes the UPDATEs of one family into a batch, with what they need looked up once."""

    __slots__ = ("add_path", "afi", "batch", "ctx", "encoder", "extra", "family", "safi", "sent", "v4")

    def __init__(
        self,
        family: Family,
        session: SendContext,
        encoder: ExportEncoder,
        sent: dict[Prefix, Path],
        batch: _BatchBuilder,
    ) -> None:
        self.family = family
        self.afi = family.afi
        self.safi = family.safi
        self.v4 = family == IPV4_UNICAST
        self.add_path = family in session.ctx.add_path
        # Octets each prefix takes beyond its address octets: the length octet, and the RFC 7911
        # path identifier (0, the only path) when ADD-PATH is in use for sending.
        self.extra = 5 if self.add_path else 1
        self.ctx = session.ctx
        self.encoder = encoder
        self.sent = sent
        self.batch = batch

    def count(self, prefixes: list[Prefix], room: int) -> int:
        """How many prefixes from the head of ``prefixes`` fit ``room`` octets."""
        extra = self.extra
        used = 0
        count = 0
        for prefix in prefixes:
            used += extra + ((prefix[1] + 7) >> 3)
            if used > room:
                break
            count += 1
        return count

    def withdrawal(self, prefixes: list[Prefix]) -> list[Prefix]:
        """One UPDATE withdrawing the longest head of ``prefixes`` that fits (IPv4 in the Withdrawn
        Routes field, others in MP_UNREACH_NLRI, RFC 4760 §4); returns the rest."""
        limit = self.ctx.max_message_len
        if self.v4:
            count = self.count(prefixes, limit - _UPDATE_FIXED)
            update = Update(withdrawn=tuple(prefixes[:count]))
        else:
            count = self.count(prefixes, limit - _UPDATE_FIXED - _LONG_ATTR_HEADER - _MP_UNREACH_FIXED)
            update = Update(mp_unreach=MpUnreach(self.afi, self.safi, tuple(prefixes[:count])))
        sent = self.sent
        for prefix in prefixes[:count]:
            sent.pop(prefix, None)
        self.batch.add(encode_message(update, self.ctx), withdrawn=count)
        return prefixes[count:]

    def announcement(self, path: Path, prefixes: list[Prefix]) -> list[Prefix]:
        """One UPDATE announcing the longest head of ``prefixes`` that fits; returns the rest. The
        attributes are encoded for this path alone, once per message (flat mode: per route)."""
        limit = self.ctx.max_message_len
        classic = self.v4 and type(path.next_hop) is ipaddress.IPv4Address
        attrs = self.encoder.encode(path, classic)
        if classic:  # the UPDATE's own NLRI field, RFC 4271 §4.3
            count = self.count(prefixes, limit - _UPDATE_FIXED - len(attrs))
            taken = prefixes[:count] if count < len(prefixes) else prefixes
            nlri = encode_prefixes(taken, self.afi, self.add_path)
        else:  # MP_REACH_NLRI, first of the attributes (RFC 7606 §5.1)
            next_hop = path.next_hop_bytes
            fixed = _UPDATE_FIXED + len(attrs) + _LONG_ATTR_HEADER + _MP_REACH_FIXED + len(next_hop)
            count = self.count(prefixes, limit - fixed)
            taken = prefixes[:count] if count < len(prefixes) else prefixes
            nlri = encode_prefixes(taken, self.afi, self.add_path)
            attrs, nlri = mp_reach_attribute(self.afi, self.safi, next_hop, nlri) + attrs, b""
        if not count:
            raise RouteError(f"attributes of {self.family} path {path} leave no room for a prefix")
        self.batch.add(encode_header(MessageType.UPDATE, update_body(b"", attrs, nlri), limit), count)
        sent = self.sent
        for prefix in taken:
            sent[prefix] = path
        return prefixes[count:] if count < len(prefixes) else []


def _inserted(prefixes: Iterable[Prefix], prefix: Prefix) -> list[Prefix]:
    """A new sorted list: ``prefixes`` (sorted) with ``prefix``; the old list is left alone."""
    out = list(prefixes)
    insort(out, prefix)
    return out

"""Adj-RIB-In (RFC 4271 §3.2): the routes one peer announced to us, as it announced them.

bgpd installs nothing from peers; it keeps them for operators (``received-routes``) and counters.
Each prefix maps to a shared ``ReceivedPath``: UPDATEs from the codec already carry interned
attribute sets, and the path objects are interned here too, so a prefix costs one dict slot.

Rules applied:
- an announcement replaces the previous path of the prefix (implicit withdrawal, RFC 4271 §3.1);
- withdrawing a prefix never learned is accepted quietly (a ToR shutting down withdraws everything;
  RFC 4271 §9 only asks to remove what is there);
- treat-as-withdraw (RFC 7606 §2) removes every prefix the faulty UPDATE names (``withdraw_all``);
- MP_REACH/MP_UNREACH for a family the session did not negotiate are ignored (RFC 4760 §7);
- End-of-RIB markers (RFC 4724 §2) are recorded per family;
- graceful restart, helper role (RFC 4724 §4.2): when the peer restarts, its routes of some
  families are kept and marked stale (``mark_stale``); a route it announces or withdraws again is
  no longer stale; what is still stale when the session's FSM says so is deleted (``sweep_stale``);
  marking again while routes are still stale (a restart during a restart) deletes those first.
  The stale marks are a set of prefixes per family, kept only while a restart is under way, so a
  session without one pays one empty-dict test per UPDATE.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from bgpd.wire.attributes import Attributes
from bgpd.wire.constants import IPV4_UNICAST, Family, known_family
from bgpd.wire.nlri import Prefix
from bgpd.wire.update import Update

_INTERN_LIMIT: Final = 65536


@dataclass(frozen=True, slots=True)
class ReceivedPath:
    """The attributes of a received route and its next hop as sent (4, 16 or 32 octets)."""

    attributes: Attributes
    next_hop: bytes

    @property
    def next_hop_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The (global) next hop address; for 32 octets the link-local second half is left out."""
        if len(self.next_hop) == 4:
            return ipaddress.IPv4Address(self.next_hop)
        if len(self.next_hop) >= 16:
            return ipaddress.IPv6Address(self.next_hop[:16])
        return None


@dataclass(frozen=True, slots=True)
class StaleChange:
    """What marking or sweeping stale routes did."""

    deleted: int = 0  # routes removed (still stale from before, or swept)
    stale: int = 0  # routes marked stale now


@dataclass(frozen=True, slots=True)
class RibChange:
    """What one UPDATE did to the table."""

    announced: int = 0
    withdrawn: int = 0  # prefixes actually removed (unknown ones are not counted)
    end_of_rib: Family | None = None


class AdjRibIn:
    """The routes received on one session, per family."""

    def __init__(self, families: frozenset[Family] = frozenset({IPV4_UNICAST})) -> None:
        self.families = families
        self._tables: dict[Family, dict[Prefix, ReceivedPath]] = {f: {} for f in families}
        self._paths: dict[tuple[Attributes, bytes], ReceivedPath] = {}
        self._stale: dict[Family, set[Prefix]] = {}  # only families with stale routes
        self.end_of_rib: set[Family] = set()

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def count(self, family: Family) -> int:
        return len(self._tables.get(family, ()))

    def get(self, family: Family, prefix: Prefix) -> ReceivedPath | None:
        table = self._tables.get(family)
        return None if table is None else table.get(prefix)

    def routes(self) -> Iterator[tuple[Family, Prefix, ReceivedPath]]:
        for family in sorted(self._tables):
            for prefix, path in sorted(self._tables[family].items()):
                yield family, prefix, path

    def clear(self) -> None:
        """The session ended: its routes are gone (RFC 4271 §8.2.2 "deletes all routes"), except
        those marked stale, which graceful restart keeps until ``sweep_stale``."""
        for family, table in self._tables.items():
            stale = self._stale.get(family)
            if not stale:
                table.clear()
            elif len(stale) < len(table):
                for prefix in [p for p in table if p not in stale]:
                    del table[prefix]
        if not self._stale:
            self._paths.clear()
        self.end_of_rib.clear()

    def set_families(self, families: frozenset[Family]) -> None:
        """A new session negotiated ``families``: tables of families it lacks go (stale or not),
        new ones start empty; the routes kept stale in the others stay."""
        for family in [f for f in self._tables if f not in families]:
            del self._tables[family]
            self._stale.pop(family, None)
        for family in families:
            self._tables.setdefault(family, {})
        self.families = families
        self.end_of_rib.clear()

    # ------------------------------------------------------------------ graceful restart (helper)
    def mark_stale(self, families: frozenset[Family]) -> StaleChange:
        """Mark every route of ``families`` stale (RFC 4724 §4.2). Routes still stale from an
        earlier restart are deleted first: "to deal with possible consecutive restarts, a route
        previously marked as stale MUST be deleted"."""
        deleted = 0
        stale = 0
        for family in families:
            table = self._tables.get(family)
            if table is None:
                continue
            deleted += self._delete(table, self._stale.pop(family, ()))
            if table:
                self._stale[family] = set(table)
                stale += len(table)
        return StaleChange(deleted, stale)

    def sweep_stale(self, families: frozenset[Family]) -> StaleChange:
        """Delete the routes of ``families`` that are still stale (End-of-RIB, or a timer ran out)."""
        deleted = 0
        for family in families:
            table = self._tables.get(family)
            prefixes = self._stale.pop(family, ())
            if table is not None:
                deleted += self._delete(table, prefixes)
        return StaleChange(deleted=deleted)

    def is_stale(self, family: Family, prefix: Prefix) -> bool:
        stale = self._stale.get(family)
        return stale is not None and prefix in stale

    @property
    def stale_count(self) -> int:
        return sum(len(prefixes) for prefixes in self._stale.values())

    @staticmethod
    def _delete(table: dict[Prefix, ReceivedPath], prefixes: Iterable[Prefix]) -> int:
        deleted = 0
        for prefix in prefixes:
            deleted += table.pop(prefix, None) is not None
        return deleted

    def _path(self, attributes: Attributes, next_hop: bytes) -> ReceivedPath:
        key = (attributes, next_hop)
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) >= _INTERN_LIMIT:
                self._paths.clear()  # only sharing is lost; stored routes keep their objects
            path = self._paths[key] = ReceivedPath(attributes, next_hop)
        return path

    def apply(self, update: Update) -> RibChange:
        """Apply a well-formed (or attribute-discarded) UPDATE."""
        eor = update.end_of_rib_family
        if eor is not None:
            if eor in self._tables:
                self.end_of_rib.add(eor)
            return RibChange(end_of_rib=eor)
        return self._apply(update)

    def _apply(self, update: Update) -> RibChange:
        withdrawn = 0
        announced = 0
        v4 = self._tables.get(IPV4_UNICAST)
        if v4 is not None:
            for prefix in update.withdrawn:
                withdrawn += v4.pop(prefix, None) is not None
            self._refreshed(IPV4_UNICAST, update.withdrawn)
        unreach = update.mp_unreach
        if unreach is not None:
            family = known_family(unreach.afi, unreach.safi)
            table = self._tables.get(family) if family is not None else None
            if table is not None and family is not None:
                for prefix in unreach.withdrawn:
                    withdrawn += table.pop(prefix, None) is not None
                self._refreshed(family, unreach.withdrawn)
        attrs = update.attributes
        if update.nlri and v4 is not None and attrs.next_hop is not None:
            path = self._path(attrs, attrs.next_hop.to_bytes(4, "big"))
            for prefix in update.nlri:
                v4[prefix] = path
            announced += len(update.nlri)
            self._refreshed(IPV4_UNICAST, update.nlri)
        reach = update.mp_reach
        if reach is not None and reach.nlri:
            family = known_family(reach.afi, reach.safi)
            table = self._tables.get(family) if family is not None else None
            if table is not None and family is not None:
                path = self._path(attrs, reach.next_hop)
                for prefix in reach.nlri:
                    table[prefix] = path
                announced += len(reach.nlri)
                self._refreshed(family, reach.nlri)
        return RibChange(announced, withdrawn)

    def _refreshed(self, family: Family, prefixes: Iterable[Prefix]) -> None:
        """The peer announced or withdrew ``prefixes`` again: they are not stale any more (RFC 4724
        §4.2, "replace the stale routes by the routing updates received")."""
        stale = self._stale.get(family)
        if stale:
            stale.difference_update(prefixes)
            if not stale:
                del self._stale[family]

    def withdraw_all(self, update: Update) -> RibChange:
        """RFC 7606 §2 treat-as-withdraw: every prefix ``update`` announces or withdraws is removed."""
        withdrawn = 0
        for withdrawal in update.as_withdrawals():
            withdrawn += self._apply(withdrawal).withdrawn  # never an End-of-RIB, even when empty
        return RibChange(withdrawn=withdrawn)

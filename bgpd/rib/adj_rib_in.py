"""Adj-RIB-In (RFC 4271 §3.2): the routes one peer announced to us, as it announced them.

bgpd installs nothing from peers; it keeps them for operators (``received-routes``) and counters.

Memory and speed (1 M received routes: RSS within 1.5× BIRD's, ingest within 1.5× its time; see
bench/ingest.py): a route is one dict slot keyed by the prefix's compact key (``wire.nlri``: one
integer, which the codec already made while decoding), pointing to a shared ``ReceivedPath``. A
decoded field's keys go into the table in one ``dict.update``. UPDATEs from the codec carry
interned attribute sets and the path objects are interned here too, so no object exists per prefix
but the key. The API speaks the codec's ``(network, length[, path_id])`` tuples.

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
  The stale marks are a set of keys per family, kept only while a restart is under way, so a
  session without one pays one empty-dict test per UPDATE field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Final

from bgpd.wire.attributes import Attributes
from bgpd.wire.constants import IPV4_UNICAST, Afi, Family, known_family
from bgpd.wire.nlri import Prefix, PrefixField, key_prefix, prefix_key
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
        self._tables: dict[Family, dict[int, ReceivedPath]] = {f: {} for f in families}
        self._paths: dict[tuple[Attributes, bytes], ReceivedPath] = {}
        self._stale: dict[Family, set[int]] = {}  # only families with stale routes
        self.end_of_rib: set[Family] = set()

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def count(self, family: Family) -> int:
        return len(self._tables.get(family, ()))

    def get(self, family: Family, prefix: Prefix) -> ReceivedPath | None:
        table = self._tables.get(family)
        return None if table is None else table.get(prefix_key(prefix, family.afi))

    def keys(self, family: Family) -> list[int]:
        """The table's keys now, for a listing that runs in slices while routes keep coming
        (``at`` then says whether each is still there); a copy made at C speed."""
        return list(self._tables.get(family, ()))

    def at(self, family: Family, key: int) -> ReceivedPath | None:
        """The path of a key ``keys`` gave, or None once it was withdrawn."""
        table = self._tables.get(family)
        return None if table is None else table.get(key)

    @staticmethod
    def order(family: Family, key: int) -> int:
        """An integer that sorts the keys of ``family`` by network, then length, then path id."""
        prefix = key_prefix(key, family.afi)
        return (prefix[0] << 8 | prefix[1]) << 32 | (prefix[2] if len(prefix) > 2 else 0)

    @staticmethod
    def prefix(family: Family, key: int) -> Prefix:
        """The ``(network, length[, path_id])`` of a key of ``family``."""
        return key_prefix(key, family.afi)

    def routes(self) -> Iterator[tuple[Family, Prefix, ReceivedPath]]:
        """Every route, by family, then network, length and path identifier."""
        for family in sorted(self._tables):
            afi = family.afi
            for prefix, path in sorted(
                (key_prefix(key, afi), path) for key, path in self._tables[family].items()
            ):
                yield family, prefix, path

    def clear(self) -> None:
        """The session ended: its routes are gone (RFC 4271 §8.2.2 "deletes all routes"), except
        those marked stale, which graceful restart keeps until ``sweep_stale``."""
        for family, table in self._tables.items():
            stale = self._stale.get(family)
            if not stale:
                table.clear()
            elif len(stale) < len(table):
                for key in [k for k in table if k not in stale]:
                    del table[key]
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
            deleted += _withdraw(table, self._stale.pop(family, ()))
            if table:
                self._stale[family] = set(table)
                stale += len(table)
        return StaleChange(deleted, stale)

    def sweep_stale(self, families: frozenset[Family]) -> StaleChange:
        """Delete the routes of ``families`` that are still stale (End-of-RIB, or a timer ran out)."""
        deleted = 0
        for family in families:
            table = self._tables.get(family)
            keys = self._stale.pop(family, ())
            if table is not None:
                deleted += _withdraw(table, keys)
        return StaleChange(deleted=deleted)

    def is_stale(self, family: Family, prefix: Prefix) -> bool:
        return self.key_is_stale(family, prefix_key(prefix, family.afi))

    def key_is_stale(self, family: Family, key: int) -> bool:
        """``is_stale`` for a key of ``keys`` (listings walk keys, not prefixes)."""
        stale = self._stale.get(family)
        return stale is not None and key in stale

    @property
    def stale_count(self) -> int:
        return sum(len(keys) for keys in self._stale.values())

    def _refreshed(self, family: Family, keys: Iterable[int]) -> None:
        """The peer announced or withdrew these again: they are not stale any more (RFC 4724
        §4.2, "replace the stale routes by the routing updates received")."""
        stale = self._stale.get(family)
        if stale:
            stale.difference_update(keys)
            if not stale:
                del self._stale[family]

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
        stale = self._stale  # empty unless the peer is restarting: then re-sent routes are fresh
        v4 = self._tables.get(IPV4_UNICAST)
        if v4 is not None and update.withdrawn:
            keys = _not_announced(_keys(update.withdrawn, Afi.IPV4), update.nlri, Afi.IPV4)
            withdrawn += _withdraw(v4, keys)
            if stale:
                self._refreshed(IPV4_UNICAST, keys)
        unreach = update.mp_unreach
        if unreach is not None:
            family = known_family(unreach.afi, unreach.safi)
            table = self._tables.get(family) if family is not None else None
            if table is not None and family is not None:
                keys = _keys(unreach.withdrawn, unreach.afi)
                reach = update.mp_reach
                if reach is not None and (reach.afi, reach.safi) == (unreach.afi, unreach.safi):
                    keys = _not_announced(keys, reach.nlri, unreach.afi)
                withdrawn += _withdraw(table, keys)
                if stale:
                    self._refreshed(family, keys)
        attrs = update.attributes
        if update.nlri and v4 is not None and attrs.next_hop is not None:
            path = self._path(attrs, attrs.next_hop.to_bytes(4, "big"))
            keys = _keys(update.nlri, Afi.IPV4)
            v4.update(zip(keys, repeat(path)))
            announced += len(update.nlri)
            if stale:
                self._refreshed(IPV4_UNICAST, keys)
        reach = update.mp_reach
        if reach is not None and reach.nlri:
            family = known_family(reach.afi, reach.safi)
            table = self._tables.get(family) if family is not None else None
            if table is not None and family is not None:
                path = self._path(attrs, reach.next_hop)
                keys = _keys(reach.nlri, reach.afi)
                table.update(zip(keys, repeat(path)))
                announced += len(reach.nlri)
                if stale:
                    self._refreshed(family, keys)
        return RibChange(announced, withdrawn)

    def withdraw_all(self, update: Update) -> RibChange:
        """RFC 7606 §2 treat-as-withdraw: every prefix ``update`` announces or withdraws is removed."""
        withdrawn = 0
        for withdrawal in update.as_withdrawals():
            withdrawn += self._apply(withdrawal).withdrawn  # never an End-of-RIB, even when empty
        return RibChange(withdrawn=withdrawn)


def _keys(prefixes: Sequence[Prefix], afi: int) -> Sequence[int]:
    """The compact keys of a field: as decoded, or made from tuples (UPDATEs built in code)."""
    if isinstance(prefixes, PrefixField):
        return prefixes.keys
    return [prefix_key(prefix, afi) for prefix in prefixes]


def _not_announced(keys: Sequence[int], nlri: Sequence[Prefix], afi: int) -> Sequence[int]:
    """RFC 4271 §4.3: a prefix both withdrawn and announced in one UPDATE is treated as announced
    only, so it is not counted as a withdrawal (the table ends the same either way)."""
    if not nlri:
        return keys
    announced = set(_keys(nlri, afi))
    return [key for key in keys if key not in announced]


def _withdraw(table: dict[int, ReceivedPath], keys: Iterable[int]) -> int:
    pop = table.pop
    return sum(pop(key, None) is not None for key in keys)

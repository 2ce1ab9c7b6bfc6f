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
- End-of-RIB markers (RFC 4724 §2) are recorded per family.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
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
        """The session ended: its routes are gone (RFC 4271 §8.2.2 "deletes all routes")."""
        for table in self._tables.values():
            table.clear()
        self._paths.clear()
        self.end_of_rib.clear()

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
        if v4 is not None and update.withdrawn:
            withdrawn += _withdraw(v4, _keys(update.withdrawn, Afi.IPV4))
        unreach = update.mp_unreach
        if unreach is not None:
            table = self._table(unreach.afi, unreach.safi)
            if table is not None:
                withdrawn += _withdraw(table, _keys(unreach.withdrawn, unreach.afi))
        attrs = update.attributes
        if update.nlri and v4 is not None and attrs.next_hop is not None:
            path = self._path(attrs, attrs.next_hop.to_bytes(4, "big"))
            v4.update(zip(_keys(update.nlri, Afi.IPV4), repeat(path)))
            announced += len(update.nlri)
        reach = update.mp_reach
        if reach is not None and reach.nlri:
            table = self._table(reach.afi, reach.safi)
            if table is not None:
                path = self._path(attrs, reach.next_hop)
                table.update(zip(_keys(reach.nlri, reach.afi), repeat(path)))
                announced += len(reach.nlri)
        return RibChange(announced, withdrawn)

    def withdraw_all(self, update: Update) -> RibChange:
        """RFC 7606 §2 treat-as-withdraw: every prefix ``update`` announces or withdraws is removed."""
        withdrawn = 0
        for withdrawal in update.as_withdrawals():
            withdrawn += self._apply(withdrawal).withdrawn  # never an End-of-RIB, even when empty
        return RibChange(withdrawn=withdrawn)

    def _table(self, afi: int, safi: int) -> dict[int, ReceivedPath] | None:
        family = known_family(afi, safi)
        return None if family is None else self._tables.get(family)


def _keys(prefixes: Sequence[Prefix], afi: int) -> Sequence[int]:
    """The compact keys of a field: as decoded, or made from tuples (UPDATEs built in code)."""
    if isinstance(prefixes, PrefixField):
        return prefixes.keys
    return [prefix_key(prefix, afi) for prefix in prefixes]


def _withdraw(table: dict[int, ReceivedPath], keys: Sequence[int]) -> int:
    pop = table.pop
    return sum(pop(key, None) is not None for key in keys)

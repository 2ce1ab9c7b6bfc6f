"""The plan: the whole answer to "what does this host run and announce", as one pure function.

``build_plan(manifests, settings, ledger, local addresses, maintenance, now=…)`` → ``Plan``
(``bgpd.plan.model``): the pod-CIDR allocations, every session of the cluster with its full
configuration (``SessionConfig``: addresses, ASNs, router ID and every per-session setting), and
for each session this host runs, the routes it exports and, for every route left out, the reason.
Nothing that decides what goes on the wire is left to the daemon: it diffs two plans
(``bgpd.plan.diff``) and carries out the difference. Pure (no I/O, no clock: ``now`` is given), so
``bgpd plan`` shows exactly what ``bgpd run`` does with the same inputs.

- Allocations come from the Node documents when the file has them, else from the allocator
  (upstream ClusterCIDR semantics, stable through the ledger, missing nodes' blocks reserved from
  ``now`` for ``allocation.reservationTime``): ``bgpd.plan.allocation``.
- Maintenance (``bgpd.plan.maintenance``): a disabled session is still planned (the daemon holds
  it down); a drained one announces its routes with the GRACEFUL_SHUTDOWN community (RFC 8326).
- A session runs here when this host holds its floating IP; the address's prefix is the session's
  segment, and ``bgpd.plan.segments`` decides its routes from it (sessions alike share one rule,
  one computation and one tuple of routes).
- Routes: per node and enabled family, its pod block with the node's own address of that family as
  next hop (third-party next hop, RFC 4271 §5.1.3), named ``route-via-<next hop, dots/colons as
  dashes>``. One route value is shared by every session announcing it, so all sessions announce a
  prefix with identical attributes (ECMP on the routers depends on it).

**A reload costs what it changed** (``Planner``). ``build_plan`` is a ``Planner`` used once; the
daemon keeps one and asks it for every plan. The planner remembers the last plan with its indexes
(nodes by name, routes and exports in route order, which blocks are taken), and when the next
inputs differ from the last only in the nodes (a node added, removed or edited: the everyday
reload) it plans those nodes alone:

- allocation: only the nodes that may get blocks now (new ones, and those that got none or not
  every family last time) go through the allocator, with every other present node's blocks as
  taken, and the nodes gone with their blocks (reserved from ``now``, or freed). The allocator
  serves nodes in name order, each the lowest free block, a served node keeps its blocks while the
  configs stay, and reservations run out by ``now`` in the call that serves those few as in one
  that serves everyone, so this gives exactly what allocating everyone would;
- routes and exports: the routes of the changed nodes are removed and decided again, spliced into
  the sorted tuples (a few copies of pointers, no per-route Python work for the others);
- what changed per export goes with the plan to the diff (``deltas``), so the daemon hands each
  session the few routes to announce and withdraw instead of comparing whole tables.

Anything else (settings, maintenance, peers, floating IPs, configs, Node documents, the addresses
held, a ledger that is not the last plan's) is planned from scratch, the same code the first plan
uses. A property test holds the
two ways equal over random edit sequences (tests/plan/test_planner.py).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from bgpd.manifests import Manifests, Node
from bgpd.plan.allocation import allocate_nodes, cidr_configs
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.model import (
    Plan,
    PlannedNode,
    Problem,
    Route,
    Session,
    placements,
    router_id,
    session_name,
)
from bgpd.plan.segments import (
    NOTHING,
    Announced,
    ExportKey,
    ExportRule,
    Network,
    NodeRoute,
    SessionExport,
    Skipped,
    route_name,
)
from bgpd.plan.session_config import SessionConfig
from bgpd.plan.settings import LocalAddress, Settings
from bgpd.rib.allocator import Intervals, NodeSpec, allocate
from bgpd.rib.cidr import Block, parse_block
from bgpd.rib.ledger import Ledger, NodeAllocation
from bgpd.rib.routes import Path as RibPath
from bgpd.rib.routes import Route as RibRoute
from bgpd.rib.routes import RouteError
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family
from bgpd.wire.nlri import Prefix, ipv4_address_from_text

__all__ = ["ExportChange", "Planner", "build_plan", "planned_sessions"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
K = TypeVar("K", str, tuple[int, int, int, int])  # node names, route orders
T = TypeVar("T")


def build_plan(
    manifests: Manifests,
    settings: Settings,
    ledger: Ledger,
    local_addresses: Collection[LocalAddress],
    maintenance: Maintenance | None = None,
    *,
    now: int,
) -> Plan:
    """The plan for ``manifests`` and ``settings`` on a host holding ``local_addresses``, with the
    operator's disabled and drained sessions (``maintenance``; None: none), at ``now`` (POSIX
    seconds: a node missing from the file is reserved from then; reservations end by it)."""
    return Planner().plan(manifests, settings, ledger, local_addresses, maintenance, now=now)


def planned_sessions(
    manifests: Manifests,
    settings: Settings,
    local_addresses: Collection[LocalAddress],
    maintenance: Maintenance | None = None,
) -> tuple[Session, ...]:
    """The plan's sessions as ``build_plan`` makes them, but without their routes (nothing
    announced, nothing skipped): what a daemon can start before the first plan is ready."""
    held = {a.address: a.prefix for a in local_addresses}
    specs = _session_specs(manifests, settings, _families(manifests), held, maintenance or Maintenance())
    return tuple(Session(s.peer, s.config, s.local, s.segment, (), (), s.disabled, s.drained) for s in specs)


@dataclass(frozen=True, slots=True)
class ExportChange:
    """What one export (the routes of the sessions alike) changed from the last plan to this one:
    the routes to announce (new, or with a new next hop) and the prefixes to withdraw."""

    old: tuple[Announced, ...]
    new: tuple[Announced, ...]
    announce: tuple[RibRoute, ...]
    withdraw: tuple[tuple[Family, Prefix], ...]


class Planner:
    """``build_plan`` that remembers the last plan, to plan again only what changed (see the
    module docstring). Not thread-safe; one per daemon."""

    def __init__(self) -> None:
        self._memory: _Memory | None = None
        self.deltas: dict[int, ExportChange] = {}  # by id of the old export's announced tuple

    def plan(
        self,
        manifests: Manifests,
        settings: Settings,
        ledger: Ledger,
        local_addresses: Collection[LocalAddress],
        maintenance: Maintenance | None = None,
        *,
        now: int,
    ) -> Plan:
        """The plan, as ``build_plan`` gives it; ``deltas`` then says what changed per export
        (empty when the plan was made from scratch)."""
        held = {a.address: a.prefix for a in local_addresses}
        maintenance = maintenance or Maintenance()
        memory = self._memory
        self.deltas = {}
        if memory is not None and memory.only_nodes_differ(manifests, settings, ledger, held, maintenance):
            self.deltas = memory.replan_nodes(manifests, now)
            return memory.plan
        self._memory = _Memory(manifests, settings, ledger, held, maintenance, now=now)
        return self._memory.plan


class _Sorted(Generic[K, T]):
    """Items in key order: the tuple the plan holds, and the keys to find them by bisection."""

    __slots__ = ("items", "keys")

    def __init__(self, keys: list[K], items: tuple[T, ...]) -> None:
        self.keys: list[K] = keys
        self.items: tuple[T, ...] = items

    @classmethod
    def of(cls, pairs: Iterable[tuple[K, T]]) -> _Sorted[K, T]:
        ordered = sorted(pairs, key=lambda pair: pair[0])
        return cls([key for key, _ in ordered], tuple(item for _, item in ordered))

    def get(self, key: K) -> T | None:
        i = bisect_left(self.keys, key)
        return self.items[i] if i < len(self.keys) and self.keys[i] == key else None

    def edited(self, drop: Collection[K], add: Collection[tuple[K, T]]) -> _Sorted[K, T]:
        """A copy without the items of ``drop`` and with those of ``add`` (each key at most once);
        itself when there is nothing to do, so unchanged values keep their identity."""
        if not drop and not add:
            return self
        keys, items = list(self.keys), list(self.items)
        for key in drop:
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                del keys[i]
                del items[i]
        for key, item in add:
            i = bisect_left(keys, key)
            keys.insert(i, key)
            items.insert(i, item)
        return _Sorted(keys, tuple(items))


RouteOrder = tuple[int, int, int, int]  # AFI, SAFI, network, length (NodeRoute.order)


@dataclass(slots=True)
class _Export:
    """The routes of the sessions that share one ``ExportRule``, in route order."""

    rule: ExportRule
    announced: _Sorted[RouteOrder, Announced]
    skipped: _Sorted[RouteOrder, Skipped]
    value: SessionExport


@dataclass(frozen=True, slots=True)
class _SessionSpec:
    """A session before its routes: the planner rebuilds ``Session`` from it when its export moves."""

    peer: str
    config: SessionConfig
    local: bool
    segment: Network | None
    key: ExportKey | None  # None: not run here, exports nothing
    disabled: str | None
    drained: bool


class _Memory:
    """One plan with its inputs and indexes (see the module docstring)."""

    def __init__(
        self,
        manifests: Manifests,
        settings: Settings,
        ledger: Ledger,
        held: Mapping[IPAddress, Network | None],
        maintenance: Maintenance,
        *,
        now: int,
    ) -> None:
        self.manifests = manifests
        self.settings = settings
        self.held = dict(held)
        self.maintenance = maintenance
        self.families = _families(manifests)
        self.configs = cidr_configs(manifests)
        self.rib: dict[tuple[str, str, tuple[int, ...]], RibRoute | RouteError] = {}
        reservation_time = settings.allocation.reservation_time
        result = allocate_nodes(manifests, ledger, now=now, reservation_time=reservation_time)
        self.reserved = result.ledger.reserved
        self.allocations = {a.node: a for a in result.allocations}
        self.problems = {p.node: p.reason for p in result.problems}
        self.blocks = {a.node: blocks for a, blocks in _blocks(result.allocations).items()}
        self.taken = {v: Intervals.of(sorted(blocks)) for v, blocks in _by_version(self.blocks).items()}
        self.node_of: dict[str, Node] = {}
        self.planned: dict[str, PlannedNode] = {}
        self.node_routes: dict[str, tuple[NodeRoute, ...]] = {}
        for node in manifests.nodes:
            self._take_node(node)
        self.nodes = _Sorted(
            [n.name for n in manifests.nodes], tuple(self.planned[n.name] for n in manifests.nodes)
        )
        every_route = [route for n in manifests.nodes for route in self.node_routes[n.name]]
        every_route.sort(key=lambda r: r.order)
        self.routes = _Sorted([r.order for r in every_route], tuple(_route(r) for r in every_route))
        self.ledger_entries = _Sorted([a.node for a in result.allocations], result.allocations)
        self.specs = _session_specs(manifests, settings, self.families, held, maintenance)
        self.exports: dict[ExportKey, _Export] = {}
        for spec in self.specs:
            if spec.key is None or spec.key in self.exports:
                continue
            rule = ExportRule(spec.config, spec.segment, spec.drained)
            decided = [(r.order, rule.decide(r, self._rib_route)) for r in every_route]
            announced = _Sorted.of((k, d) for k, d in decided if isinstance(d, Announced))
            skipped = _Sorted.of((k, d) for k, d in decided if isinstance(d, Skipped))
            self.exports[spec.key] = _Export(
                rule, announced, skipped, SessionExport(announced.items, skipped.items)
            )
        self.sessions = tuple(self._session(spec) for spec in self.specs)
        self.plan = self._make_plan(result.ledger)

    # ------------------------------------------------------------------ the incremental way
    def only_nodes_differ(
        self,
        manifests: Manifests,
        settings: Settings,
        ledger: Ledger,
        held: Mapping[IPAddress, Network | None],
        maintenance: Maintenance,
    ) -> bool:
        """Whether the new inputs differ from the last ones in the nodes alone (and the ledger is
        the one the last plan made, and no Node documents decide the blocks), so ``replan_nodes``
        may plan them."""
        last = self.manifests
        same_ledger = ledger is self.plan.ledger or ledger == self.plan.ledger
        return (
            same_ledger
            and manifests.node_cidrs is None
            and settings == self.settings
            and maintenance == self.maintenance
            and dict(held) == self.held
            and all(
                getattr(manifests, f.name) == getattr(last, f.name)
                for f in dataclasses.fields(Manifests)
                if f.name != "nodes"
            )
        )

    def replan_nodes(self, manifests: Manifests, now: int) -> dict[int, ExportChange]:
        """Plan the nodes that changed since the last plan (``only_nodes_differ`` holds), at
        ``now``; returns what changed per export, keyed by the id of the old export's announced
        tuple."""
        present = {n.name: n for n in manifests.nodes}
        removed = [name for name in self.node_of if name not in present]
        edited = [n for n in manifests.nodes if not _same(self.node_of.get(n.name), n)]
        added = {n.name for n in edited if n.name not in self.node_of}
        # Who may get blocks now: new nodes (a reserved one gets its blocks back), and those that
        # got none, not every family or a block no config has (each has a problem saying so).
        # Everyone else keeps what it has: configs did not change.
        needing = sorted(added | {name for name in self.problems if name in present})
        reservation_time = self.settings.allocation.reservation_time
        running_out = any(now - r.missing_since >= reservation_time for r in self.reserved)
        self.manifests = manifests
        if not removed and not edited and not needing and not running_out:
            return {}
        before = {name: self._release(name) for name in [*removed, *needing]}
        for name in [*removed, *needing]:
            self.problems.pop(name, None)
        result = allocate(
            [NodeSpec(name, present[name].labels) for name in needing],
            self.configs,
            Ledger(tuple(a for a in before.values() if a is not None), self.reserved),
            now=now,
            reservation_time=reservation_time,
            taken=self.taken,
        )
        self.reserved = result.ledger.reserved
        self.problems.update((p.node, p.reason) for p in result.problems)
        self._hold(result.allocations)
        self.ledger_entries = self.ledger_entries.edited(
            [name for name in before if before[name] is not None],
            [(a.node, a) for a in result.allocations],
        )
        for node in edited:
            self.node_of[node.name] = node
        dropped: list[NodeRoute] = []
        gained: list[NodeRoute] = []
        drop_nodes: list[str] = []
        add_nodes: list[tuple[str, PlannedNode]] = []
        for name in sorted({*removed, *needing, *(n.name for n in edited)}):
            old = self.planned.pop(name, None)
            routes = self.node_routes.pop(name, ())
            if name in present:
                self._take_node(present[name])
                if self.planned[name] == old:
                    self.planned[name] = old  # keeps its identity: nothing of it moves
                    self.node_routes[name] = routes
                    continue
                add_nodes.append((name, self.planned[name]))
            else:
                del self.node_of[name]
            if old is not None:
                drop_nodes.append(name)
            dropped += routes
            gained += self.node_routes.get(name, ())
        self.nodes = self.nodes.edited(drop_nodes, add_nodes)
        self.routes = self.routes.edited([r.order for r in dropped], [(r.order, _route(r)) for r in gained])
        exported = {key: export.value for key, export in self.exports.items()}
        deltas = self._replan_exports(dropped, gained)
        self.sessions = tuple(
            self._session(spec)
            if spec.key is not None and self.exports[spec.key].value is not exported[spec.key]
            else session
            for spec, session in zip(self.specs, self.sessions, strict=True)
        )
        self._prune_routes()
        self.plan = self._make_plan(Ledger(self.ledger_entries.items, self.reserved))
        return deltas

    def _replan_exports(self, dropped: list[NodeRoute], gained: list[NodeRoute]) -> dict[int, ExportChange]:
        """Splice the routes of the changed nodes into every export; what each one changed."""
        deltas: dict[int, ExportChange] = {}
        drop = [r.order for r in dropped]
        for export in self.exports.values():
            decided = [(r.order, export.rule.decide(r, self._rib_route)) for r in gained]
            announced, skipped = export.announced, export.skipped
            export.announced = announced.edited(
                drop, [(k, d) for k, d in decided if isinstance(d, Announced)]
            )
            export.skipped = skipped.edited(drop, [(k, d) for k, d in decided if isinstance(d, Skipped)])
            if export.announced is announced and export.skipped is skipped:
                continue
            old = export.value
            export.value = SessionExport(export.announced.items, export.skipped.items)
            if export.announced is not announced:
                deltas[id(old.announced)] = _change(announced, export.announced, drop, decided)
        return deltas

    # ------------------------------------------------------------------ pieces
    def _release(self, name: str) -> NodeAllocation | None:
        """Take ``name``'s blocks off the taken list (it is re-served, or gone); its allocation."""
        allocation = self.allocations.pop(name, None)
        for block in self.blocks.pop(name, ()):
            self.taken[block.version].remove(block)
        return allocation

    def _hold(self, allocations: Iterable[NodeAllocation]) -> None:
        for allocation, blocks in _blocks(allocations).items():
            self.allocations[allocation.node] = allocation
            self.blocks[allocation.node] = blocks
            for block in blocks:
                self.taken.setdefault(block.version, Intervals()).add(block)

    def _prune_routes(self) -> None:
        """Forget route values no export uses any more, once they are as many as the used ones."""
        if len(self.rib) <= 2 * len(self.routes.keys) + 1024:
            return
        used = {
            (a.prefix, a.next_hop, a.route.path.communities)
            for export in self.exports.values()
            for a in export.announced.items
        }
        self.rib = {key: value for key, value in self.rib.items() if key in used}

    def _take_node(self, node: Node) -> None:
        """Plan one node: its ``PlannedNode`` and its routes."""
        allocation = self.allocations.get(node.name)
        planned = PlannedNode(
            name=node.name,
            address=node.address,
            ipv6_address=node.ipv6_address,
            pool=node.pool,
            config=allocation.config if allocation is not None else None,
            ipv4=allocation.ipv4 if allocation is not None else None,
            ipv6=allocation.ipv6 if allocation is not None else None,
        )
        self.node_of[node.name] = node
        self.planned[node.name] = planned
        self.node_routes[node.name] = _node_routes(planned, self.families)

    def _rib_route(
        self, prefix: str, hop: str, address: IPAddress, family: Family, communities: tuple[int, ...]
    ) -> RibRoute | RouteError:
        """One route value per (prefix, next hop, communities), shared by every session announcing
        it and kept across plans."""
        key = (prefix, hop, communities)
        found = self.rib.get(key)
        if found is None:
            try:
                block = parse_block(prefix)
                found = RibRoute(family, (block.first, block.prefixlen), RibPath(address, None, communities))
            except (RouteError, ValueError) as err:
                found = err if isinstance(err, RouteError) else RouteError(str(err))
            self.rib[key] = found
        return found

    def _session(self, spec: _SessionSpec) -> Session:
        export = self.exports[spec.key].value if spec.key is not None else NOTHING
        return Session(
            spec.peer,
            spec.config,
            spec.local,
            spec.segment,
            export.announced,
            export.skipped,
            spec.disabled,
            spec.drained,
        )

    def _make_plan(self, ledger: Ledger) -> Plan:
        return Plan(
            nodes=self.nodes.items,
            sessions=self.sessions,
            routes=self.routes.items,
            problems=tuple(Problem(name, self.problems[name]) for name in sorted(self.problems)),
            ledger=ledger,
        )


def _change(
    before: _Sorted[RouteOrder, Announced],
    after: _Sorted[RouteOrder, Announced],
    drop: list[RouteOrder],
    decided: list[tuple[RouteOrder, Announced | Skipped | None]],
) -> ExportChange:
    """What ``before`` → ``after`` announces and withdraws (only the keys an edit touched)."""
    announce: list[RibRoute] = []
    withdraw: list[tuple[Family, Prefix]] = []
    for key in sorted({*drop, *(k for k, _ in decided)}):
        old, new = before.get(key), after.get(key)
        if new is not None and (old is None or old.route != new.route):
            announce.append(new.route)
        elif new is None and old is not None:
            withdraw.append((old.route.family, old.route.prefix))
    return ExportChange(before.items, after.items, tuple(announce), tuple(withdraw))


def _families(manifests: Manifests) -> tuple[Family, ...]:
    enabled = ((manifests.enable_ipv4, IPV4_UNICAST), (manifests.enable_ipv6, IPV6_UNICAST))
    return tuple(family for on, family in enabled if on)


def _blocks(allocations: Iterable[NodeAllocation]) -> dict[NodeAllocation, tuple[Block, ...]]:
    """Each allocation's blocks, parsed (the ledger's text is canonical, so this is exact)."""
    return {a: tuple(parse_block(text) for text in (a.ipv4, a.ipv6) if text is not None) for a in allocations}


def _by_version(blocks: Mapping[str, tuple[Block, ...]]) -> dict[int, list[Block]]:
    out: dict[int, list[Block]] = {4: [], 6: []}
    for node_blocks in blocks.values():
        for block in node_blocks:
            out[block.version].append(block)
    return out


def _address(text: str) -> IPAddress:
    value = ipv4_address_from_text(text)
    return ipaddress.IPv4Address(value) if value is not None else ipaddress.ip_address(text)


def _node_routes(node: PlannedNode, families: tuple[Family, ...]) -> tuple[NodeRoute, ...]:
    """The node's routes (its pod block per enabled family, its own address as next hop)."""
    v4 = _address(node.address)
    v6 = _address(node.ipv6_address) if node.ipv6_address is not None else None
    routes = []
    for family, prefix, hop in (
        (IPV4_UNICAST, node.ipv4, node.address),
        (IPV6_UNICAST, node.ipv6, node.ipv6_address),
    ):
        if family in families and prefix is not None and hop is not None:
            block = parse_block(prefix)
            order = (int(family.afi), int(family.safi), block.first, block.prefixlen)
            routes.append(NodeRoute(prefix, family, hop, node.name, v4, v6, order))
    return tuple(routes)


def _route(route: NodeRoute) -> Route:
    return Route(route_name(route.next_hop), route.prefix, route.next_hop, route.family)


def _session_specs(
    manifests: Manifests,
    settings: Settings,
    families: tuple[Family, ...],
    held: Mapping[IPAddress, Network | None],
    maintenance: Maintenance,
) -> tuple[_SessionSpec, ...]:
    chosen = placements(manifests)
    floating = {p.local_ip for p in chosen}
    specs = []
    rules: dict[ExportKey, ExportKey] = {}
    for placement in chosen:
        peer = placement.peer
        config = SessionConfig(
            name=session_name(peer.peer_ip, placement.index),
            local_ip=placement.local_ip,
            peer_ip=ipaddress.ip_address(peer.peer_ip),
            local_asn=peer.local_asn,
            peer_asn=peer.peer_asn,
            router_id=router_id(placement.local_ip, floating),
            families=families,
            **settings.session_values(peer.peer_ip),
        )
        local = placement.local_ip in held
        segment = held.get(placement.local_ip)
        drained = maintenance.is_drained(config.name)
        key = ExportRule(config, segment, drained).key if local else None
        if key is not None:
            key = rules.setdefault(key, key)
        disabled = maintenance.shutdown_message(config.name)
        specs.append(_SessionSpec(peer.name, config, local, segment, key, disabled, drained))
    return tuple(specs)


def _same(old: Node | None, new: Node) -> bool:
    return old is new or old == new

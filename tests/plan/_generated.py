"""Generated clusters and settings for the plan's proof tests (pure and in network namespaces).

A cluster here is a few L2 segments ``10.0.S.0/24`` (with ``2001:db8:S::/64`` for IPv6). The
gateway holds a floating IP ``10.0.S.100`` on some of them; the NetworkGatewayGroup may list one
more that another gateway holds. A ToR ``10.0.S.254`` sits on most segments (GoBGP or BIRD when
run for real), and nodes live on any segment, including ones with no floating IP or ToR. Each peer
gets a random session count and ``offSegmentNextHop`` policy; the defaults get random timers.
Everything follows from one ``random.Random``, so a seed is a case.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from bgpd.plan import LocalAddress
from tests.manifests._cluster import Docs, cidr_config, cluster, flat_mode, gateway, node_pool, peer

# The control-plane node of ``tests.manifests._cluster.cluster()``.
CONTROL_PLANE = ("10.0.1.11", "2001:db8:1::11")


@dataclass(frozen=True)
class Tor:
    segment: int
    kind: str  # "gobgp" or "bird": the router that plays it in the namespace test
    policy: str  # its offSegmentNextHop

    @property
    def address(self) -> str:
        return f"10.0.{self.segment}.254"

    @property
    def ipv6(self) -> str:
        return f"2001:db8:{self.segment}::254"


@dataclass(frozen=True)
class Generated:
    docs: Docs
    settings: dict[str, Any]
    held: tuple[int, ...]  # segments on which the gateway holds 10.0.S.100
    tors: tuple[Tor, ...]
    dual_stack: bool

    def local(self) -> tuple[LocalAddress, ...]:
        """The held floating IPs with their segments, as netlink reports them on the gateway."""
        return tuple(
            LocalAddress(ipaddress.ip_address(f"10.0.{s}.100"), ipaddress.ip_network(f"10.0.{s}.0/24"))
            for s in self.held
        )


def generate(rng: random.Random, *, bird_policies: tuple[str, ...] = ("skip", "self")) -> Generated:
    """One case. ``bird_policies``: what a BIRD ToR may get (BIRD drops next hops that are not on
    a directly connected subnet, so ``node`` would only test BIRD; the namespace test keeps it out)."""
    segments = list(range(1, rng.choice((2, 3)) + 1))
    held = sorted({1, 2} | {s for s in segments[2:] if rng.random() < 0.5})
    floating = [f"10.0.{s}.100" for s in held]
    if rng.random() < 0.5:  # a floating IP another gateway holds: its sessions do not run here
        floating.insert(rng.randrange(len(floating) + 1), f"10.0.{rng.choice(segments)}.101")
    tors: list[Tor] = []
    for index, segment in enumerate([*segments, 7]):  # 7: a segment the gateway is not on
        if segment in (1, 2) or rng.random() < 0.6:
            kind = ("gobgp", "bird")[(index + rng.randrange(2)) % 2] if segment != 7 else "none"
            policies = bird_policies if kind == "bird" else ("skip", "self", "node")
            tors.append(Tor(segment, kind, rng.choice(policies)))
    first, second = (t for t in tors if t.segment in (1, 2))
    if first.kind == second.kind:  # one GoBGP and one BIRD on the gateway's segments, always
        kind = "bird" if first.kind == "gobgp" else "gobgp"
        policies = bird_policies if kind == "bird" else ("skip", "self", "node")
        tors[tors.index(second)] = Tor(second.segment, kind, rng.choice(policies))
    dual_stack = rng.random() < 0.5
    nodes = []
    for n in range(rng.randint(2, 6)):
        segment = rng.choice([*segments, 9])  # 9: a segment with neither floating IP nor ToR
        host = 20 + n
        nodes.append({"address": f"10.0.{segment}.{host}", "ipv6Address": f"2001:db8:{segment}::{host:x}"})
    docs: Docs = [
        cluster(),
        node_pool("np1", nodes),
        cidr_config("wide"),
        gateway(*floating),
        flat_mode(ipv6=dual_stack),
        *(peer(f"tor-{t.segment}", t.address, rng.randint(1, len(floating))) for t in tors),
    ]
    settings = {
        "defaults": {
            "connectRetryTime": 1,
            "holdTime": rng.choice((9, 30, 90)),
            "offSegmentNextHop": "skip",
        },
        "peers": {t.address: {"offSegmentNextHop": t.policy} for t in tors},
    }
    return Generated(docs, settings, tuple(held), tuple(tors), dual_stack)

"""Hypothesis strategies for the non-UPDATE messages and every capability kind (shared by the
round-trip and fuzz tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    ExtendedNextHopEntry,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AddPathMode, CapabilityCode, RouteRefreshSubtype
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open
from bgpd.wire.route_refresh import RouteRefresh

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
_KNOWN_CODES = frozenset(int(code) for code in CapabilityCode)
FAMILIES = (IPV4_UNICAST, IPV6_UNICAST)


def _short_text(max_octets: int) -> st.SearchStrategy[str]:
    return st.text(max_size=max_octets).filter(lambda text: len(text.encode()) <= max_octets)


multiprotocol = st.builds(Multiprotocol, u16, u8)
extended_next_hop = st.builds(
    ExtendedNextHop, st.lists(st.builds(ExtendedNextHopEntry, u16, u16, u16), max_size=10).map(tuple)
)
graceful_restart = st.builds(
    GracefulRestart,
    st.booleans(),
    st.booleans(),
    st.integers(0, 0xFFF),
    st.lists(st.builds(GracefulRestartFamily, u16, u8, st.booleans()), max_size=10).map(tuple),
)
add_path = st.builds(
    AddPath, st.lists(st.builds(AddPathFamily, u16, u8, st.sampled_from(AddPathMode)), max_size=10).map(tuple)
)
fqdn = st.builds(Fqdn, _short_text(64), _short_text(64))
unknown_capability = st.builds(
    UnknownCapability, u8.filter(lambda code: code not in _KNOWN_CODES), st.binary(max_size=40)
)

capabilities: st.SearchStrategy[Capability] = st.one_of(
    multiprotocol,
    st.just(RouteRefreshCapability()),
    st.just(EnhancedRouteRefresh()),
    st.just(ExtendedMessage()),
    extended_next_hop,
    graceful_restart,
    st.builds(FourOctetAs, u32),
    add_path,
    fqdn,
    unknown_capability,
)

opens = st.builds(Open, u16, u16, u32, st.lists(capabilities, max_size=30).map(tuple), u8)
notifications = st.builds(Notification, u8, u8, st.binary(max_size=200))
route_refreshes = st.builds(
    RouteRefresh, u16, u8, st.one_of(st.sampled_from(RouteRefreshSubtype), st.integers(3, 0xFF))
)
messages = st.one_of(opens, notifications, st.just(Keepalive()), route_refreshes)

"""The daemon settings file: what the vendor manifests have no field for.

Timers (including DelayOpen and the peer-oscillation damping of RFC 4271 §8.1.1), passive mode, TCP
port, TTL/multihop, IP_FREEBIND, the off-segment next-hop policy, how long a missing node's pod CIDRs
stay reserved, the reload guard against mass removals, logging and (for hosts without address
watching) the floating IPs to treat as local, each optionally with its segment's prefix length.
Every key is optional; unknown keys are errors, so a typo cannot silently fall back to a default.
``defaults`` apply to all peers; ``peers`` overrides them per peer IP.
Reference: docs/operator-guide.md, "Settings reference".
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from bgpd.logs import LEVELS, LogFormat

__all__ = [
    "AllocationSettings",
    "LocalAddress",
    "LogSettings",
    "NextHopPolicy",
    "PeerOverrides",
    "PeerPolicy",
    "PeerSettings",
    "RemovalSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_settings",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(value: object) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


# One validator for both families: the union's per-member errors would be noise for the operator.
IPField = Annotated[IPAddress, PlainValidator(_ip)]


@dataclass(frozen=True, slots=True)
class LocalAddress:
    """One ``localAddresses`` entry: a floating IP and, when written ``a/len``, its segment.

    The prefix stands in for the interface prefix address watching would report, for hosts where
    the covering host prefix is wrong for the floating IP (on loopback every 127.x address is
    covered by ``lo``'s 127.0.0.0/8). None: the covering host prefix decides, as for a plain entry.
    """

    address: IPAddress
    prefix: Network | None = None


def _local_address(value: object) -> LocalAddress:
    if isinstance(value, LocalAddress):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    text, slash, length = value.partition("/")
    address = _ip(text)
    if not slash:
        return LocalAddress(address)
    bits = address.max_prefixlen
    if not (length.isascii() and length.isdigit()) or int(length) > bits:
        raise ValueError(f"{value!r}: the prefix length must be 0-{bits} for IPv{address.version}")
    return LocalAddress(address, ipaddress.ip_network(f"{address}/{int(length)}", strict=False))


LocalAddressField = Annotated[LocalAddress, PlainValidator(_local_address)]


class NextHopPolicy(enum.StrEnum):
    """What a session does with a node that is not on its peer's segment (RFC 4271 §5.1.3)."""

    SKIP = "skip"  # do not announce it on this session (routers would drop or invalidate it)
    SELF = "self"  # announce it with the session's floating IP as next hop (next-hop-self)
    NODE = "node"  # announce the node's own address anyway (multihop fabrics that resolve it)


def _check_hold(value: int) -> int:
    if value != 0 and not 3 <= value <= 65535:  # RFC 4271 §4.2: 0 or at least three seconds
        raise ValueError("must be 0 (no keepalives) or between 3 and 65535 seconds")
    return value


# RFC 4271 §8.1.1 gives no range for these; the caps keep a typo (minutes for seconds) from parking
# a session: DelayOpen at most the suggested OpenSent hold time (4 minutes), the first IdleHoldTime
# at most the cap its doubling stops at (IDLE_HOLD_MAX, the §8.1.1 example of 120 s).
DELAY_OPEN_MAX = 240
IDLE_HOLD_MAX = 120


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class PeerOverrides(_Strict):
    """Per-peer settings; anything left out comes from ``defaults``."""

    hold_time: int | None = Field(default=None, alias="holdTime")
    keepalive_time: int | None = Field(default=None, alias="keepaliveTime", ge=0, le=21845)
    connect_retry_time: int | None = Field(default=None, alias="connectRetryTime", ge=1, le=3600)
    delay_open_time: int | None = Field(default=None, alias="delayOpenTime", ge=0, le=DELAY_OPEN_MAX)
    idle_hold_time: int | None = Field(default=None, alias="idleHoldTime", ge=1, le=IDLE_HOLD_MAX)
    damp_peer_oscillations: bool | None = Field(default=None, alias="dampPeerOscillations")
    passive: bool | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    multihop: int | None = Field(default=None, ge=1, le=255)
    freebind: bool | None = None
    off_segment_next_hop: NextHopPolicy | None = Field(default=None, alias="offSegmentNextHop")

    @field_validator("hold_time")
    @classmethod
    def _hold(cls, value: int | None) -> int | None:
        return None if value is None else _check_hold(value)


class PeerSettings(_Strict):
    """Settings for every peer unless ``peers`` says otherwise."""

    hold_time: int = Field(default=90, alias="holdTime")
    keepalive_time: int | None = Field(default=None, alias="keepaliveTime", ge=0, le=21845)
    connect_retry_time: int = Field(default=5, alias="connectRetryTime", ge=1, le=3600)
    delay_open_time: int = Field(default=0, alias="delayOpenTime", ge=0, le=DELAY_OPEN_MAX)
    idle_hold_time: int = Field(default=5, alias="idleHoldTime", ge=1, le=IDLE_HOLD_MAX)
    damp_peer_oscillations: bool = Field(default=True, alias="dampPeerOscillations")
    passive: bool = False
    port: int = Field(default=179, ge=1, le=65535)
    multihop: int | None = Field(default=None, ge=1, le=255)
    freebind: bool = False
    off_segment_next_hop: NextHopPolicy = Field(default=NextHopPolicy.SKIP, alias="offSegmentNextHop")

    @field_validator("hold_time")
    @classmethod
    def _hold(cls, value: int) -> int:
        return _check_hold(value)


class AllocationSettings(_Strict):
    """How long a node missing from the cluster file keeps its pod CIDRs (docs/allocation.md)."""

    reservation_time: int = Field(default=86400, alias="reservationTime", ge=0)  # seconds


class RemovalSettings(_Strict):
    """The reload guard: a reload removing more than ``max_share`` of the nodes, or of the BGP peers,
    at once is refused unless forced (``bgpctl reload --force``); 1 turns the guard off."""

    max_share: float = Field(default=0.25, alias="maxShare", ge=0, le=1)


class LogSettings(_Strict):
    format: LogFormat = LogFormat.AUTO
    level: str = "info"

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in LEVELS:
            raise ValueError(f"must be one of {', '.join(LEVELS)}")
        return value.lower()


@dataclass(frozen=True, slots=True)
class PeerPolicy:
    """The resolved settings for one peer: every value concrete, keepalive derived when not given."""

    hold_time: int
    keepalive_time: int
    connect_retry_time: int  # also the wait after a failed connection attempt (RFC 4271 §8.1.1)
    delay_open_time: int  # DelayOpenTime; 0: DelayOpen off
    idle_hold_time: int  # the first IdleHoldTime after a session flap ...
    damp_peer_oscillations: bool  # ... doubled per consecutive flap when on
    passive: bool
    port: int
    ttl: int  # IP TTL of our packets: 1 for a directly connected peer, ``multihop`` otherwise
    multihop: bool
    freebind: bool
    off_segment_next_hop: NextHopPolicy


def _resolve(defaults: PeerSettings, override: PeerOverrides | None) -> PeerPolicy:
    merged: dict[str, Any] = defaults.model_dump()
    if override is not None:
        merged.update(override.model_dump(exclude_none=True))
        if override.hold_time is not None and override.keepalive_time is None:
            merged["keepalive_time"] = None  # a new hold time re-derives the keepalive
    hold = merged["hold_time"]
    keepalive = merged["keepalive_time"]
    if keepalive is None:
        keepalive = hold // 3  # RFC 4271 §10: one third of the hold time
    elif hold == 0 and keepalive != 0:
        raise ValueError("keepaliveTime must be 0 when holdTime is 0")
    elif hold and not 1 <= keepalive < hold:
        raise ValueError(f"keepaliveTime must be at least 1 and below holdTime ({hold})")
    ttl = merged["multihop"] or 1
    return PeerPolicy(
        hold_time=hold,
        keepalive_time=keepalive,
        connect_retry_time=merged["connect_retry_time"],
        delay_open_time=merged["delay_open_time"],
        idle_hold_time=merged["idle_hold_time"],
        damp_peer_oscillations=merged["damp_peer_oscillations"],
        passive=merged["passive"],
        port=merged["port"],
        ttl=ttl,
        multihop=merged["multihop"] is not None,
        freebind=merged["freebind"],
        off_segment_next_hop=merged["off_segment_next_hop"],
    )


class Settings(_Strict):
    """The whole settings file. Immutable; ``for_peer`` gives one peer's resolved policy."""

    defaults: PeerSettings = PeerSettings()
    peers: dict[IPField, PeerOverrides] = {}
    log: LogSettings = LogSettings()
    allocation: AllocationSettings = AllocationSettings()
    removals: RemovalSettings = RemovalSettings()
    local_addresses: tuple[LocalAddressField, ...] | None = Field(default=None, alias="localAddresses")

    @field_validator("local_addresses")
    @classmethod
    def _unique(cls, value: tuple[LocalAddress, ...] | None) -> tuple[LocalAddress, ...] | None:
        if value is not None and len({entry.address for entry in value}) != len(value):
            raise ValueError("lists an address twice")
        return value

    @model_validator(mode="after")
    def _every_peer_resolves(self) -> Settings:
        _resolve(self.defaults, None)
        for peer, override in self.peers.items():
            try:
                _resolve(self.defaults, override)
            except ValueError as err:
                raise ValueError(f'peers["{peer}"]: {err}') from None
        return self

    def for_peer(self, peer_ip: str | IPAddress) -> PeerPolicy:
        """``defaults`` merged with the overrides for ``peer_ip`` (if any)."""
        return _resolve(self.defaults, self.peers.get(ipaddress.ip_address(peer_ip)))


class SettingsError(Exception):
    """The settings file is unusable; ``errors`` has one line per problem, each naming its field."""

    def __init__(self, path: Path | None, errors: list[str]) -> None:
        where = str(path) if path is not None else "settings"
        super().__init__(f"{where}: " + "; ".join(errors))
        self.path = path
        self.errors = errors


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if part == "[key]":
            continue  # pydantic's marker for "the key itself is wrong"; the key is already named
        if isinstance(part, int) or (i > 0 and loc[i - 1] == "peers"):
            out += f'["{part}"]' if not isinstance(part, int) else f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe_error(loc: tuple[int | str, ...], msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    return f"{_location(loc)}: {msg}" if loc else msg


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys: the second ``holdTime`` would silently win otherwise."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_settings(data: Mapping[str, Any] | None, path: Path | None = None) -> Settings:
    """Validate already-loaded YAML data; every problem is reported, each naming its field."""
    try:
        return Settings.model_validate(data or {})
    except ValidationError as err:
        errors = [_describe_error(e["loc"], e["msg"]) for e in err.errors()]
        raise SettingsError(path, errors) from None


def load_settings(path: Path | None) -> Settings:
    """The settings in ``path``; no path means all defaults. An empty file is all defaults too."""
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SettingsError(path, [f"cannot read: {err.strerror or err}"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as err:
        raise SettingsError(path, [f"not valid YAML: {err}"]) from None
    if data is not None and not isinstance(data, dict):
        raise SettingsError(path, ["must be a YAML mapping (key: value lines)"])
    return parse_settings(data, path)

"""One BGP session's full configuration, and the one declaration of every per-session setting.

Why one declaration: a setting used to be written three times — the settings file's model, the
speaker's session config and the FSM's config — with defaults that drifted apart (connect retry
5 / 5.0 / 120.0). Now each per-session value is one field of ``SessionConfig``. A field the
settings file may set carries a ``Setting`` in its metadata: its YAML key, the YAML type, bounds,
an extra check, and how a change reaches a running session (``Apply``). Everything else derives
from these fields:

- the settings file's ``defaults`` and ``peers`` models (``bgpd.plan.settings``), the field's
  default being the documented default;
- which changes reset a session, which reconfigure it in place and which only change the routes it
  carries (``bgpd.plan.diff``);
- the per-session settings ``bgpd plan`` prints;
- the FSM's configuration: ``FsmConfig`` has no defaults of its own for these; the speaker fills
  every one from here.

**Adding a setting** is one field here, for example::

    max_widgets: int = setting(8, key="maxWidgets", apply=Apply.CONNECTION, ge=1, le=64)

then its use where it acts (the speaker, or the FSM through ``fsm_config``), its row in the
operator guide's settings reference (tests/test_docs.py fails until it is there) and a test of its
effect. ``apply`` is the one decision to make: ``Apply.OPEN`` if the peer sees the value in our OPEN
(changing it needs a new session), ``Apply.CONNECTION`` if it only shapes our TCP connection or our
own retry pacing (applied without a flap), ``Apply.ROUTES`` if it only changes what the session
announces. A field that is not (yet) a setting still says how a change applies, with ``applies``;
one that says nothing counts as ``Apply.OPEN``, the safe default.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from bgpd.plan.secret import Secret, password_from_file, password_from_text
from bgpd.wire.constants import BGP_PORT, IPV4_UNICAST, IPV6_UNICAST, Family

__all__ = [
    "DELAY_OPEN_MAX",
    "IDLE_HOLD_MAX",
    "MAX_PREFIXES",
    "SEND_HOLD_MINIMUM",
    "Apply",
    "DeclaredSetting",
    "NextHopPolicy",
    "SessionConfig",
    "Setting",
    "applies",
    "apply_of",
    "check_hold_time",
    "check_keepalive",
    "check_send_hold",
    "declared_settings",
    "setting",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SEND_HOLD_MINIMUM: Final = 480.0  # RFC 9687 "Implementation Considerations": max(8 min, 2 × hold)
# RFC 4271 §8.1.1 gives no range for these; the caps keep a typo (minutes for seconds) from parking
# a session: DelayOpen at most the suggested OpenSent hold time (4 minutes), the first IdleHoldTime
# at most the cap its doubling stops at (IDLE_HOLD_MAX, the §8.1.1 example of 120 s).
DELAY_OPEN_MAX: Final = 240
IDLE_HOLD_MAX: Final = 120
SEND_HOLD_MAX: Final = 2 * 65535  # twice the largest hold time: the RFC 9687 default's own ceiling
# Max-prefix (RFC 4486 §4) per family; why 20 000: docs/operator-guide.md, "Max-prefix".
MAX_PREFIXES: Final = 20_000
HOLD_DOWN_MAX: Final = 86_400  # a day: longer is an operator's reset, maxPrefixesRestart 0


class Apply(enum.Enum):
    """How a changed value reaches a running session."""

    OPEN = "reset"  # the peer sees it in our OPEN, or it identifies the session: Cease 6/6, new OPEN
    CONNECTION = "reconfigure"  # our TCP connection or our own retry pacing: swapped in, no flap
    ROUTES = "routes"  # only what the session announces: the route diff sends the difference


class NextHopPolicy(enum.StrEnum):
    """What a session does with a node it may not announce with the node's own next hop: the node
    or the peer is off the session's segment (RFC 4271 §5.1.3)."""

    SKIP = "skip"  # do not announce it on this session (routers would drop or invalidate it)
    SELF = "self"  # announce it with the session's floating IP as next hop (next-hop-self)
    NODE = "node"  # announce the node's own address anyway (multihop fabrics that resolve it)


@dataclass(frozen=True, slots=True)
class Setting:
    """How the settings file sets one ``SessionConfig`` field (see the module docstring)."""

    key: str  # the YAML key under ``defaults`` and ``peers``
    apply: Apply
    kind: Any = None  # the YAML type when it differs from the field's (whole seconds for a float)
    ge: int | None = None
    le: int | None = None
    check: Callable[[Any], Any] | None = None  # raises ValueError in the operator's words
    follows: str | None = None  # a peer override of that field re-derives this one (its default)


_SETTING: Final = "bgpd.setting"
_APPLY: Final = "bgpd.apply"
_IDENTITY: Final = {_APPLY: Apply.OPEN}  # what names the session: a new value is a new session


def setting(
    default: Any,
    *,
    key: str,
    apply: Apply,
    kind: Any = None,
    ge: int | None = None,
    le: int | None = None,
    check: Callable[[Any], Any] | None = None,
    follows: str | None = None,
) -> Any:
    """A ``SessionConfig`` field the settings file sets (a dataclass field with its default)."""
    spec = Setting(key, apply, kind, ge, le, check, follows)
    return field(default=default, metadata={_SETTING: spec, _APPLY: apply})


def applies(apply: Apply, default: Any = dataclasses.MISSING) -> Any:
    """A ``SessionConfig`` field the settings file does not set; ``apply`` still classifies it."""
    return field(default=default, metadata={_APPLY: apply})


def check_hold_time(value: int) -> int:
    if value != 0 and not 3 <= value <= 65535:  # RFC 4271 §4.2: 0 or at least three seconds
        raise ValueError("must be 0 (no keepalives) or between 3 and 65535 seconds")
    return value


def check_send_hold(hold_time: int, send_hold_time: float | None) -> str | None:
    """Why ``send_hold_time`` cannot go with ``hold_time``: RFC 9687 §4 wants the SendHoldTime
    above the HoldTime (a peer gets longer to read than to stay silent); 0 turns it off."""
    if send_hold_time is None or send_hold_time == 0 or send_hold_time > hold_time:
        return None
    return f"must be 0 (off) or more than holdTime ({hold_time}) (RFC 9687)"


def check_keepalive(hold_time: int, keepalive_time: float | None) -> str | None:
    """Why ``keepalive_time`` cannot go with ``hold_time`` (RFC 4271 §4.4, §10), or None."""
    if keepalive_time is None:
        return None  # a third of the negotiated hold time
    if hold_time == 0 and keepalive_time != 0:
        return "must be 0 when holdTime is 0"
    if hold_time and not 1 <= keepalive_time < hold_time:
        return f"must be at least 1 and below holdTime ({hold_time})"
    return None


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One BGP session as the speaker runs it. ``router_id`` is our BGP Identifier (RFC 6286: any
    non-zero 32 bits). The fields after ``families`` are the per-session settings."""

    name: str = field(metadata=_IDENTITY)
    local_ip: IPAddress = field(metadata=_IDENTITY)
    peer_ip: IPAddress = field(metadata=_IDENTITY)
    local_asn: int = field(metadata=_IDENTITY)
    peer_asn: int = field(metadata=_IDENTITY)
    router_id: ipaddress.IPv4Address = field(metadata=_IDENTITY)
    families: tuple[Family, ...] = applies(Apply.OPEN, (IPV4_UNICAST, IPV6_UNICAST))
    hold_time: int = setting(90, key="holdTime", apply=Apply.OPEN, check=check_hold_time)
    # None: a third of the negotiated hold time (RFC 4271 §10)
    keepalive_time: int | None = setting(
        None, key="keepaliveTime", apply=Apply.OPEN, ge=0, le=21845, follows="hold_time"
    )
    # the wait between connection attempts, also after a failed one (RFC 4271 §8.1.1)
    connect_retry_time: float = setting(
        5, key="connectRetryTime", apply=Apply.CONNECTION, kind=int, ge=1, le=3600
    )
    # RFC 4271 §8.1.1 DelayOpen: wait this long for the peer's OPEN before sending ours; 0: off
    delay_open_time: float = setting(
        0, key="delayOpenTime", apply=Apply.CONNECTION, kind=int, ge=0, le=DELAY_OPEN_MAX
    )
    # the first wait before restarting after a session flap (RFC 4271 §8.1.1) ...
    idle_hold_time: float = setting(
        5, key="idleHoldTime", apply=Apply.CONNECTION, kind=int, ge=1, le=IDLE_HOLD_MAX
    )
    idle_hold_max: float = applies(Apply.CONNECTION, float(IDLE_HOLD_MAX))  # ... doubled up to this ...
    # ... per consecutive flap when DampPeerOscillations is on (else always the first)
    damp_peer_oscillations: bool = setting(True, key="dampPeerOscillations", apply=Apply.CONNECTION)
    # wait for the peer to connect (RFC 4271 §8.1.1 PassiveTcpEstablishment)
    passive: bool = setting(False, key="passive", apply=Apply.CONNECTION)
    port: int = setting(BGP_PORT, key="port", apply=Apply.CONNECTION, ge=1, le=65535)
    ttl: int = setting(1, key="multihop", apply=Apply.CONNECTION, ge=1, le=255)  # 1: directly connected
    freebind: bool = setting(False, key="freebind", apply=Apply.CONNECTION)
    off_segment_next_hop: NextHopPolicy = setting(
        NextHopPolicy.SKIP, key="offSegmentNextHop", apply=Apply.ROUTES
    )
    # RFC 9687 SendHoldTime; None: max(8 minutes, 2 × the negotiated hold time); 0: off
    send_hold_time: float | None = setting(
        None,
        key="sendHoldTime",
        apply=Apply.CONNECTION,
        kind=int,
        ge=0,
        le=SEND_HOLD_MAX,
        follows="hold_time",
    )
    extended_next_hop: bool = applies(Apply.OPEN, False)  # offer RFC 8950 (IPv6 next hops, IPv4 routes)
    # RFC 4486 §4: more prefixes of one family than this stop the session (Cease 6/1); 0: no limit
    max_prefixes: int = setting(MAX_PREFIXES, key="maxPrefixes", apply=Apply.CONNECTION, ge=0, le=0xFFFFFFFF)
    # ... a warning is logged (once) from this percentage of the limit ...
    max_prefixes_warning: int = setting(75, key="maxPrefixesWarning", apply=Apply.CONNECTION, ge=1, le=100)
    # ... and the session restarts this many seconds after the limit stopped it; 0: on bgpctl reset
    max_prefixes_restart: float = setting(
        300, key="maxPrefixesRestart", apply=Apply.CONNECTION, kind=int, ge=0, le=HOLD_DOWN_MAX
    )
    # GTSM (RFC 5082): send TTL 255, accept only 256 - ttl and up. A new connection applies it: GTSM
    # guards the handshake, and must be on at both ends at once (Apply.OPEN: Cease 6/6, reconnect).
    ttl_security: bool = setting(False, key="ttlSecurity", apply=Apply.OPEN)
    # TCP-MD5 (RFC 2385) key, inline or from a file read at every load; one of the two. A TCP
    # connection keeps its key from SYN to FIN, so a new key needs a new connection (Apply.OPEN).
    password: Secret | None = setting(
        None, key="password", apply=Apply.OPEN, kind=Any, check=password_from_text, follows="password_file"
    )
    password_file: Secret | None = setting(
        None, key="passwordFile", apply=Apply.OPEN, kind=Any, check=password_from_file, follows="password"
    )

    def __post_init__(self) -> None:
        if self.local_ip.version != self.peer_ip.version:
            raise ValueError(f"{self.name}: local {self.local_ip} and peer {self.peer_ip} differ in family")
        if not 1 <= self.ttl <= 255:
            raise ValueError(f"{self.name}: TTL {self.ttl} outside 1..255")
        if self.hold_time != 0 and self.hold_time < 3:
            raise ValueError(f"{self.name}: hold time must be 0 or at least 3 (RFC 4271 §4.2)")
        problem = check_keepalive(self.hold_time, self.keepalive_time)
        if problem is not None:
            raise ValueError(f"{self.name}: keepalive time {problem}")
        if self.delay_open_time < 0:
            raise ValueError(f"{self.name}: delay open time must be 0 (off) or positive")
        if not 0 < self.idle_hold_time <= self.idle_hold_max:
            raise ValueError(
                f"{self.name}: idle hold time must be positive and at most {self.idle_hold_max:g}"
            )

    @property
    def ibgp(self) -> bool:
        return self.local_asn == self.peer_asn

    @property
    def md5_key(self) -> Secret | None:
        """The TCP-MD5 key, from ``password`` or ``passwordFile`` (the settings allow only one)."""
        return self.password if self.password is not None else self.password_file

    def send_hold_for(self, negotiated_hold: int) -> float:
        """The SendHoldTime for a session with ``negotiated_hold``: 0 (off) when the hold time is 0
        or it is disabled, else as configured or the RFC 9687 default (Implementation Considerations)."""
        if negotiated_hold == 0 or self.send_hold_time == 0:
            return 0.0
        if self.send_hold_time is not None:
            return self.send_hold_time
        return max(SEND_HOLD_MINIMUM, 2.0 * negotiated_hold)


@dataclass(frozen=True, slots=True)
class DeclaredSetting:
    """One row of the settings table, read off a ``SessionConfig`` field."""

    name: str  # the SessionConfig field
    setting: Setting
    kind: Any  # the type a YAML value must have
    default: Any

    @property
    def key(self) -> str:
        return self.setting.key


def declared_settings() -> tuple[DeclaredSetting, ...]:
    """Every per-session setting, in ``SessionConfig`` field order."""
    return _DECLARED


def apply_of(name: str) -> Apply:
    """How a change of the ``SessionConfig`` field ``name`` applies; undeclared (or unknown): OPEN."""
    return _APPLIES.get(name, Apply.OPEN)


def _declare() -> tuple[tuple[DeclaredSetting, ...], dict[str, Apply]]:
    hints = typing.get_type_hints(SessionConfig)
    rows: list[DeclaredSetting] = []
    classes: dict[str, Apply] = {}
    for item in dataclasses.fields(SessionConfig):
        if _APPLY in item.metadata:
            classes[item.name] = item.metadata[_APPLY]
        spec = item.metadata.get(_SETTING)
        if isinstance(spec, Setting):
            kind = spec.kind if spec.kind is not None else hints[item.name]
            if spec.kind is not None and type(None) in typing.get_args(hints[item.name]):
                kind = kind | None
            rows.append(DeclaredSetting(item.name, spec, kind, item.default))
    return tuple(rows), classes


_DECLARED, _APPLIES = _declare()

"""The daemon settings file: what the vendor manifests have no field for.

Per-peer settings (timers, passive mode, TCP port, TTL/multihop, IP_FREEBIND, the off-segment
next-hop policy) under ``defaults`` for every peer and ``peers`` per peer IP; how long a missing
node's pod CIDRs stay reserved (``allocation``); the reload guard against mass removals
(``removals``); logging; the metrics listener; and (for hosts without address watching) the
floating IPs to treat as local, each optionally with its segment's prefix length. Every key is
optional; unknown keys are errors, so a typo cannot silently fall back to a default. Reference:
docs/operator-guide.md, "Settings reference".

Daemon-level sections (``log``, ``metrics``, ``allocation``, ``removals``) are plain models here, one
class each: a new one is a class, a field of ``Settings``, and its rows in the reference.

The per-peer models are not written here: they are generated from the settings declared on
``SessionConfig`` (``bgpd.plan.session_config``), so a setting, its default and its bounds exist
once. The file goes through the same loader and error path as the cluster manifests
(``bgpd.manifests.documents``): every error names the file, the line, the field path and the reason,
with a "did you mean" for a misspelt key.
"""

from __future__ import annotations

import ipaddress
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    create_model,
    field_validator,
)

from bgpd.logs import LEVELS, LogFormat
from bgpd.manifests import Diagnostic, InputError, Severity
from bgpd.manifests.documents import at, model_diagnostics, read_text, single_document
from bgpd.manifests.yamldocs import Document, PathPart
from bgpd.plan.secret import Secret
from bgpd.plan.session_config import DeclaredSetting, check_keepalive, check_send_hold, declared_settings

__all__ = [
    "AllocationSettings",
    "LocalAddress",
    "LogSettings",
    "MetricsSettings",
    "PeerFields",
    "PeerOverrides",
    "PeerSettings",
    "RemovalSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_settings",
    "settings_warnings",
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
    """A floating IP this host holds and, when known, its segment (its interface prefix).

    In the settings' ``localAddresses`` an entry written ``a/len`` carries its prefix, for hosts
    where the covering host prefix is wrong for the floating IP (on loopback every 127.x address is
    covered by ``lo``'s 127.0.0.0/8). None: the covering host prefix decides, as for a plain entry;
    the plan treats a segment it still does not know as unknown."""

    address: IPAddress
    prefix: Network | None = None

    @classmethod
    def parse(cls, text: str) -> LocalAddress:
        """``10.0.1.100`` or ``10.0.1.100/24``; ValueError in the operator's words."""
        address_text, slash, length = text.partition("/")
        address = _ip(address_text)
        if not slash:
            return cls(address)
        bits = address.max_prefixlen
        if not (length.isascii() and length.isdigit()) or int(length) > bits:
            raise ValueError(f"{text!r}: the prefix length must be 0-{bits} for IPv{address.version}")
        return cls(address, ipaddress.ip_network(f"{address}/{int(length)}", strict=False))


def _local_address(value: object) -> LocalAddress:
    if isinstance(value, LocalAddress):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    return LocalAddress.parse(value)


LocalAddressField = Annotated[LocalAddress, PlainValidator(_local_address)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class PeerFields(_Strict):
    """What ``PeerSettings`` and ``PeerOverrides`` share; their fields are the declared settings."""

    def given(self) -> dict[str, Any]:
        """The values the file set (by ``SessionConfig`` field name)."""
        return {
            name: value for name, value in self.model_dump(exclude_unset=True).items() if value is not None
        }


def _yaml_type(row: DeclaredSetting, optional: bool) -> Any:
    """The declared type with its bounds and check, for pydantic; ``| None`` when it may be left out."""
    spec = row.setting
    kind = row.kind
    base = kind
    nullable = type(None) in typing.get_args(kind)
    if nullable:
        base = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    constraints: list[Any] = [Field(ge=spec.ge, le=spec.le)]
    if spec.check is not None:
        constraints.append(AfterValidator(spec.check))
    annotated: Any = Annotated[(base, *constraints)]
    return annotated | None if (optional or nullable) else annotated


def _peer_model(name: str, doc: str, optional: bool) -> type[PeerFields]:
    fields: dict[str, Any] = {
        row.name: (
            _yaml_type(row, optional),
            Field(default=None if optional else row.default, alias=row.key),
        )
        for row in declared_settings()
    }
    model: type[PeerFields] = create_model(name, __base__=PeerFields, __doc__=doc, **fields)
    return model


if TYPE_CHECKING:  # the generated classes, as the type checker sees them
    PeerSettings = PeerFields
    PeerOverrides = PeerFields
else:
    PeerSettings = _peer_model(
        "PeerSettings", "Settings for every peer unless ``peers`` says otherwise.", False
    )
    PeerOverrides = _peer_model(
        "PeerOverrides", "Per-peer settings; anything left out comes from ``defaults``.", True
    )


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


class MetricsSettings(_Strict):
    """The Prometheus/OpenMetrics listener (``bgpd.daemon.metrics_http``): off unless enabled, and
    then on one address, loopback unless set, so metrics are never exposed by accident."""

    enabled: bool = False
    address: IPField = ipaddress.IPv4Address("127.0.0.1")
    port: int = Field(default=9179, ge=1, le=65535)


class Settings(_Strict):
    """The whole settings file. Immutable; ``session_values`` gives one peer's settings."""

    defaults: PeerSettings = PeerSettings()
    peers: dict[IPField, PeerOverrides] = {}
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    allocation: AllocationSettings = AllocationSettings()
    removals: RemovalSettings = RemovalSettings()
    local_addresses: tuple[LocalAddressField, ...] | None = Field(default=None, alias="localAddresses")

    @field_validator("local_addresses")
    @classmethod
    def _unique(cls, value: tuple[LocalAddress, ...] | None) -> tuple[LocalAddress, ...] | None:
        if value is not None and len({entry.address for entry in value}) != len(value):
            raise ValueError("lists an address twice")
        return value

    def session_values(self, peer_ip: str | IPAddress) -> dict[str, Any]:
        """``defaults`` merged with the overrides for ``peer_ip``: ``SessionConfig`` field → value."""
        defaults = self.defaults.model_dump()
        override = self.peers.get(ipaddress.ip_address(peer_ip))
        return defaults if override is None else _merged(defaults, override)


def _merged(defaults: dict[str, Any], override: PeerFields) -> dict[str, Any]:
    """A setting that ``follows`` another (keepaliveTime follows holdTime) falls back to its own
    default when the override sets the other but not it: a peer's new hold time re-derives its
    keepalive rather than inheriting one that may no longer fit."""
    given = override.given()
    values = {**defaults, **given}
    for row in declared_settings():
        if row.setting.follows in given and row.name not in given:
            values[row.name] = row.default
    return values


class SettingsError(InputError):
    """The settings file is unusable; ``diagnostics`` has every problem, each naming its field."""


def _one_password(values: Mapping[str, Any]) -> str | None:
    both = values["password"] is not None and values["password_file"] is not None
    return "set password or passwordFile, not both" if both else None


# (first, second, check of the merged values): a problem goes to ``second`` where that is set
_PAIR_RULES: Final[tuple[tuple[str, str, Callable[[Mapping[str, Any]], str | None]], ...]] = (
    ("hold_time", "keepalive_time", lambda v: check_keepalive(v["hold_time"], v["keepalive_time"])),
    ("hold_time", "send_hold_time", lambda v: check_send_hold(v["hold_time"], v["send_hold_time"])),
    ("password", "password_file", _one_password),
)


def _rule_errors(settings: Settings, document: Document | None) -> list[Diagnostic]:
    """The rules between settings (the keepalive and the send hold time must fit the hold time, one
    password at most), for ``defaults`` and for every peer as merged, each at the key to change."""
    keys = {row.name: row.key for row in declared_settings()}
    defaults = settings.defaults.model_dump()
    scopes: list[tuple[tuple[PathPart, ...], Mapping[str, Any], dict[str, Any]]] = [
        (("defaults",), settings.defaults.given(), defaults)
    ]
    for peer, override in settings.peers.items():
        scopes.append((("peers", str(peer)), override.given(), _merged(defaults, override)))
    out: list[Diagnostic] = []
    for where, given, values in scopes:
        for first, second, check in _PAIR_RULES:
            problem = check(values)
            if problem is None or not {first, second} & set(given):
                continue  # a peer that sets neither inherits the problem: the defaults' error says it
            if second in given:
                out.append(at(document, (*where, keys[second]), problem))
            else:
                out.append(at(document, (*where, keys[first]), f"{keys[second]} {problem}"))
    return out


def settings_warnings(settings: Settings) -> list[str]:
    """What works but should not stay so (a password file every user can read), one line each,
    naming the key: for the daemon's log and ``bgpd check``."""
    scopes: list[tuple[str, PeerFields]] = [("defaults", settings.defaults)]
    scopes += [(f'peers["{peer}"]', override) for peer, override in settings.peers.items()]
    keys = {row.name: row.key for row in declared_settings()}
    out = []
    for where, fields in scopes:
        for name, value in fields.given().items():
            if isinstance(value, Secret) and value.warning is not None:
                out.append(f"{where}.{keys[name]}: {value.warning}")
    return out


def _validate(data: object, document: Document | None, source: str) -> Settings:
    if data is not None and not isinstance(data, dict):
        line = document.line if document is not None else None
        problem = Diagnostic(Severity.ERROR, "must be a YAML mapping (key: value lines)", line=line)
        raise SettingsError(source, (problem,))
    try:
        settings = Settings.model_validate(data or {})
    except ValidationError as error:
        found = model_diagnostics(error, Settings, document)
        raise SettingsError(source, tuple(sorted(found, key=lambda d: d.line or 0))) from None
    problems = _rule_errors(settings, document)
    if problems:
        raise SettingsError(source, tuple(problems))
    return settings


def parse_settings(data: Mapping[str, Any] | None, source: str = "settings") -> Settings:
    """Validate already-loaded data; every problem is reported, each naming its field."""
    return _validate(data, None, source)


def load_settings(path: Path | None) -> Settings:
    """The settings in ``path``; no path means all defaults, and so does an empty file."""
    if path is None:
        return Settings()
    source = str(path)
    text, unreadable = read_text(path)
    if text is None:
        raise SettingsError(source, (unreadable,) if unreadable is not None else ())
    document, problems = single_document(text, "the settings file")
    if problems:
        raise SettingsError(source, tuple(problems))
    return _validate(document.data if document is not None else None, document, source)

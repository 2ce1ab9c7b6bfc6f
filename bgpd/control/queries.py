"""The arguments that narrow a listing: which session, which prefixes, how many.

Defined once for both ends: ``bgpctl`` builds a ``RouteQuery`` and sends ``to_args()``, the daemon
reads it back with ``from_args`` and filters before it answers, so a narrow question never costs a
full table on the wire (and a daemon that answers in bounded slices can keep the same request).
Semantics (docs/control-protocol.md, "Filters"):

- ``session``: only routes of that session (received) or carried by it (advertised);
- ``prefix``: the routes *inside* the given prefix — the prefix itself and every more-specific
  (``10.0.0.0/8`` finds ``10.0.0.0/8`` and ``10.1.2.0/24``, never ``0.0.0.0/0``); a bare address
  is its host prefix. Host bits set (``10.0.0.1/8``) are refused, not silently cleared;
- ``limit``: at most this many routes, the first in the daemon's order.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from bgpd.control.protocol import ControlError, ErrorCode

__all__ = ["ROUTE_QUERY_ARGS", "Prefix", "RouteQuery", "only_known", "optional_name", "parse_prefix"]

Prefix: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
ROUTE_QUERY_ARGS: Final = ("session", "prefix", "limit")


def parse_prefix(text: str) -> Prefix:
    """``10.0.0.0/8``, ``fd00::/64`` or a bare address; raises ``ValueError`` with a sentence."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a prefix (e.g. 10.0.0.0/8, fd00::/64) or an address") from None
    raise ValueError(f"{text!r} has host bits set; the prefix is {loose}")


def _invalid(message: str) -> ControlError:
    return ControlError(ErrorCode.INVALID_ARGUMENT, message)


def only_known(args: Mapping[str, Any], known: tuple[str, ...]) -> None:
    """Refuse arguments a command does not take: a misspelt filter must not quietly return the
    whole table."""
    unknown = sorted(set(args) - set(known))
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise _invalid(f"unknown argument(s) {', '.join(unknown)} (known: {listed})")


def optional_name(args: Mapping[str, Any], key: str) -> str | None:
    """An optional non-empty string argument (absent or ``null``: ``None``)."""
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(f'argument "{key}" must be a non-empty string')
    return value


@dataclass(frozen=True, slots=True)
class RouteQuery:
    """Which routes a listing asks for; every field ``None`` means all of them."""

    session: str | None = None
    prefix: Prefix | None = None
    limit: int | None = None

    def to_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.session is not None:
            args["session"] = self.session
        if self.prefix is not None:
            args["prefix"] = str(self.prefix)
        if self.limit is not None:
            args["limit"] = self.limit
        return args

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> RouteQuery:
        """Read a request's arguments; anything unknown or malformed is ``invalid_argument``."""
        only_known(args, ROUTE_QUERY_ARGS)
        prefix = optional_name(args, "prefix")
        limit = args.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise _invalid('argument "limit" must be a positive integer')
        try:
            parsed = None if prefix is None else parse_prefix(prefix)
        except ValueError as err:
            raise _invalid(f'argument "prefix": {err}') from None
        return cls(session=optional_name(args, "session"), prefix=parsed, limit=limit)

    def wants_prefix(self, text: str) -> bool:
        """Whether a route for ``text`` (as the daemon prints prefixes) lies inside ``prefix``."""
        if self.prefix is None:
            return True
        try:
            route = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return False
        return route.version == self.prefix.version and route.subnet_of(self.prefix)  # type: ignore[arg-type]

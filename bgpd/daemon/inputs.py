"""The daemon's inputs: the cluster file, the settings file, and which addresses this host holds
with their interface prefixes.

Both files are read only when asked — at start, on SIGHUP (``systemctl reload``) and on
``bgpctl reload`` — never because they changed: an editor or a tool caught half-way through a
write can leave a file that happens to be valid (cut after the NodePool documents, it renumbers
nodes), and nothing but the operator knows when the file is complete. Both go through the
manifests' loader and error path, so every error names file, line and field. Loading the settings
also reads each ``passwordFile`` (so a rotated password is picked up by a reload), and a password
file every user can read is logged as a warning each time (``password_file_readable``).

Addresses come from netlink (``bgpd.daemon.host.addrwatch``) or, when the settings list
``localAddresses``, from that fixed list: an entry written ``a/len`` has that prefix as its
segment; a plain one takes the prefix of the host address that covers it, found once, so segments
work without watching. ``held_now`` gives ``bgpd plan`` and ``bgpd check`` the same answer ``bgpd
run`` starts from.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Protocol

import structlog

from bgpd.daemon.host.addrwatch import AddressEvent, AddressWatcher, HostAddress, dump_addresses
from bgpd.manifests import InputError, Loaded, ManifestReader, load_manifests
from bgpd.plan.segments import Network
from bgpd.plan.settings import LocalAddress, Settings, load_settings, settings_warnings

__all__ = [
    "AddressSource",
    "ConfigFile",
    "ConfigRejectedError",
    "StaticAddresses",
    "WatchedAddresses",
    "covering_prefix",
    "held_now",
    "read_settings",
]


class ConfigRejectedError(Exception):
    """A file bgpd will not use; ``errors`` has one line per problem, each naming file and place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class ConfigFile:
    """The cluster file; ``load`` reads and validates it, each time at the cost of what changed
    since the last time (``ManifestReader``: the documents whose text is the same are not parsed or
    validated again)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader = ManifestReader()

    def load(self) -> Loaded:
        """Read and validate; raises ``ConfigRejectedError`` with every error."""
        try:
            return load_manifests(self.path, self._reader)
        except InputError as err:
            raise ConfigRejectedError(err.lines()) from None


def read_settings(path: Path | None) -> Settings:
    """The settings file, or ``ConfigRejectedError`` naming every wrong field."""
    try:
        settings = load_settings(path)
    except InputError as err:
        raise ConfigRejectedError(err.lines()) from None
    for warning in settings_warnings(settings):
        structlog.get_logger().warning("password_file_readable", settings=str(path), warning=warning)
    return settings


def covering_prefix(address: str, host: Collection[HostAddress]) -> Network | None:
    """The interface prefix of ``address`` on this host: its own entry, else the narrowest host
    prefix containing it (all of 127.0.0.0/8 is local through ``lo``'s 127.0.0.1/8); None if none."""
    ip = ipaddress.ip_address(address)
    exact = [h for h in host if h.address == ip]
    if exact:
        return max((h.interface.network for h in exact), key=lambda n: n.prefixlen)
    covering = [h.interface.network for h in host if ip in h.interface.network]
    return max(covering, key=lambda n: n.prefixlen) if covering else None


def _host_held(host: Collection[HostAddress]) -> tuple[LocalAddress, ...]:
    """Every host address with its interface prefix (the widest if an address is listed twice)."""
    out: dict[str, LocalAddress] = {}
    for entry in sorted(host, key=lambda h: -h.prefixlen):
        out[str(entry.address)] = LocalAddress(entry.address, entry.interface.network)
    return tuple(out.values())


def _static_held(
    entries: Collection[LocalAddress], host: Collection[HostAddress]
) -> tuple[LocalAddress, ...]:
    return tuple(
        e if e.prefix is not None else LocalAddress(e.address, covering_prefix(str(e.address), host))
        for e in entries
    )


def held_now(entries: Collection[LocalAddress] | None) -> tuple[LocalAddress, ...]:
    """The addresses ``bgpd run`` would start with: the given ``localAddresses`` entries (plain
    ones with their covering host prefix) or, without any, every address on this host."""
    try:
        host = dump_addresses()
    except OSError:
        host = frozenset()  # no netlink here: segments of plain entries stay unknown
    return _host_held(host) if entries is None else _static_held(entries, host)


class AddressSource(Protocol):
    def held(self) -> tuple[LocalAddress, ...]:
        """Every address this host holds now, with its interface prefix (None when unknown)."""
        ...

    def changes(self) -> AsyncIterator[AddressEvent] | None:
        """The stream of changes, or None when the set never changes."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class WatchedAddresses:
    """The host's addresses as netlink reports them, following every change."""

    def __init__(self) -> None:
        self._watcher = AddressWatcher()

    def held(self) -> tuple[LocalAddress, ...]:
        return _host_held(self._watcher.current)

    def changes(self) -> AsyncIterator[AddressEvent] | None:
        return self._watcher.changes()

    async def start(self) -> None:
        await self._watcher.start()

    async def close(self) -> None:
        await self._watcher.close()


class StaticAddresses:
    """``localAddresses`` from the settings: held by decree. An entry's own prefix is its segment;
    plain entries take theirs from one address dump."""

    def __init__(self, entries: Collection[LocalAddress]) -> None:
        self._entries = tuple(entries)
        self._held = self._entries

    def held(self) -> tuple[LocalAddress, ...]:
        return self._held

    def changes(self) -> AsyncIterator[AddressEvent] | None:
        return None

    async def start(self) -> None:
        self._held = await asyncio.get_running_loop().run_in_executor(None, held_now, self._entries)

    async def close(self) -> None:
        return None

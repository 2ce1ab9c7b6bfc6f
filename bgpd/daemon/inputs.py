"""The daemon's inputs: the cluster file (read, hashed, validated), the settings file, and which
floating IPs this host holds with their interface prefixes.

The file is hashed from the very bytes that are validated, so "has the content changed?" compares
like with like; the once-a-second check first looks at ``stat`` (cheap) and only reads the file
when size, mtime or inode moved. Addresses come from netlink (``bgpd.daemon.host.addrwatch``) or, when the
settings list ``localAddresses``, from that fixed list: an entry written ``a/len`` has that prefix as
its segment; a plain one takes the prefix of the host address that covers it, found once, so
segments work without watching.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bgpd.daemon.host.addrwatch import AddressEvent, AddressWatcher, HostAddress, dump_addresses
from bgpd.manifests import Loaded, ManifestError, Severity, parse_manifests
from bgpd.plan.segments import Network
from bgpd.plan.settings import LocalAddress, Settings, SettingsError, load_settings

__all__ = [
    "AddressSource",
    "ConfigFile",
    "ConfigRejectedError",
    "StaticAddresses",
    "WatchedAddresses",
    "covering_prefix",
    "read_settings",
]


class ConfigRejectedError(Exception):
    """A file bgpd will not use; ``errors`` has one line per problem, each naming file and place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class _Stamp:
    size: int
    mtime_ns: int
    inode: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _Stamp(st.st_size, st.st_mtime_ns, st.st_ino)


class ConfigFile:
    """The cluster file: ``load`` validates it; ``changed`` tells whether its content moved on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: _Stamp | None = None
        self._digest: str | None = None

    @property
    def digest(self) -> str | None:
        """SHA-256 of the content last read (valid or not)."""
        return self._digest

    def load(self) -> Loaded:
        """Read and validate; raises ``ConfigRejectedError`` with every error."""
        self._stamp = _stamp(self.path)
        try:
            raw = self.path.read_bytes()
        except OSError as err:
            self._digest = None
            raise ConfigRejectedError([f"{self.path}: cannot read the file: {err.strerror or err}"]) from None
        self._digest = hashlib.sha256(raw).hexdigest()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ConfigRejectedError([f"{self.path}: not UTF-8 text: {err}"]) from None
        try:
            return parse_manifests(text, str(self.path))
        except ManifestError as err:
            errors = [d.format(err.source) for d in err.diagnostics if d.severity is Severity.ERROR]
            raise ConfigRejectedError(errors or [str(err)]) from None

    def changed(self) -> bool:
        """True when the content differs from what ``load`` last read (stat first, then a hash)."""
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return False
        return digest != self._digest


def read_settings(path: Path | None) -> Settings:
    """The settings file, or ``ConfigRejectedError`` naming every wrong field."""
    try:
        return load_settings(path)
    except SettingsError as err:
        where = str(err.path) if err.path is not None else "settings"
        raise ConfigRejectedError([f"{where}: {e}" for e in err.errors]) from None


def covering_prefix(address: str, host: Collection[HostAddress]) -> Network | None:
    """The interface prefix of ``address`` on this host: its own entry, else the narrowest host
    prefix containing it (all of 127.0.0.0/8 is local through ``lo``'s 127.0.0.1/8); None if none."""
    ip = ipaddress.ip_address(address)
    exact = [h for h in host if h.address == ip]
    if exact:
        return max((h.interface.network for h in exact), key=lambda n: n.prefixlen)
    covering = [h.interface.network for h in host if ip in h.interface.network]
    return max(covering, key=lambda n: n.prefixlen) if covering else None


class AddressSource(Protocol):
    def held(self) -> dict[str, Network | None]:
        """Every address this host holds now (text) → its interface prefix (None when unknown)."""
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

    def held(self) -> dict[str, Network | None]:
        out: dict[str, Network | None] = {}
        for host in sorted(self._watcher.current, key=lambda h: -h.prefixlen):
            out[str(host.address)] = host.interface.network  # the widest prefix wins if listed twice
        return out

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
        self._entries = list(entries)
        self._held: dict[str, Network | None] = {str(e.address): e.prefix for e in self._entries}

    def held(self) -> dict[str, Network | None]:
        return dict(self._held)

    def changes(self) -> AsyncIterator[AddressEvent] | None:
        return None

    async def start(self) -> None:
        try:
            host = await asyncio.get_running_loop().run_in_executor(None, dump_addresses)
        except OSError:
            return  # no netlink here: segments stay unknown and the next-hop policy decides
        self._held = {
            str(e.address): e.prefix if e.prefix is not None else covering_prefix(str(e.address), host)
            for e in self._entries
        }

    async def close(self) -> None:
        return None

"""A secret value (a TCP-MD5 password) that no rendering of bgpd can show, and where it comes from.

Why a type of its own: a session's configuration is printed by ``bgpd plan``, compared and logged
on reloads, and carried in exceptions; a plain ``bytes`` field would leak into every one of those
the first time somebody adds a field to a table. A ``Secret`` renders as where it came from
(``password`` or ``passwordFile /etc/bgpd/tor1.key``), never as its value: ``repr``, ``str`` and
``format`` all give that. Two secrets are equal when their values are (so a changed password is
a changed setting, whatever file it now lives in), and only ``reveal`` hands out the octets, for
the one place that needs them: the ``TCP_MD5SIG`` socket option.

The settings file gives a password inline (``password``) or as a file (``passwordFile``), read when
the settings are loaded, so on every start and reload. A file every user can read still works but
carries a warning (``Secret.warning``) for the daemon to log and ``bgpd check`` to print.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, Final

__all__ = ["TCP_MD5_MAX_KEY", "Secret", "password_from_file", "password_from_text"]

TCP_MD5_MAX_KEY: Final = 80  # TCP_MD5SIG_MAXKEYLEN (linux/tcp.h): the longest key the kernel takes


class Secret:
    """Octets to keep out of every output; ``source`` says where they came from, for display;
    ``warning`` is a finding about how they are kept (a world-readable file), or None.

    Not a dataclass on purpose: ``dataclasses.asdict`` of a configuration holding one would
    otherwise take the value out with it."""

    __slots__ = ("_value", "source", "warning")

    def __init__(self, value: bytes, source: str = "password", warning: str | None = None) -> None:
        self._value = value
        self.source = source
        self.warning = warning

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, name):
            raise AttributeError(f"Secret.{name} cannot be changed")
        object.__setattr__(self, name, value)

    def reveal(self) -> bytes:
        """The octets themselves: only for the socket option that needs them."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<hidden>, from {self.source})"

    def __str__(self) -> str:
        return f"<hidden, from {self.source}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _checked(value: bytes, source: str, warning: str | None = None) -> Secret:
    """A password of a usable length; the error names the length, never the value."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > TCP_MD5_MAX_KEY:
        raise ValueError(f"is {len(value)} octets long; a TCP-MD5 key is at most {TCP_MD5_MAX_KEY}")
    return Secret(value, source, warning)


def password_from_text(value: object) -> Secret:
    """The settings' ``password``: a string (UTF-8 octets)."""
    if not isinstance(value, str):
        raise ValueError("must be a string (quote it if it looks like a number)")  # never echoed
    return _checked(value.encode(), "password")


def password_from_file(value: object) -> Secret:
    """The settings' ``passwordFile``: an absolute path to a file holding the password; one
    trailing newline (``\\n`` or ``\\r\\n``, as editors leave it) is not part of it."""
    if not isinstance(value, str) or not value:
        raise ValueError("must be the path of a file")
    path = Path(value)
    if not path.is_absolute():
        raise ValueError(f"{value!r} is not an absolute path (bgpd runs from /)")
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):  # a FIFO or device could block the loading
            raise ValueError(f"{path} is not a regular file")
        octets = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {(err.strerror or str(err)).lower()}") from None
    octets = octets.removesuffix(b"\n").removesuffix(b"\r")
    warning = None
    if mode & stat.S_IROTH:
        warning = f"{path} is readable by every user (mode {stat.S_IMODE(mode):04o}); chmod o-r it"
    return _checked(octets, f"passwordFile {path}", warning)

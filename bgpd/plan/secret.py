"""A secret value (a TCP-MD5 password) that no rendering of bgpd can show.

Why a type of its own: a session's configuration is printed by ``bgpd plan``, compared and logged
on reloads, and carried in exceptions; a plain ``bytes`` field would leak into every one of those
the first time somebody adds a field to a table. A ``Secret`` renders as where it came from
(``password`` or ``passwordFile /etc/bgpd/tor1.key``), never as its value: ``repr``, ``str`` and
``format`` all give that. Two secrets are equal when their values are (so a changed password is
a changed setting, whatever file it now lives in), and only ``reveal`` hands out the octets, for
the one place that needs them: the ``TCP_MD5SIG`` socket option.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Secret"]


class Secret:
    """Octets to keep out of every output; ``source`` says where they came from, for display.

    Not a dataclass on purpose: ``dataclasses.asdict`` of a configuration holding one would
    otherwise take the value out with it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: bytes, source: str = "password") -> None:
        self._value = value
        self.source = source

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

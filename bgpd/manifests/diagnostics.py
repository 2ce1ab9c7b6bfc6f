"""Findings about a file the operator writes: each one names the line, the field path and the reason.

Errors and warnings are data rather than log lines or exceptions raised one at a time, because an
operator fixing a file wants *all* of its problems in one run, each pointing at a line to edit. Both
user files (the cluster manifests and the daemon settings) report through these types, so a
settings typo reads like a manifest typo.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"  # worth saying once, changes nothing (an ignored field)
    DEBUG = "debug"  # for a verbose run only (a skipped kind)


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """Which document of the file: its kind/name, its 1-based position and its first line.

    ``item`` is set for an object inside a ``kind: List`` document (its index in ``items``).
    """

    index: int
    line: int
    kind: str
    name: str
    item: int | None = None

    def __str__(self) -> str:
        what = f"{self.kind}/{self.name}" if self.name else (self.kind or "document")
        where = f"document {self.index}" + (f" items[{self.item}]" if self.item is not None else "")
        return f"{what} ({where}, line {self.line})"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    message: str
    line: int | None = None  # the line of the field itself when known, else of the document
    column: int | None = None
    document: DocumentRef | None = None
    field: str = ""  # dotted path inside the document, e.g. spec.nodes[2].address

    def format(self, source: str) -> str:
        """One line in the ``FILE:LINE[:COL]: severity: where: field: reason`` shape editors understand."""
        location = source
        if self.line is not None:
            location += f":{self.line}"
            if self.column is not None:
                location += f":{self.column}"
        parts = [location, f": {self.severity.value}:"]
        if self.document is not None:
            parts.append(f" {self.document}:")
        if self.field:
            parts.append(f" {self.field}:")
        parts.append(f" {self.message}")
        return "".join(parts)


class InputError(Exception):
    """A user file cannot be used; ``diagnostics`` holds every error found (and the warnings)."""

    def __init__(self, source: str, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.source = source
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        super().__init__(f"{source}: {len(errors)} error(s)")

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    def lines(self) -> list[str]:
        """Every error as one ``FILE:LINE: error: …`` line."""
        return [d.format(self.source) for d in self.errors] or [str(self)]


class ManifestError(InputError):
    """The cluster file cannot be used."""

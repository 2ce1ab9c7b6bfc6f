"""The cluster configuration file → a validated ``Manifests`` value, or every error it has.

Steps: read the file, blank ``...`` elisions (``yamldocs``), validate each document against its
kind's model (``documents``, ``models``), then the cross-document rules (``rules``). The result is
plain frozen data (``cluster``) that the plan reads without knowing about YAML or pydantic.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bgpd.manifests.cluster import (
    NODE_LABEL,
    POOL_LABEL,
    CidrConfig,
    Manifests,
    Node,
    NodePodCidrs,
    Peer,
    PodRange,
)
from bgpd.manifests.diagnostics import Diagnostic, DocumentRef, InputError, ManifestError, Severity
from bgpd.manifests.documents import (
    Parsed,
    document_ref,
    duplicate_key_errors,
    expand_list,
    parse_document,
    read_text,
)
from bgpd.manifests.rules import RulesMemo, validate
from bgpd.manifests.yamldocs import (
    Document,
    count_documents,
    parse_documents,
    split_documents,
    strip_elisions,
    syntax_error,
    too_deep,
)

__all__ = [
    "NODE_LABEL",
    "POOL_LABEL",
    "CidrConfig",
    "Diagnostic",
    "DocumentRef",
    "InputError",
    "Loaded",
    "ManifestError",
    "ManifestReader",
    "Manifests",
    "Node",
    "NodePodCidrs",
    "Peer",
    "PodRange",
    "Severity",
    "load_manifests",
    "parse_manifests",
]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid file: the cluster, and the warnings/notices worth showing the operator."""

    source: str
    manifests: Manifests
    diagnostics: tuple[Diagnostic, ...]


def load_manifests(path: str | Path, reader: ManifestReader | None = None) -> Loaded:
    """Read and validate the file; raises ManifestError (every error, never just the first).
    ``reader``: one that read the file before, to read again only what changed."""
    source = str(path)
    text, unreadable = read_text(path)
    if text is None:
        raise ManifestError(source, (unreadable,) if unreadable is not None else ())
    return (reader or ManifestReader()).parse(text, source)


def parse_manifests(text: str, source: str = "<string>") -> Loaded:
    """Validate manifests given as text; ``source`` names them in messages."""
    return ManifestReader().parse(text, source)


@dataclass(slots=True)
class _Piece:
    """One piece of the file (``split_documents``), parsed, kept while the file has its text."""

    notes: list[Diagnostic]  # elisions, lines counted from the piece's start
    documents: list[Document]
    positions: list[int]  # each document's position within the piece (empty documents count)
    count: int  # documents in the piece, empty ones included
    checked: dict[int, list[tuple[str, Parsed[Any] | None]]]  # by document: the kind and model of
    # it (or of each object of a List), once its checks (duplicate keys, models) found nothing to say


class ManifestReader:
    """Reads a cluster file again at the cost of what changed in it.

    A file is a few big documents (NodePools) and small ones. The reader cuts the text before each
    document (``split_documents``) and keeps, per piece of text, its parse and each document's
    model: a piece whose text is the same as last time is neither parsed nor validated again, it
    only moves to its new place (lines and position, for messages). The cross-document rules run
    over all documents every time, with per-NodePool facts remembered (``RulesMemo``). A text that
    does not parse piece by piece (a syntax error, nesting too deep) is read whole, so every
    error reads as it would. The result is the same ``Loaded`` as reading from scratch, which is
    what a fresh reader does (``parse_manifests``)."""

    def __init__(self) -> None:
        self._pieces: dict[str, list[_Piece]] = {}
        self._memo = RulesMemo()

    def parse(self, text: str, source: str = "<string>") -> Loaded:
        placed: list[tuple[int, _Piece]] = []
        kept: dict[str, list[_Piece]] = {}
        for offset, piece_text in split_documents(text):
            same = kept.setdefault(piece_text, [])
            earlier = self._pieces.get(piece_text, [])
            piece = earlier[len(same)] if len(same) < len(earlier) else _read_piece(piece_text)
            if piece is None:
                return _parse_whole(text, source)
            same.append(piece)
            placed.append((offset, piece))
        self._pieces = kept  # pieces the file no longer has are forgotten
        diagnostics: list[Diagnostic] = [
            dataclasses.replace(note, line=note.line + offset) if note.line is not None else note
            for offset, piece in placed
            for note in piece.notes
        ]
        parsed: dict[str, list[Parsed[Any]]] = {}
        seen: Counter[str] = Counter()
        base = 0
        for offset, piece in placed:
            for i, document in enumerate(piece.documents):
                document.place.index = base + piece.positions[i]
                document.place.offset = offset
                found = piece.checked.get(i)
                if found is None:
                    said = duplicate_key_errors(document, document_ref(document))
                    found = [parse_document(each, said) for each in expand_list(document, said)]
                    if not said:
                        piece.checked[i] = found
                    diagnostics += said
                for kind, result in found:
                    if kind:
                        seen[kind] += 1
                    if result is not None:
                        parsed.setdefault(kind, []).append(result)
            base += piece.count
        return _validated(source, parsed, seen, diagnostics, self._memo)


def _read_piece(text: str) -> _Piece | None:
    """Parse one piece; None when it does not parse alone (the whole text then says why)."""
    stripped, notes = strip_elisions(text)
    if too_deep(stripped) is not None:
        return None
    try:
        documents, count = count_documents(stripped)
    except yaml.YAMLError:
        return None
    return _Piece(notes, documents, [d.place.index for d in documents], count, {})


def _parse_whole(text: str, source: str) -> Loaded:
    """Read the text in one go: the way errors of a text that does not parse piece by piece are
    told (their lines and wording are those of the whole text)."""
    text, diagnostics = strip_elisions(text)
    deep = too_deep(text)
    if deep is not None:
        raise ManifestError(source, (*diagnostics, deep))
    try:
        documents = parse_documents(text)
    except yaml.YAMLError as error:
        raise ManifestError(source, (*diagnostics, syntax_error(error, text))) from None
    parsed: dict[str, list[Parsed[Any]]] = {}
    seen: Counter[str] = Counter()
    for document in documents:
        diagnostics += duplicate_key_errors(document, document_ref(document))
        for each in expand_list(document, diagnostics):
            kind, result = parse_document(each, diagnostics)
            if kind:
                seen[kind] += 1
            if result is not None:
                parsed.setdefault(kind, []).append(result)
    return _validated(source, parsed, seen, diagnostics, None)


def _validated(
    source: str,
    parsed: dict[str, list[Parsed[Any]]],
    seen: Counter[str],
    diagnostics: list[Diagnostic],
    memo: RulesMemo | None,
) -> Loaded:
    manifests, findings = validate(parsed, seen, memo)
    diagnostics += findings
    ordered = tuple(sorted(diagnostics, key=_order))
    if manifests is None or any(d.severity is Severity.ERROR for d in ordered):
        raise ManifestError(source, ordered)
    return Loaded(source, manifests, ordered)


def _order(diagnostic: Diagnostic) -> tuple[int, int]:
    """File-level findings first, then by line (sort is stable: same-line findings keep their order)."""
    return (0, 0) if diagnostic.line is None else (1, diagnostic.line)

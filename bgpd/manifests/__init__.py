"""The cluster configuration file → a validated ``Manifests`` value, or every error it has.

Steps: read the file, blank ``...`` elisions (``yamldocs``), validate each document against its
kind's model (``documents``, ``models``), then the cross-document rules (``rules``). The result is
plain frozen data (``cluster``) that the plan reads without knowing about YAML or pydantic.
"""

from __future__ import annotations

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
from bgpd.manifests.diagnostics import Diagnostic, DocumentRef, ManifestError, Severity
from bgpd.manifests.documents import Parsed, document_ref, expand_list, format_path, parse_document
from bgpd.manifests.rules import validate
from bgpd.manifests.yamldocs import duplicate_keys, parse_documents, strip_elisions, syntax_error, too_deep

__all__ = [
    "NODE_LABEL",
    "POOL_LABEL",
    "CidrConfig",
    "Diagnostic",
    "DocumentRef",
    "Loaded",
    "ManifestError",
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


def load_manifests(path: str | Path) -> Loaded:
    """Read and validate the file; raises ManifestError (every error, never just the first)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ManifestError(
            source, (Diagnostic(Severity.ERROR, f"cannot read the file: {reason}"),)
        ) from None
    return parse_manifests(text, source)


def parse_manifests(text: str, source: str = "<string>") -> Loaded:
    """Validate manifests given as text; ``source`` names them in messages."""
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
        diagnostics += (
            Diagnostic(
                Severity.ERROR,
                f"duplicate key (first given at line {first})",
                line=line,
                document=document_ref(document),
                field=format_path(path),
            )
            for path, line, first in duplicate_keys(document)
        )
        for each in expand_list(document, diagnostics):
            kind, result = parse_document(each, diagnostics)
            if kind:
                seen[kind] += 1
            if result is not None:
                parsed.setdefault(kind, []).append(result)
    manifests, findings = validate(parsed, seen)
    diagnostics += findings
    ordered = tuple(sorted(diagnostics, key=_order))
    if manifests is None or any(d.severity is Severity.ERROR for d in ordered):
        raise ManifestError(source, ordered)
    return Loaded(source, manifests, ordered)


def _order(diagnostic: Diagnostic) -> tuple[int, int]:
    """File-level findings first, then by line (sort is stable: same-line findings keep their order)."""
    return (0, 0) if diagnostic.line is None else (1, diagnostic.line)

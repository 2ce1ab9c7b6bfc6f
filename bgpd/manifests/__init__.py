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
from bgpd.manifests.diagnostics import Diagnostic, DocumentRef, InputError, ManifestError, Severity
from bgpd.manifests.documents import (
    Parsed,
    document_ref,
    duplicate_key_errors,
    expand_list,
    parse_document,
    read_text,
)
from bgpd.manifests.rules import validate
from bgpd.manifests.yamldocs import parse_documents, strip_elisions, syntax_error, too_deep

__all__ = [
    "NODE_LABEL",
    "POOL_LABEL",
    "CidrConfig",
    "Diagnostic",
    "DocumentRef",
    "InputError",
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
    text, unreadable = read_text(path)
    if text is None:
        raise ManifestError(source, (unreadable,) if unreadable is not None else ())
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
        diagnostics += duplicate_key_errors(document, document_ref(document))
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

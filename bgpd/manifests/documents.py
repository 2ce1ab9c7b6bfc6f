"""Per-document step: pick the model for each document's kind, check its apiVersion, validate it.

pydantic's errors are rewritten into diagnostics that name the document, the field path (as the
YAML spells it) and a reason in the operator's terms, with the field's own line.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bgpd.manifests.diagnostics import Diagnostic, DocumentRef, Severity
from bgpd.manifests.models import KINDS, UNSUPPORTED_HINTS, Model
from bgpd.manifests.yamldocs import Document, PathPart, list_items

LIST_API_VERSION = "v1"

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[M]):
    """A document that passed its kind's model."""

    document: Document
    ref: DocumentRef
    model: M

    def diagnostic(self, severity: Severity, path: tuple[PathPart, ...], message: str) -> Diagnostic:
        return Diagnostic(
            severity, message, line=self.document.line_of(path), document=self.ref, field=format_path(path)
        )


def format_path(path: tuple[PathPart, ...] | tuple[int | str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def document_ref(document: Document) -> DocumentRef:
    data = document.data if isinstance(document.data, dict) else {}
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return DocumentRef(
        document.index,
        document.line,
        kind if isinstance(kind, str) else "",
        name if isinstance(name, str) else "",
        document.item,
    )


def expand_list(document: Document, out: list[Diagnostic]) -> list[Document]:
    """The document itself, or the objects of a ``kind: List`` (as ``kubectl get … -o yaml`` prints
    them), each then read like a document of its own. A List that is not ``apiVersion: v1`` with an
    ``items`` sequence is an error in ``out`` and yields nothing."""
    items = list_items(document)
    if items is None:
        return [document]
    ref = document_ref(document)
    got = document.data.get("apiVersion")
    if got != LIST_API_VERSION:
        out.append(
            _at(document, ref, ("apiVersion",), f"List needs apiVersion {LIST_API_VERSION}, got {got!r}")
        )
        return []
    if not isinstance(document.data.get("items"), list):
        out.append(_at(document, ref, ("items",), "must be a list of objects"))
        return []
    return items


def parse_document(document: Document, out: list[Diagnostic]) -> tuple[str, Parsed[Any] | None]:
    """(kind, parsed model or None). Errors and skip notes go to ``out``; kind is "" when unusable."""
    ref = document_ref(document)
    if not isinstance(document.data, dict):
        kind_of = type(document.data).__name__
        out.append(
            Diagnostic(
                Severity.ERROR,
                f"a manifest must be a mapping, got {kind_of}",
                line=document.line,
                document=ref,
            )
        )
        return "", None
    kind = document.data.get("kind")
    if not isinstance(kind, str) or not kind:
        out.append(_at(document, ref, ("kind",), "required field is missing (every manifest names its kind)"))
        return "", None
    if kind not in KINDS:
        out.append(
            Diagnostic(
                Severity.DEBUG, f"kind {kind} is not read by bgpd; skipped", document.line, document=ref
            )
        )
        return "", None
    api_version, model = KINDS[kind]
    got = document.data.get("apiVersion")
    if got != api_version:
        out.append(_at(document, ref, ("apiVersion",), f"{kind} needs apiVersion {api_version}, got {got!r}"))
        return kind, None
    try:
        parsed = model.model_validate(document.data)
    except ValidationError as error:
        out.extend(_at(document, ref, tuple(e["loc"]), _reason(e, model)) for e in error.errors())
        return kind, None
    return kind, Parsed(document, ref, parsed)


def _at(document: Document, ref: DocumentRef, path: tuple[PathPart, ...], message: str) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR, message, line=document.line_of(path), document=ref, field=format_path(path)
    )


def _reason(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        name = str(loc[-1])
        if name in UNSUPPORTED_HINTS:
            return UNSUPPORTED_HINTS[name]
        known = _known_fields(model, loc[:-1])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else (f"; known fields: {', '.join(known)}" if known else "")
        )
        return f"unknown field (bgpd reads this part strictly){hint}"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    if kind == "string_type" and any(part in {"labels", "matchLabels", "peerSelector"} for part in loc):
        return f'label values are strings: quote it (e.g. "{_yaml_text(error["input"])}")'
    got = error.get("input")
    suffix = f" (got {got!r})" if isinstance(got, str | int | float | bool) or got is None else ""
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}{suffix}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}{suffix}"


# pydantic error types → what the YAML value must be, in the operator's words.
_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _yaml_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _known_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names (as spelled in YAML) of the model found by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in {n, f.alias}), None)
            current = field.annotation if field is not None else None
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X`` (lists are unwrapped by the caller on an index)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation

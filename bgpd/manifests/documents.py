"""Per-document step: pick the model for each document's kind, check its apiVersion, validate it.

pydantic's errors are rewritten into diagnostics that name the document, the field path (as the
YAML spells it) and a reason in the operator's terms, with the field's own line.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bgpd.manifests.diagnostics import Diagnostic, DocumentRef, Severity
from bgpd.manifests.models import KINDS, UNSUPPORTED_HINTS, Model
from bgpd.manifests.yamldocs import (
    Document,
    PathPart,
    duplicate_keys,
    list_items,
    parse_documents,
    syntax_error,
    too_deep,
)

LIST_API_VERSION = "v1"

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[M]):
    """A document that passed its kind's model."""

    document: Document
    model: M

    @property
    def ref(self) -> DocumentRef:
        """Which document, as it sits in the file now (its place moves when the file around it
        changes, see ``yamldocs.Place``)."""
        return document_ref(self.document)

    def diagnostic(self, severity: Severity, path: tuple[PathPart, ...], message: str) -> Diagnostic:
        return Diagnostic(
            severity, message, line=self.document.line_of(path), document=self.ref, field=format_path(path)
        )


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_path(path: tuple[PathPart, ...] | tuple[int | str, ...]) -> str:
    """``spec.nodes[2].address``; a key that is not a plain name (an IP address, a label with dots
    and slashes) is quoted: ``peers["10.0.1.254"].holdTime``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            text += f'["{part}"]'
        else:
            text += f".{part}" if text else part
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
            at(document, ("apiVersion",), f"List needs apiVersion {LIST_API_VERSION}, got {got!r}", ref)
        )
        return []
    if not isinstance(document.data.get("items"), list):
        out.append(at(document, ("items",), "must be a list of objects", ref))
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
        out.append(at(document, ("kind",), "required field is missing (every manifest names its kind)", ref))
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
        out.append(at(document, ("apiVersion",), f"{kind} needs apiVersion {api_version}, got {got!r}", ref))
        return kind, None
    try:
        parsed = model.model_validate(document.data)
    except ValidationError as error:
        out.extend(model_diagnostics(error, model, document, ref))
        return kind, None
    return kind, Parsed(document, parsed)


def model_diagnostics(
    error: ValidationError, model: type[BaseModel], document: Document | None, ref: DocumentRef | None = None
) -> list[Diagnostic]:
    """pydantic's errors as diagnostics in the operator's words, at the field's own line when the
    data came from ``document`` (the one translation both user files go through)."""
    return [at(document, _path(e["loc"]), _reason(e, model), ref) for e in error.errors()]


def _path(loc: tuple[int | str, ...]) -> tuple[PathPart, ...]:
    # pydantic marks "the mapping key itself is wrong" with a "[key]" part; the key is already named.
    return tuple(part for part in loc if part != "[key]")


def at(
    document: Document | None, path: tuple[PathPart, ...], message: str, ref: DocumentRef | None = None
) -> Diagnostic:
    """An error about the field at ``path``, with that field's line in ``document`` (if any)."""
    line = document.line_of(path) if document is not None else None
    return Diagnostic(Severity.ERROR, message, line=line, document=ref, field=format_path(path))


def duplicate_key_errors(document: Document, ref: DocumentRef | None = None) -> list[Diagnostic]:
    """An error for every mapping key given twice in ``document`` (see ``yamldocs.duplicate_keys``)."""
    return [
        Diagnostic(
            Severity.ERROR,
            f"duplicate key (first given at line {first})",
            line=line,
            document=ref,
            field=format_path(path),
        )
        for path, line, first in duplicate_keys(document)
    ]


def read_text(path: str | Path) -> tuple[str | None, Diagnostic | None]:
    """A user file's text (a byte-order mark tolerated), or the error saying why it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8-sig"), None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return None, Diagnostic(Severity.ERROR, f"cannot read the file: {reason}")


def single_document(text: str, what: str) -> tuple[Document | None, list[Diagnostic]]:
    """The one YAML document of a file such as the settings (None when it is empty), or the errors:
    too deep, a syntax error, more than one document, a duplicate key. ``what`` names the file's
    content in the message about extra documents."""
    deep = too_deep(text)
    if deep is not None:
        return None, [deep]
    try:
        documents = parse_documents(text)
    except yaml.YAMLError as error:
        return None, [syntax_error(error, text)]
    if len(documents) > 1:
        extra = Diagnostic(
            Severity.ERROR, f"a second YAML document; {what} is one document", line=documents[1].line
        )
        return None, [extra]
    if not documents:
        return None, []
    return documents[0], duplicate_key_errors(documents[0])


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
    context = error.get("ctx") or {}
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"must be {words} {context.get(key)}{suffix}"
    if kind in {"enum", "literal_error"} and "expected" in context:
        return f"must be {context['expected']}{suffix}"
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
    "float_type": "a number",
    "float_parsing": "a number",
}


# pydantic bound errors → (the words, the context key holding the bound).
_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "less_than_equal": ("at most", "le"),
    "greater_than": ("more than", "gt"),
    "less_than": ("less than", "lt"),
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
        elif typing.get_origin(current) is dict:  # a mapping keyed by the operator (``peers``)
            current = typing.get_args(current)[1]
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
    """``X | None`` → ``X``, ``Annotated[X, …]`` → ``X`` (lists are unwrapped by the caller on an index)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation

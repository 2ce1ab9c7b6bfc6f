"""Multi-document YAML → plain documents that remember where every field came from.

The file is composed into YAML node trees (libyaml when available) and each tree is then
constructed into plain Python data; the trees are kept so that an error found later, by pydantic
or by a cross-document rule, can point at the line of the field rather than only the document.

People paste the vendor's examples, which elide settings with a line holding only ``...``. In YAML
that line ends the document (at column 0) or is a syntax error (indented), so before parsing every
such line is blanked and, unless it really ends a document, reported as an elision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bgpd.manifests.diagnostics import Diagnostic, Severity

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_ELISION = re.compile(r"^([ \t]*)\.\.\.[ \t]*$")
_DOCUMENT_START = re.compile(r"^---(\s|$)")

PathPart = str | int

# libyaml's composer recurses once per nesting level and crashes the process (no exception) some
# tens of thousands of levels deep. No manifest nests anywhere near MAX_DEPTH, so a run of that
# many openers — ``[``, ``{`` (optionally followed by ``key:``) or ``- `` — is refused up front.
MAX_DEPTH = 1000
_OPENER = r"(?:[\[{][ \t\r\n]*(?:[^\s\[\]{},:#]+[ \t]*:[ \t\r\n]*)?|-[ \t]+)"
_DEEP = re.compile(_OPENER + "{" + str(MAX_DEPTH) + "}")


@dataclass(slots=True)
class Place:
    """Where a document sits in the file it was last read from: its 1-based position among the
    file's documents, and the lines before the text it was parsed from (its node tree counts
    lines from there). A reader that keeps a document parsed while the file around it changes
    moves its place instead of parsing it again (``split_documents``)."""

    index: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its place, its first line (counted from the place's offset), the data
    and its node tree for line lookups. ``index`` and ``line`` are where it is in the file now.

    An object inside a ``kind: List`` document is a document of its own with ``item`` set to its
    index in ``items`` (``list_items``), so it is validated like a top-level one; it shares the
    List's place.
    """

    place: Place
    first_line: int
    data: Any
    node: yaml.Node
    item: int | None = None

    @property
    def index(self) -> int:
        return self.place.index

    @property
    def line(self) -> int:
        return self.place.offset + self.first_line

    def line_of(self, path: Sequence[PathPart]) -> int:
        """The line of the deepest node ``path`` reaches (the document's line if none)."""
        node = self.node
        line = node.start_mark.line + 1
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return self.place.offset + line


def list_items(document: Document) -> list[Document] | None:
    """The objects of a ``kind: List`` document (``kubectl get … -o yaml``), or None if it is not one.

    A List whose ``items`` is not a sequence yields no objects; the caller reports it.
    """
    data = document.data
    if not isinstance(data, dict) or data.get("kind") != "List":
        return None
    items = _child(document.node, "items")
    values = data.get("items")
    if not isinstance(items, yaml.SequenceNode) or not isinstance(values, list):
        return []
    return [
        Document(document.place, node.start_mark.line + 1, value, node, item=i)
        for i, (value, node) in enumerate(zip(values, items.value, strict=True))
    ]


def _child(node: yaml.Node, part: PathPart) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value if not _is_empty(value) else key
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def _is_empty(node: yaml.Node) -> bool:
    # An empty value (``key:`` with nothing after) is placed on the next line; the key's line is better.
    return isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null")


def duplicate_keys(document: Document) -> list[tuple[tuple[PathPart, ...], int, int]]:
    """(path, line, line of the first) for every mapping key given twice.

    YAML requires unique keys, but PyYAML silently keeps the last value; a doubled ``peerIP`` would
    then go unnoticed, so bgpd reports it like Kubernetes' strict decoding does.
    """
    found: list[tuple[tuple[PathPart, ...], int, int]] = []
    stack: list[tuple[yaml.Node, tuple[PathPart, ...]]] = [(document.node, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                line = document.place.offset + key.start_mark.line + 1
                if key.value in first:
                    found.append(((*path, key.value), line, first[key.value]))
                else:
                    first[key.value] = line
                stack.append((value, (*path, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
    return sorted(found, key=lambda item: item[1])


def strip_elisions(text: str) -> tuple[str, list[Diagnostic]]:
    """Blank every ``...`` line, keeping line numbers; warn for those that are elisions, not document ends."""
    lines = text.split("\n")
    notes: list[Diagnostic] = []
    for number, raw in enumerate(lines):
        match = _ELISION.match(raw)
        if match is None:
            continue
        lines[number] = ""
        if not match.group(1) and _ends_document(lines, number + 1):
            continue  # a real YAML document-end marker: nothing was left out
        notes.append(
            Diagnostic(
                Severity.WARNING,
                "'...' treated as elided settings and ignored (as in the vendor's shortened examples)",
                line=number + 1,
            )
        )
    return "\n".join(lines), notes


def _ends_document(lines: list[str], start: int) -> bool:
    """True when only blank lines or comments lie between ``start`` and the next ``---`` or the end."""
    for raw in lines[start:]:
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return bool(_DOCUMENT_START.match(raw))
    return True


def parse_documents(text: str) -> list[Document]:
    """Parse every document; raises yaml.YAMLError (with marks) on a syntax error. Empty ones are dropped."""
    return count_documents(text)[0]


def count_documents(text: str) -> tuple[list[Document], int]:
    """``parse_documents``, and how many documents the text held, empty ones included (they take
    a position: a later document's index counts them)."""
    loader = _Loader(text)
    documents: list[Document] = []
    position = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            position += 1
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            documents.append(Document(Place(position), node.start_mark.line + 1, data, node))
    finally:
        loader.dispose()
    return documents, position


def split_documents(text: str) -> list[tuple[int, str]]:
    """The text cut before every line that starts a document (``---``): (lines before the piece,
    the piece). Each piece parses alone to what the whole text gives for its documents: YAML ends
    a document, and whatever an unclosed flow, quote or block scalar was, at such a line (the
    caller falls back to parsing the whole text when a piece does not parse, for the error to be
    the whole text's). Directives (``%YAML``, ``%TAG``) belong to the next document, so a text
    with any is one piece."""
    starts = _document_starts(text)
    if not starts or text.startswith("%") or "\n%" in text:
        return [(0, text)]
    pieces = []
    line = 0
    previous = 0
    for start in [*starts, len(text)]:
        if start > previous:
            piece = text[previous:start]
            pieces.append((line, piece))
            line += piece.count("\n")
        previous = start
    return pieces


def _document_starts(text: str) -> list[int]:
    """Where each line that starts a document begins: ``---`` followed by whitespace or the end of
    the text (as the regular expression ``^---(?=\\s|$)`` in multi-line mode finds them, but with
    ``str.find``, several times faster on a file of 10k nodes)."""
    starts = [0] if text.startswith("---") and (len(text) == 3 or text[3].isspace()) else []
    at = text.find("\n---")
    while at != -1:
        after = at + 4
        if after == len(text) or text[after].isspace():
            starts.append(at + 1)
        at = text.find("\n---", after)
    return starts


def too_deep(text: str) -> Diagnostic | None:
    """An error at the line where the text starts nesting more than MAX_DEPTH levels, else None."""
    match = _DEEP.search(text)
    if match is None:
        return None
    line = text.count("\n", 0, match.start()) + 1
    return Diagnostic(Severity.ERROR, f"YAML nested more than {MAX_DEPTH} levels deep", line=line)


def syntax_error(error: yaml.YAMLError, text: str) -> Diagnostic:
    """A YAML error as a diagnostic at its line and column (1-based)."""
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML forbids; it carries an offset
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"YAML syntax error: character #x{error.character:04x} is not allowed ({error.reason})"
        return Diagnostic(Severity.ERROR, message, line=line, column=column)
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    what = "unsupported YAML" if isinstance(error, yaml.constructor.ConstructorError) else "YAML syntax error"
    message = f"{what}: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return Diagnostic(Severity.ERROR, message)
    return Diagnostic(Severity.ERROR, message, line=mark.line + 1, column=mark.column + 1)

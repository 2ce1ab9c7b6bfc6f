"""Reading a file piece by piece, and again after an edit, gives what reading it whole gives: the
same cluster and the same findings at the same lines, or the same errors."""

from __future__ import annotations

import copy
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgpd.manifests import Loaded, ManifestError, ManifestReader, rules
from bgpd.manifests import _parse_whole as parse_whole
from bgpd.manifests.yamldocs import _document_starts, split_documents
from tests.manifests._cluster import base, node_pool, render

# Lines that test where a document ends and what a piece holds: elisions, document markers with
# content or comments after them, a block scalar holding "---" (indented: still content), a
# comment, an empty document, a directive, a syntax error, a duplicate key.
ODD_LINES = (
    "...",
    "  ...",
    "--- # next",
    "---",
    "# --- a comment",
    "  note: |\n    ---\n    text",
    "",
    "%YAML 1.1",
    "  bad: [1, 2",
    "\tkey: tab",
    "  peerIP: 10.0.3.254",
    "kind: Unknown",
)


def _outcome(read: object) -> tuple[str, object]:
    try:
        loaded = read()  # type: ignore[operator]
    except ManifestError as error:
        return "error", error.diagnostics
    assert isinstance(loaded, Loaded)
    return "ok", (loaded.manifests, loaded.diagnostics)


def _file(rng: random.Random) -> str:
    docs = copy.deepcopy(base())
    for n in range(rng.randint(0, 3)):
        nodes = [
            {"address": f"10.0.{rng.choice((1, 3))}.{rng.randint(30, 90)}"} for _ in range(rng.randint(1, 4))
        ]
        docs.insert(rng.randint(1, len(docs)), node_pool(f"extra{n}", nodes))
    lines = render(docs).split("\n")
    for _ in range(rng.randint(0, 3)):
        lines.insert(rng.randint(0, len(lines)), rng.choice(ODD_LINES))
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_read_in_pieces_and_read_whole_agree(seed: int) -> None:
    rng = random.Random(seed)
    text = _file(rng)
    assert "".join(piece for _, piece in split_documents(text)) == text
    whole = _outcome(lambda: parse_whole(text, "c.yaml"))
    assert _outcome(lambda: ManifestReader().parse(text, "c.yaml")) == whole
    reader = ManifestReader()
    _outcome(lambda: reader.parse(_file(rng), "c.yaml"))  # another file first: pieces move about
    assert _outcome(lambda: reader.parse(text, "c.yaml")) == whole
    edited = text.replace("10.0.1.21", "10.0.1.22", 1)  # an edit in one piece, the rest kept
    assert _outcome(lambda: reader.parse(edited, "c.yaml")) == _outcome(lambda: parse_whole(edited, "c.yaml"))


def test_an_unchanged_piece_is_not_parsed_again() -> None:
    text = render(base())
    reader = ManifestReader()
    reader.parse(text, "c.yaml")
    pieces = {id(piece) for same in reader._pieces.values() for piece in same}
    new = "  - address: 10.0.1.31\n    ipv6Address: 2001:db8:1::31\n"
    grown = text.replace("  - address: 10.0.1.21\n", new + "  - address: 10.0.1.21\n", 1)
    assert "10.0.1.31" in {n.name for n in reader.parse(grown, "c.yaml").manifests.nodes}
    now = {id(piece) for same in reader._pieces.values() for piece in same}
    assert len(now - pieces) == 1  # the NodePool's piece; every other one is the same object


def _crowded(rng: random.Random) -> str:
    """A file whose nodes may share addresses across pools, sit inside a pod range, lack or misuse
    an IPv6 address: what the per-pool shortcuts must notice."""
    docs = copy.deepcopy(base())
    for n in range(rng.randint(1, 3)):
        nodes = []
        for _ in range(rng.randint(1, 4)):
            entry = {
                "address": rng.choice(
                    ("10.0.1.21", "10.0.1.40", "10.200.0.9", f"10.0.3.{rng.randint(30, 35)}")
                )
            }
            if rng.random() < 0.8:
                entry["ipv6Address"] = rng.choice(
                    ("2001:db8:1::40", "fe80::1", f"2001:db8:3::{rng.randint(1, 9)}")
                )
            if rng.random() < 0.2:
                entry["k8sIP"] = rng.choice(("10.0.1.21", "10.0.3.99"))
            nodes.append(entry)
        docs.insert(rng.randint(1, len(docs)), node_pool(f"extra{n}", nodes))
    if rng.random() < 0.3:  # a pod range around a floating IP or a peer, with or without nodes
        wide = next(d for d in docs if d["kind"] == "ClusterCIDRConfig")
        wide["spec"]["ipv4"]["cidr"] = rng.choice(("10.0.1.96/28", "10.0.3.248/29", "10.0.0.0/16"))
    return render(docs)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_the_per_pool_shortcuts_say_what_going_node_by_node_says(seed: int) -> None:
    text = _crowded(random.Random(seed))
    quick = _outcome(lambda: ManifestReader().parse(text, "c.yaml"))
    with pytest.MonkeyPatch.context() as patch:  # every node, every range, one by one
        patch.setattr(rules, "_all_quiet", lambda pools: False)
        patch.setattr(rules, "_any_inside", lambda *args: True)
        assert _outcome(lambda: ManifestReader().parse(text, "c.yaml")) == quick


@given(
    st.lists(
        st.sampled_from(["---", "--", "----", "-", "\n", " ", "\t", "\r", "\x0b", "a", "%", "..."]),
        max_size=30,
    )
)
def test_document_lines_are_those_the_yaml_rule_finds(parts: list[str]) -> None:
    """Where a document starts is YAML's ``^---(?=\\s|$)``, found with ``str.find`` for speed."""
    text = "".join(parts)
    assert _document_starts(text) == [m.start() for m in re.finditer(r"^---(?=\s|$)", text, re.MULTILINE)]
    directive = re.search(r"^%", text, re.MULTILINE) is not None
    if directive or not _document_starts(text):
        assert split_documents(text) == [(0, text)]
    else:
        starts = _document_starts(text)
        lines = [0] * (starts[0] > 0) + [text[:start].count("\n") for start in starts]
        assert [offset for offset, _ in split_documents(text)] == lines

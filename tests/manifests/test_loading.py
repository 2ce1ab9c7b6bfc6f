"""Reading the file: elisions, YAML errors with line/column, unreadable files, positions in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgpd.manifests import ManifestError, Severity, load_manifests, parse_manifests
from tests.manifests._cluster import base, render


def _with_elisions() -> str:
    text = render(base())
    # Elide inside the Cluster spec (indented) and inside a BGPPeer, like the vendor's examples.
    text = text.replace("  type: user\n", "  type: user\n  ...\n", 1)
    return text.replace("  sessions: 2\n", "  sessions: 2\n    ...   \n", 1)


def test_elision_lines_are_ignored_with_a_warning_naming_the_line() -> None:
    text = _with_elisions()
    loaded = parse_manifests(text, "c.yaml")
    lines = text.split("\n")
    elided = [i + 1 for i, line in enumerate(lines) if line.strip() == "..."]
    warnings = [d for d in loaded.diagnostics if d.severity is Severity.WARNING]
    assert [w.line for w in warnings] == elided
    assert all("'...'" in w.message for w in warnings)
    assert warnings[0].format("c.yaml").startswith(f"c.yaml:{elided[0]}: warning: '...'")
    assert len(loaded.manifests.peers) == 2


def test_a_real_document_end_marker_is_not_an_elision() -> None:
    text = render(base()).replace("\n---\n", "\n...\n---\n", 1)
    loaded = parse_manifests(text, "c.yaml")
    assert not [d for d in loaded.diagnostics if d.severity is Severity.WARNING]


def test_unindented_elision_inside_a_document_is_an_elision() -> None:
    text = render(base()).replace("kind: Cluster\n", "kind: Cluster\n...\n", 1)
    loaded = parse_manifests(text, "c.yaml")
    warnings = [d for d in loaded.diagnostics if d.severity is Severity.WARNING]
    assert len(warnings) == 1
    assert loaded.manifests.cluster == "bm"


def test_yaml_syntax_error_names_line_and_column() -> None:
    text = render(base()).replace("  peerIP: 10.0.1.254\n", "  peerIP: [10.0.1.254\n", 1)
    with pytest.raises(ManifestError) as caught:
        parse_manifests(text, "c.yaml")
    (error,) = caught.value.errors
    assert error.message.startswith("YAML syntax error")
    assert error.line is not None and error.column is not None
    assert error.format("c.yaml").startswith(f"c.yaml:{error.line}:{error.column}: error: YAML syntax error")


def test_bad_indentation_is_a_syntax_error_at_its_line() -> None:
    text = "apiVersion: v1\nkind: Cluster\nmetadata:\n  name: a\n   namespace: b\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifests(text, "c.yaml")
    assert caught.value.errors[0].line == 5


def test_field_errors_carry_the_field_line_and_the_document_position() -> None:
    text = render(base()).replace("localASN: 65001", "localASN: 0", 1)
    with pytest.raises(ManifestError) as caught:
        parse_manifests(text, "c.yaml")
    (error,) = caught.value.errors
    lines = text.split("\n")
    assert lines[error.line - 1].strip() == "localASN: 0"  # type: ignore[operator]
    assert error.document is not None
    assert (error.document.kind, error.document.name, error.document.index) == ("BGPPeer", "p1", 6)
    assert lines[error.document.line - 1] == "apiVersion: networking.gke.io/v1"
    assert "BGPPeer/p1 (document 6, line" in error.format("c.yaml")


def test_other_kinds_are_skipped_at_debug() -> None:
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cluster-bm\n---\n" + render(base())
    loaded = parse_manifests(text, "c.yaml")
    (skipped,) = [d for d in loaded.diagnostics if d.severity is Severity.DEBUG]
    assert "Namespace" in skipped.message
    assert skipped.line == 1


def test_empty_documents_are_ignored() -> None:
    loaded = parse_manifests("---\n---\n" + render(base()) + "---\n", "c.yaml")
    assert loaded.manifests.cluster == "bm"


def test_a_document_that_is_not_a_mapping_is_an_error() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifests(render(base()) + "---\n- 1\n- 2\n", "c.yaml")
    assert any("must be a mapping" in e.message for e in caught.value.errors)


def test_empty_file_says_what_is_missing() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifests("", "c.yaml")
    assert [e.message for e in caught.value.errors] == [
        "no Cluster manifest (kind: Cluster, apiVersion baremetal.cluster.gke.io/v1)",
        "no NetworkGatewayGroup manifest: the file needs one named 'default' in the cluster namespace",
        "no FlatIPMode manifest: the file needs one named 'default' in the cluster namespace",
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifests(tmp_path / "nope.yaml")
    assert caught.value.errors[0].message == "cannot read the file: No such file or directory"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifests(tmp_path)
    assert "cannot read the file" in caught.value.errors[0].message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError) as caught:
        load_manifests(path)
    assert "cannot read the file" in caught.value.errors[0].message


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_with_elisions())
    loaded = load_manifests(path)
    assert loaded.source == str(path)
    assert len(loaded.manifests.nodes) == 3


def test_duplicate_keys_are_errors_at_the_second() -> None:
    text = render(base()).replace("  peerIP: 10.0.1.254\n", "  peerIP: 10.0.1.254\n  peerIP: 10.0.1.253\n", 1)
    with pytest.raises(ManifestError) as caught:
        parse_manifests(text, "c.yaml")
    (error,) = caught.value.errors
    lines = text.split("\n")
    assert error.field == "spec.peerIP"
    assert error.line is not None
    assert lines[error.line - 1] == "  peerIP: 10.0.1.253"
    assert error.message == f"duplicate key (first given at line {error.line - 1})"
    assert error.document is not None and error.document.name == "p1"


@pytest.mark.parametrize(
    ("nested", "line"),
    [("[" * 100_000 + "]" * 100_000, 2), ("{a: " * 2000 + "}" * 2000, 2), ("\n  - " + "- " * 2000 + "x", 3)],
    ids=["flow-sequence", "flow-mapping", "block-sequence"],
)
def test_deeply_nested_yaml_is_an_error_not_a_crash(nested: str, line: int) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifests("x: 1\na: " + nested + "\n", "c.yaml")
    (error,) = caught.value.errors
    assert error.message == "YAML nested more than 1000 levels deep"
    assert error.line == line


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + render(base()).encode())
    assert load_manifests(path).manifests.cluster == "bm"


def test_forbidden_character_has_line_and_column() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifests('a: 1\nb: "x\x07"\n', "c.yaml")
    (error,) = caught.value.errors
    assert (error.line, error.column) == (2, 6)
    assert error.message.startswith("YAML syntax error: character #x0007 is not allowed")

"""``bgpd check``: exit 0 and one summary line, or exit 1 and every error — never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.cli._run import EXAMPLES, bgpd
from tests.manifests._cluster import base, kind, render


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_examples_are_valid(name: str) -> None:
    result = bgpd("check", "--config", EXAMPLES / name)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert "valid: cluster bm (namespace cluster-bm): 4 nodes in 3 pools" in line
    assert "4 sessions" in line


def test_examples_count_three() -> None:
    assert len(list(EXAMPLES.glob("*.yaml"))) == 3


def test_invalid_file_lists_every_error(tmp_path: Path) -> None:
    docs = copy.deepcopy(base())
    kind(docs, "BGPPeer")["spec"]["localASN"] = 0
    kind(docs, "BGPPeer", 1)["metadata"]["namespace"] = "elsewhere"
    kind(docs, "ClusterCIDRConfig")["spec"]["ipv4"]["perNodeMaskSize"] = 40
    path = tmp_path / "c.yaml"
    path.write_text(render(docs))
    result = bgpd("check", "--config", path)
    assert result.returncode == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 3
    assert any("BGPPeer/p1" in e and "spec.localASN" in e for e in errors)
    assert any("BGPPeer/p2" in e and "metadata.namespace" in e for e in errors)
    assert any("ClusterCIDRConfig/wide" in e and "spec.ipv4.perNodeMaskSize" in e for e in errors)
    assert result.stderr.splitlines()[-1] == f"{path}: 3 errors"
    assert "Traceback" not in result.stderr


def test_exhaustion_fails_the_check(tmp_path: Path) -> None:
    docs = copy.deepcopy(base())
    kind(docs, "ClusterCIDRConfig")["spec"]["ipv6"] = {"cidr": "fd00:200::/119", "perNodeMaskSize": 120}
    path = tmp_path / "c.yaml"
    path.write_text(render(docs))
    result = bgpd("check", "--config", path)
    assert result.returncode == 1
    assert "node 10.0.3.21" in result.stderr
    assert "1 node cannot be served" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"kind: [unclosed\n", ":2:1: error: YAML syntax error"),
        (b"a: 1\n  b: 2\n", ":2:4: error: YAML syntax error"),
        (b"\xff\xfe\x00\x01", "error: cannot read the file"),
        (b"", "error: no Cluster manifest"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"apiVersion: v1\nkind: ConfigMap\n", "no Cluster manifest"),
        (b"key: !!python/object:os.system ls\n", ":1:6: error: unsupported YAML"),
        (b"a: " + b"[" * 100_000 + b"]" * 100_000, ":1: error: YAML nested more than 1000 levels deep"),
    ],
    ids=["unclosed", "indent", "binary", "empty", "list", "other-kind", "unsafe-tag", "deep"],
)
def test_broken_inputs_never_show_a_traceback(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    result = bgpd("check", "--config", path)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = bgpd("check", "--config", tmp_path / "nope.yaml")
    assert missing.returncode == 1
    assert (
        f"{tmp_path / 'nope.yaml'}: error: cannot read the file: No such file or directory" in missing.stderr
    )
    directory = bgpd("check", "--config", tmp_path)
    assert directory.returncode == 1
    assert "cannot read the file: Is a directory" in directory.stderr
    assert "Traceback" not in missing.stderr + directory.stderr


def test_skipped_kinds_show_only_when_verbose() -> None:
    quiet = bgpd("check", "--config", EXAMPLES / "single-stack-ipv4.yaml")
    verbose = bgpd("check", "-v", "--config", EXAMPLES / "single-stack-ipv4.yaml")
    assert "Namespace" not in quiet.stderr
    assert (
        "debug: Namespace/cluster-bm (document 1, line 5): kind Namespace is not read by bgpd"
        in verbose.stderr
    )


def test_warnings_are_shown_on_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(render(base()).replace("  type: user\n", "  type: user\n  ...\n", 1))
    result = bgpd("check", "--config", path)
    assert result.returncode == 0
    assert "warning: '...' treated as elided settings" in result.stderr


def test_settings_errors_come_with_file_and_line_together_with_the_manifests(tmp_path: Path) -> None:
    docs = copy.deepcopy(base())
    kind(docs, "BGPPeer")["spec"]["localASN"] = 0
    config = tmp_path / "c.yaml"
    config.write_text(render(docs))
    settings = tmp_path / "bgpd.yaml"
    settings.write_text("defaults:\n  holdTime: 30\n  holdtime: 30\npeers:\n  10.0.1.254:\n    port: 0\n")
    result = bgpd("check", "--config", config, "--settings", settings)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{config}:") and "spec.localASN" in line for line in lines)
    assert f"{settings}:3: error: defaults.holdtime: unknown field (bgpd reads this part strictly); " in (
        result.stderr
    )
    assert f'{settings}:6: error: peers["10.0.1.254"].port: must be at least 1 (got 0)' in lines
    assert f"{settings}: 2 errors" in lines
    assert "Traceback" not in result.stderr


def test_a_valid_settings_file_is_checked_against_the_cluster(tmp_path: Path) -> None:
    settings = tmp_path / "bgpd.yaml"
    settings.write_text('peers:\n  "10.0.1.254": {holdTime: 30}\n  "10.0.9.254": {holdTime: 30}\n')
    single = EXAMPLES / "single-stack-ipv4.yaml"
    result = bgpd("check", "--config", single, "--settings", settings, "--local-address", "10.0.1.100/24")
    assert result.returncode == 0, result.stderr
    assert f'{settings}: warning: peers["10.0.9.254"]: no BGPPeer has this peerIP' in result.stderr
    assert "10.0.1.254" not in result.stderr
    assert result.stdout.rstrip().endswith("2 sessions run here, exporting 2 routes, 6 left out")

"""Man pages and bash/zsh completion, generated from the parsers: they install, load and render.

bash, zsh, man and groff are real here (``.ci/run`` installs zsh, man-db and groff-base); a test
whose tool is missing on a developer's machine is skipped, never passed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bgpd.cli import bgpctl, main
from bgpd.cli.shellfiles import completion_script, shell_file_paths
from bgpd.control.server import ControlServer
from tests.cli._run import ROOT, bgpd
from tests.cli.test_bgpctl import FakeDaemon

PROGS = ("bgpd", "bgpctl")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``bgpd install-shell-files --prefix`` wrote, as an operator runs it."""
    root = tmp_path_factory.mktemp("prefix")
    result = bgpd("install-shell-files", "--prefix", root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(p) for prog in PROGS for p in shell_file_paths(root, prog).values()]
    return root


def test_every_file_is_written_world_readable(prefix: Path) -> None:
    for prog in PROGS:
        for path in shell_file_paths(prefix, prog).values():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
            assert path.read_text(encoding="utf-8").strip()


def _bash_complete(script: Path, *words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash offers for the last of ``words`` (the command line typed so far)."""
    typed = " ".join(repr(w) for w in words)
    program = (
        f'source "{script}"; COMP_WORDS=({typed}); COMP_CWORD={len(words) - 1}; '
        f'COMP_LINE="{" ".join(words)}"; COMP_POINT=${{#COMP_LINE}}; '
        f'_shtab_{words[0]}; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    done = subprocess.run(
        [_tool("bash"), "-c", program], capture_output=True, text=True, timeout=30, check=False, env=env
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.mark.parametrize("prog", PROGS)
def test_bash_completion_loads(prefix: Path, prog: str) -> None:
    script = shell_file_paths(prefix, prog)["bash"]
    done = subprocess.run(
        [_tool("bash"), "-c", f'source "{script}"; complete -p {prog}'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"-F _shtab_{prog} {prog}")


BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")


def test_bash_completion_package_finds_the_scripts_under_the_prefix(prefix: Path) -> None:
    """bash-completion loads a command's script on first Tab from ``$XDG_DATA_DIRS`` (default
    ``/usr/local/share:/usr/share``): the prefix's script is found by name, nothing else to set up."""
    if not BASH_COMPLETION.is_file():
        pytest.skip("bash-completion not installed")
    program = f'source "{BASH_COMPLETION}"; __load_completion bgpctl && complete -p bgpctl'
    env = {**os.environ, "XDG_DATA_DIRS": str(prefix / "share")}
    done = subprocess.run(
        [_tool("bash"), "-c", program], capture_output=True, text=True, timeout=30, check=False, env=env
    )
    assert done.stdout.strip().endswith("-F _shtab_bgpctl bgpctl"), done.stderr


def test_man_finds_the_pages_under_the_prefix(prefix: Path) -> None:
    env = {**os.environ, "MANPATH": str(prefix / "share" / "man")}
    for prog in PROGS:
        done = subprocess.run(
            [_tool("man"), "-w", prog], capture_output=True, text=True, timeout=30, check=False, env=env
        )
        assert done.stdout.strip() == str(shell_file_paths(prefix, prog)["man"]), done.stderr


def test_bash_completes_commands_resources_options_and_paths(prefix: Path, tmp_path: Path) -> None:
    ctl = shell_file_paths(prefix, "bgpctl")["bash"]
    assert _bash_complete(ctl, "bgpctl", "") == [
        "get",
        "describe",
        "status",
        "reload",
        "release",
        "reset",
        "disable",
        "enable",
        "drain",
        "undrain",
        "stop",
        "completion",
    ]
    assert _bash_complete(ctl, "bgpctl", "get", "") == [
        "bgpsessions",
        "bgpadvertisedroutes",
        "bgpreceivedroutes",
        "allocations",
        "metrics",
    ]
    assert {"--session", "--prefix", "--limit", "--watch"} <= set(
        _bash_complete(ctl, "bgpctl", "get", "x", "--")
    )
    (tmp_path / "cluster.yaml").write_text("")
    (tmp_path / "state").mkdir()
    daemon = shell_file_paths(prefix, "bgpd")["bash"]
    assert "decode" in _bash_complete(daemon, "bgpd", "")
    assert _bash_complete(daemon, "bgpd", "run", "--config", f"{tmp_path}/clu") == [
        f"{tmp_path}/cluster.yaml"
    ]
    assert _bash_complete(daemon, "bgpd", "plan", "--state-dir", f"{tmp_path}/s") == [f"{tmp_path}/state"]


@pytest.mark.parametrize("prog", PROGS)
def test_zsh_completion_parses_and_registers(prefix: Path, prog: str) -> None:
    zsh = _tool("zsh")
    script = shell_file_paths(prefix, prog)["zsh"]
    assert (
        subprocess.run([zsh, "-n", str(script)], capture_output=True, timeout=30, check=False).returncode == 0
    )
    program = (
        f"fpath=({script.parent} $fpath); autoload -U compinit; compinit -u -D; print -r -- $_comps[{prog}]"
    )
    done = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"_{prog}"), done.stderr


@pytest.mark.parametrize("prog", PROGS)
def test_man_page_renders(prefix: Path, prog: str) -> None:
    page = shell_file_paths(prefix, prog)["man"]
    groff = subprocess.run(
        [_tool("groff"), "-man", "-Tutf8", "-ww", "-Wbreak", "-z", str(page)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (groff.returncode, groff.stderr) == (0, "")  # no warning but long lines that cannot break
    env = {**os.environ, "MANWIDTH": "100"}
    shown = subprocess.run(
        [_tool("man"), "-l", str(page)], capture_output=True, text=True, timeout=30, check=False, env=env
    )
    assert shown.returncode == 0, shown.stderr
    text = re.sub(".\x08", "", shown.stdout)  # no bold or underline by overstriking
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert f"\n{heading}\n" in text
    build = main.build_parser if prog == "bgpd" else bgpctl.build_parser
    for command in _subcommands(build()):
        assert f"COMMAND '{prog} {command}'" in text  # every sub-command has its section
    assert f"{prog} - " in text  # NAME carries the one-line summary


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    """The sub-command names as ``--help`` lists them."""
    helptext = parser.format_help()
    choices = helptext.split("COMMAND", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in choices.splitlines()[1:] if line.startswith("    ") and line.split()]


def test_bgpctl_man_page_names_the_socket_variable(prefix: Path) -> None:
    page = shell_file_paths(prefix, "bgpctl")["man"].read_text(encoding="utf-8")
    assert ".SH ENVIRONMENT" in page and "BGPD_SOCKET" in page


@pytest.mark.parametrize("prog", PROGS)
@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_command_prints_the_installed_script(prog: str, shell: str) -> None:
    build = main.build_parser if prog == "bgpd" else bgpctl.build_parser
    module = "bgpd" if prog == "bgpd" else "bgpd.cli.bgpctl"
    done = subprocess.run(
        [sys.executable, "-m", module, "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == completion_script(build(), shell)


@pytest.mark.asyncio
async def test_bash_completes_session_names_from_the_running_daemon(
    prefix: Path, short_dir: Path, tmp_path: Path
) -> None:
    wrapper = tmp_path / "bin" / "bgpctl"  # bgpctl as installed: a command on PATH
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bgpd.cli.bgpctl "$@"\n')
    wrapper.chmod(0o755)
    script = shell_file_paths(prefix, "bgpctl")["bash"]
    env = {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    async with ControlServer(short_dir / "bgpd.sock", FakeDaemon().commands()) as server:
        env["BGPD_SOCKET"] = str(server.path)
        typed = ("bgpctl", "describe", "bgpsession", "10.0.1")
        names = await asyncio.to_thread(_bash_complete, script, *typed, env=env)
        assert names == ["10.0.1.254-node-01", "10.0.1.254-node-02"]
        session = ("bgpctl", "get", "bgpreceivedroutes", "--session", "10.0.3.254-node-0")
        names = await asyncio.to_thread(_bash_complete, script, *session, env=env)
        assert names == ["10.0.3.254-node-01", "10.0.3.254-node-02"]
    env["BGPD_SOCKET"] = str(short_dir / "gone.sock")  # no daemon: nothing offered, nothing printed
    assert await asyncio.to_thread(_bash_complete, script, "bgpctl", "reset", "bgpsession", "", env=env) == []

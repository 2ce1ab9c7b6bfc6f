"""``bgpd``: sub-commands are found by name, and only the one being run is imported."""

from __future__ import annotations

import subprocess
import sys

from tests.cli._run import ROOT, bgpd


def test_a_command_imports_only_its_own_module() -> None:
    # bgpd run is a service start: the other sub-commands' modules must not cost it anything.
    probe = (
        "import sys\nfrom bgpd.cli.main import main\n"
        "main(['run', '--config', '/nonexistent/cluster.yaml'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('bgpd.cli.')))\n"
    )
    argv = [sys.executable, "-c", probe]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60, cwd=ROOT)
    loaded = done.stdout.strip().splitlines()[-1]
    assert "'bgpd.cli.run'" in loaded
    for other in ("demo", "decode", "plan"):
        assert f"'bgpd.cli.{other}'" not in loaded, loaded


def test_help_lists_every_command() -> None:
    listing = bgpd("--help")
    assert listing.returncode == 0
    for name in ("check", "decode", "demo", "plan", "run"):
        assert f"    {name} " in listing.stdout, listing.stdout
    assert bgpd("nosuchcommand").returncode == 2

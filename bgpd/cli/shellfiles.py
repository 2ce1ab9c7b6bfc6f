"""Shell completion scripts and man pages, generated from the argparse parsers of ``bgpd`` and ``bgpctl``.

Generated from the parsers on the installed machine, so they always describe the commands that are
there and cannot drift from the code (docs/dependencies.md says why shtab and argparse-manpage).
``bgpctl completion SHELL`` / ``bgpd completion SHELL`` print a script (as ``kubectl completion``
does); ``bgpd install-shell-files --prefix /usr/local`` writes both man pages and all four scripts
where man-db, bash-completion and zsh look for them. Both libraries are imported only here, when
asked, so the other commands do not pay for them at start-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from bgpd import __version__

SHELLS: Final = ("bash", "zsh")
DEFAULT_PREFIX: Final = Path("/usr/local")
_FILE_METAVARS: Final = frozenset({"FILE", "PATH"})

# What each command's man page says beyond its options (argparse has no place for these).
_SEE_ALSO: Final = {
    "bgpd": "\\fBbgpctl\\fR(1). The operator guide: docs/operator-guide.md in the bgpd sources.",
    "bgpctl": "\\fBbgpd\\fR(1). The control protocol: docs/control-protocol.md in the bgpd sources.",
}
_ENVIRONMENT: Final = {
    "bgpctl": ".TP\n\\fBBGPD_SOCKET\\fR\nthe control socket, unless \\fB--socket\\fR is given "
    "(default /run/bgpd/bgpd.sock)",
}


# bgpctl's NAME arguments complete to the sessions of the running bgpd (nothing when it is not
# running): the NAME column of ``bgpctl get bgpsessions``, asked when Tab is pressed.
_SESSION_NAMES: Final = "_bgpctl_session_names"
_SESSION_NAMES_QUERY: Final = "command bgpctl get bgpsessions 2>/dev/null | awk 'NR > 1 {print $1}'"
_PREAMBLES: Final = {
    "bash": f"""{_SESSION_NAMES}() {{
  compgen -W "$({_SESSION_NAMES_QUERY})" -- "$1"
}}
""",
    "zsh": f"""{_SESSION_NAMES}() {{
  local -a names
  names=(${{(f)"$({_SESSION_NAMES_QUERY})"}})
  compadd -a names
}}
""",
}


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every action of ``parser`` and of its sub-commands, depth first."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                yield from _actions(sub)


def _annotate(parser: argparse.ArgumentParser) -> bool:
    """Tell shtab what each argument completes to: file or directory names, or (bgpctl's NAME)
    the running sessions. True when the session-name function is used."""
    import shtab  # noqa: PLC0415 - only the completion commands need it

    sessions = False
    for action in _actions(parser):
        if action.metavar in _FILE_METAVARS:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        elif action.metavar == "DIR":
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        elif action.metavar == "NAME" and parser.prog == "bgpctl":
            action.complete = {"bash": _SESSION_NAMES, "zsh": _SESSION_NAMES}  # type: ignore[attr-defined]
            sessions = True
    return sessions


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The ``shell`` completion script for ``parser``'s command (bash: ``complete -F``; zsh: ``#compdef``)."""
    import shtab  # noqa: PLC0415 - only the completion commands need it

    preamble = _PREAMBLES[shell] if _annotate(parser) else ""
    return str(shtab.complete(parser, shell=shell, preamble=preamble))


def manpage(parser: argparse.ArgumentParser, summary: str) -> str:
    """``parser``'s command as a section 1 man page (roff), with NAME, SYNOPSIS, every sub-command."""
    from argparse_manpage.manpage import Manpage  # noqa: PLC0415 - only the man page command needs it

    page = Manpage(parser)
    page.description = summary
    page.source = f"bgpd {__version__}"
    page.manual = "bgpd manual"
    if parser.prog in _ENVIRONMENT:
        page.add_section("environment", ">", _ENVIRONMENT[parser.prog])
    page.add_section("see also", ">", _SEE_ALSO[parser.prog])
    return str(page)


def shell_file_paths(prefix: Path, prog: str) -> dict[str, Path]:
    """Where man-db, bash-completion (XDG_DATA_DIRS) and zsh (``fpath``) look below ``prefix``."""
    share = prefix / "share"
    return {
        "man": share / "man" / "man1" / f"{prog}.1",
        "bash": share / "bash-completion" / "completions" / prog,
        "zsh": share / "zsh" / "site-functions" / f"_{prog}",
    }


Parsers = dict[str, tuple[Callable[[], argparse.ArgumentParser], str]]


def _parsers() -> Parsers:
    """Each command's parser builder and one-line summary. Imported here, when asked: the commands
    themselves import this module for their ``completion`` sub-command."""
    from bgpd.cli import bgpctl, main  # noqa: PLC0415 - see the docstring

    return {
        "bgpd": (main.build_parser, "BGP speaker announcing pod CIDRs for flat-mode pod networking"),
        "bgpctl": (bgpctl.build_parser, "query and control a running bgpd"),
    }


def install(prefix: Path) -> list[Path]:
    """Write every man page and completion script below ``prefix``; returns the files written."""
    written = []
    for prog, (build, summary) in _parsers().items():
        paths = shell_file_paths(prefix, prog)
        contents = {"man": manpage(build(), summary)}
        contents |= {shell: completion_script(build(), shell) for shell in SHELLS}
        for kind, text in contents.items():
            path = paths[kind]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)
            written.append(path)
    return written


def add_completion_command(subparsers: Any, build: Callable[[], argparse.ArgumentParser]) -> None:
    """A ``completion SHELL`` sub-command printing ``build()``'s script, like ``kubectl completion``."""
    parser = subparsers.add_parser(
        "completion",
        help="print the shell completion script (bash or zsh)",
        description="Print the completion script; e.g. in ~/.bashrc: source <(COMMAND completion bash).",
    )
    parser.add_argument("shell", choices=SHELLS)

    def run(args: argparse.Namespace) -> int:
        sys.stdout.write(completion_script(build(), args.shell))
        return 0

    parser.set_defaults(handler=run)


def register(subparsers: Any) -> None:
    """``bgpd install-shell-files`` (and ``bgpd completion``, through ``add_completion_command``)."""
    parser = subparsers.add_parser(
        "install-shell-files",
        help="write the man pages and bash/zsh completion of bgpd and bgpctl below a prefix",
        description=(
            "Write bgpd.1 and bgpctl.1 to PREFIX/share/man/man1, the bash completion to "
            "PREFIX/share/bash-completion/completions and the zsh completion to "
            "PREFIX/share/zsh/site-functions."
        ),
    )
    parser.add_argument(
        "--prefix", type=Path, default=DEFAULT_PREFIX, metavar="DIR", help=f"default: {DEFAULT_PREFIX}"
    )
    parser.set_defaults(handler=_run_install)


def _run_install(args: argparse.Namespace) -> int:
    try:
        written = install(args.prefix)
    except OSError as err:
        print(
            f"bgpd install-shell-files: {err.strerror or err}: {err.filename or args.prefix}", file=sys.stderr
        )
        return 1
    for path in written:
        print(path)
    return 0

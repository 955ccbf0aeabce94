"""Console-only commands, routing of every other line, and /help built from the registry and the tree."""

from __future__ import annotations

import io

import pytest
import typer

from proxmox_mpc.cli import build_app
from proxmox_mpc.console import slash
from proxmox_mpc.console.repl import execute


@pytest.fixture(scope="module")
def root():
    return typer.main.get_command(build_app())


@pytest.fixture
def session(root):
    calls: list[list[str]] = []

    def run_line(argv: list[str]) -> int:
        calls.append(argv)
        return 6 if argv[0] == "missing" else 0

    state = slash.Session(out=io.StringIO(), err=io.StringIO(), run_line=run_line, root=lambda: root)
    state.calls = calls  # type: ignore[attr-defined]
    return state


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ("/status", ["status"]),
        ("/plan --offline", ["plan", "--offline"]),
        ("vm list -o json", ["vm", "list", "-o", "json"]),
        ("  /logs --since 1h  ", ["logs", "--since", "1h"]),
        ("vm set web-1 'description=a b'", ["vm", "set", "web-1", "description=a b"]),
        ("/report-issue --out r.md", ["report-issue", "--out", "r.md"]),
    ],
)
def test_lines_run_through_the_cli_without_their_slash(session, line, argv):
    execute(line, session)
    assert session.calls == [argv]
    assert session.last_exit == 0


def test_exit_code_is_kept(session):
    execute("missing thing", session)
    assert session.last_exit == 6


@pytest.mark.parametrize("line", ["", "   ", "# a comment"])
def test_blank_lines_and_comments_do_nothing(session, line):
    execute(line, session)
    assert session.calls == []


def test_bad_quoting_is_one_sentence(session):
    execute('vm list "open', session)
    assert session.err.getvalue() == "pmpc: error: cannot read that line: No closing quotation.\n"
    assert session.calls == [] and session.last_exit == 64


@pytest.mark.parametrize("line", ["/exit", "/quit", "/q", "exit", "quit"])
def test_exit(session, line):
    with pytest.raises(slash.ExitConsole):
        execute(line, session)


def test_no_console_inside_the_console(session):
    execute("console", session)
    assert "already in the console" in session.err.getvalue()
    assert session.calls == []


def test_help_lists_registry_slash_commands_and_the_tree(session):
    execute("/help", session)
    text = session.out.getvalue()
    assert "/help, /?" in text and "/exit, /quit, /q" in text
    for name in slash.ROUTED:
        assert f"  /{name} " in text
    assert "  vm ..." in text and "  node ..." in text
    assert "not available" not in text


def test_help_of_one_command_runs_its_help(session):
    execute("/help /vm list", session)
    assert session.calls == [["vm", "list", "--help"]]


def test_the_fourteen_slash_commands_are_known():
    assert set(slash.slash_names()) >= {
        "init",
        "status",
        "sync",
        "help",
        "exit",
        "apply",
        "plan",
        "validate",
        "destroy",
        "test",
        "debug",
        "health",
        "logs",
        "report-issue",
    }


def test_find_by_alias():
    assert slash.find("q") is slash.find("exit")
    assert slash.find("status") is None

"""The fast completion path (commands/_fastcomplete.py) answers exactly as the Click path, without typer.

Each line is completed for bash, zsh and fish (both fish actions) in a fresh interpreter twice: through
the `pmpc` entry point (fast path, once the table is cached) and through cli.main() (the Click path only);
the outputs and exit statuses must be identical. Click keeps a command's help option names (-h, --help) in
a set, so their order may differ between interpreters: option names are compared as sets (the shells sort
what they offer anyway), everything else in order. The help text zsh and fish show beside a command or
option is part of what is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from proxmox_mpc.commands import _fastcomplete

FAST = "from proxmox_mpc.__main__ import main; main()"
CLICK = "from proxmox_mpc.cli import main; main()"

# Lines the table answers (the last word is the one being completed).
FAST_LINES = [
    [""],
    ["v"],
    ["-"],
    ["--"],
    ["vm", "st"],
    ["vm", "start", ""],
    ["vm", "start", "web-1", ""],
    ["vm", "start", "--debug", "w"],
    ["ct", "start", ""],
    ["--context", ""],
    ["vm", "list", "--context", "p"],
    ["vm", "start", "web-1", "--context", "lab", "d"],
    ["--workspace", "nowhere", "vm", "start", ""],
    ["vm", "list", "--node", ""],
    ["vm", "list", "--node=pv"],
    ["vm", "list", "--status", ""],
    ["vm", "list", "-l", "tag=w"],
    ["vm", "list", "-l", "pool="],
    ["vm", "list", "-l", "name=web-1,st"],
    ["vm", "list", "-l", "vmid="],
    ["vm", "list", "-l", ""],
    ["vm", "list", "-o", ""],
    ["vm", "list", "-o", "j"],
    ["vm", "list", "--output=c"],
    ["vm", "list", "--"],
    ["vm", "list", "--node", "pve1", "--"],
    ["vm", "list", "-l", "tag=web", "-"],
    ["vm", "list", "-o", "json", ""],
    ["storage", "content", ""],
    ["config", "use-context", ""],
    ["config", ""],
    ["vm", "snapshot", "rollback", "web-1", ""],
    ["vm", "snapshot", "rollback", "101", "b"],
    ["vm", "snapshot", "delete", "web-1", ""],
    ["vm", "snapshot", "delete", "web-1", "before", ""],
    ["ct", "snapshot", "rollback", "dns-1", ""],
]
# Lines the table leaves to the Click path (still completed, and identically).
CLICK_LINES = [
    ["vm", "exec", "web-1", "--", ""],
    ["nosuch", ""],
    ["vm", "start", "'web"],
    ["vm\x0bst"],
    ["--version", ""],
]


# How each shell's completion function calls pmpc (Typer's scripts): bash, zsh, fish's two questions.
SHELLS = ["bash", "zsh", "fish get-args", "fish is-args"]


def _env(words: list[str], shell: str = "bash") -> dict[str, str]:
    line = " ".join(["pmpc", *words])
    name, _, action = shell.partition(" ")
    env = {**os.environ, "_PMPC_COMPLETE": f"complete_{name}"}
    if name == "bash":
        return {**env, "COMP_WORDS": line, "COMP_CWORD": str(len(words))}
    return {**env, "_TYPER_COMPLETE_ARGS": line, "_TYPER_COMPLETE_FISH_ACTION": action}


def _run(program: str, words: list[str], extra: str = "", shell: str = "bash") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", extra + program], env=_env(words, shell), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def synced(cluster, cli):
    assert cli("sync").exit_code == 0
    cli("config", "set-context", "lab", "--host", "pve-lab")
    cli("config", "set-context", "prod", "--host", "pve-prod")
    assert cli("vm", "snapshot", "create", "web-1", "before", "-y").exit_code == 0
    assert cli("ct", "snapshot", "create", "dns-1", "ct-before", "-y").exit_code == 0
    # The first <TAB> takes the Click path and writes the table.
    assert _run(FAST, ["vm", ""]).returncode == 0
    assert _fastcomplete.load_table() is not None


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("words", FAST_LINES + CLICK_LINES, ids=lambda w: " ".join(w) or "''")
def test_fast_path_answers_as_the_click_path(synced, words, shell):
    click = _run(CLICK, words, shell=shell)
    fast = _run(FAST, words, shell=shell)
    assert click.returncode == fast.returncode, click.stderr + fast.stderr
    assert "Traceback" not in click.stderr + fast.stderr
    assert _same(fast.stdout, click.stdout, words[-1])
    answered = _fastcomplete.answer(_env(words, shell))
    if words in FAST_LINES:
        assert answered is not None
        output, status = answered
        assert status == click.returncode
        assert _same("" if output is None else output + "\n", click.stdout, words[-1])
    else:
        assert answered is None


def _same(fast: str, click: str, incomplete: str) -> bool:
    if incomplete.startswith("-"):
        return _items(fast) == _items(click)
    return fast == click


def _items(output: str) -> list[str] | None:
    """The lines offered, sorted (zsh's are wrapped in one `_arguments '*: :((...))'` call); None: no newline."""
    if not output.endswith("\n"):
        return None
    prefix, suffix = "_arguments '*: :((", "))'\n"
    if output.startswith(prefix) and output.endswith(suffix):
        output = output[len(prefix) : -len(suffix)] + "\n"
    return sorted(output.splitlines())


def test_live_names_reach_the_fast_path(synced):
    assert {"web-1", "101", "db-1"} <= set(_run(FAST, ["vm", "start", ""]).stdout.split())
    assert _run(FAST, ["vm", "list", "--context", ""]).stdout.split() == ["lab", "prod"]


@pytest.mark.parametrize("shell", SHELLS)
def test_fast_path_imports_neither_typer_click_nor_pydantic(synced, shell):
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'typer', 'click', 'pydantic', 'sqlalchemy'}), file=sys.stderr))\n"
    )
    done = _run(FAST, ["vm", "start", ""], extra=probe, shell=shell)
    assert done.returncode == 0 and done.stderr.strip() == "[]"
    if shell != "fish is-args":  # that question is answered by the exit status alone
        assert "web-1" in done.stdout.replace('"', " ").split()
    helped = _run(FAST, ["vm", "list", "--"], extra=probe + "sys.modules['rich'] = None\n", shell=shell)
    assert helped.returncode == 0 and helped.stderr.strip() == "[]"  # help text needs no rich either
    slow = _run(FAST, ["vm", "exec", "web-1", "--", ""], extra=probe, shell=shell)
    assert "typer" in slow.stderr  # the probe sees imports: a line left to Click imports typer


def test_a_stale_table_is_not_used_and_is_rebuilt(cli):
    path = _fastcomplete.table_path()
    assert not path.exists()
    assert _run(FAST, ["vm", "st"]).stdout.split() == ["start", "stop"]
    document = json.loads(path.read_text())
    assert document["fingerprint"] == _fastcomplete.fingerprint()
    # A table of other code: its commands must not be offered, and the next <TAB> replaces it.
    document["fingerprint"] = "0.0.0-old"
    document["tree"]["commands"]["vm"]["listed"] = [["stale-command", ""]]
    path.write_text(json.dumps(document))
    assert _fastcomplete.load_table() is None
    assert _run(FAST, ["vm", "st"]).stdout.split() == ["start", "stop"]
    rebuilt = json.loads(path.read_text())
    assert rebuilt["fingerprint"] == _fastcomplete.fingerprint()
    assert "start" in dict(rebuilt["tree"]["commands"]["vm"]["listed"])


def test_fingerprint_follows_the_command_modules(tmp_path, monkeypatch):
    (tmp_path / "commands").mkdir()
    module = tmp_path / "commands" / "vm.py"
    module.write_text("x = 1\n")
    (tmp_path / "cli.py").write_text("")
    (tmp_path / "__init__.py").write_text("")
    monkeypatch.setattr(_fastcomplete, "_PACKAGE", tmp_path)
    before = _fastcomplete.fingerprint()
    module.write_text("x = 22\n")
    assert _fastcomplete.fingerprint() != before



WIDTH_PROBE = (
    "import json\n"
    "from typer import rich_utils\n"
    "from proxmox_mpc.commands._fastcomplete import help_width\n"
    "print(json.dumps([help_width(), rich_utils._get_rich_console().width]))\n"
)


@pytest.mark.parametrize(
    "settings",
    [{}, {"COLUMNS": "57"}, {"TERMINAL_WIDTH": "61", "COLUMNS": "57"}, {"TERM": "dumb", "FORCE_COLOR": "1",
     "COLUMNS": "120"}, {"TERM": "dumb", "COLUMNS": "120"}, {"COLUMNS": "wide"}],
    ids=["plain", "columns", "typer-width", "dumb-terminal", "dumb-pipe", "bad-columns"],
)  # fmt: skip
def test_help_width_is_the_width_rich_wraps_at(settings):
    names = ("COLUMNS", "LINES", "TERMINAL_WIDTH", "TERM", "FORCE_COLOR", "TTY_COMPATIBLE", "PY_COLORS")
    names += ("GITHUB_ACTIONS", "_TYPER_FORCE_DISABLE_TERMINAL")
    env = {k: v for k, v in os.environ.items() if k not in names} | settings
    done = subprocess.run(
        [sys.executable, "-c", WIDTH_PROBE], env=env, capture_output=True, text=True, timeout=60, check=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    ours, rich = json.loads(done.stdout)
    assert ours == rich


def test_a_table_of_another_terminal_width_is_not_used(synced):
    # Help text rich wraps at 24 columns: the table written at the default width must not answer it.
    narrow = {"COLUMNS": "24"}
    assert _fastcomplete.fingerprint(narrow) != _fastcomplete.fingerprint()
    words = ["vm", "list", "--"]
    env = _env(words, "zsh") | narrow
    assert _fastcomplete.answer(env) is None
    wide = _run(CLICK, words, shell="zsh")
    click = subprocess.run([sys.executable, "-c", CLICK], env=env, capture_output=True, text=True, check=False)
    fast = subprocess.run([sys.executable, "-c", FAST], env=env, capture_output=True, text=True, check=False)
    assert len(click.stdout.splitlines()) > len(wide.stdout.splitlines())  # the narrow width wraps some help
    assert _items(fast.stdout) == _items(click.stdout)
    assert json.loads(_fastcomplete.table_path().read_text())["fingerprint"].endswith("-w24")

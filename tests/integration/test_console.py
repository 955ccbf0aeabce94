"""The console driven as a person would: a real pseudo-terminal (pexpect), the screen read back through a
terminal emulator (pyte), against the fakepve fixture cluster."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pexpect
import pyte
import pytest

from tests.helpers.signals import default_sigint

PROMPT = "pmpc:lab [127.0.0.1]> "
UP = "\x1b[A"
CTRL_C = "\x03"
CTRL_D = "\x04"
CTRL_U = "\x15"
TIMEOUT = 30.0


class Terminal:
    """pmpc in a pseudo-terminal, with the screen a person would see."""

    def __init__(self, cwd: Path, *args: str, rows: int = 200, cols: int = 120) -> None:
        env = dict(os.environ, TERM="xterm", COLUMNS=str(cols), LINES=str(rows))
        env.pop("NO_COLOR", None)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "proxmox_mpc", *args],
            cwd=str(cwd),
            env=env,
            dimensions=(rows, cols),
            preexec_fn=default_sigint,
        )
        # Answer the terminal's own queries (cursor position reports) as a real terminal does.
        self.screen.write_process_input = lambda data: self.child.send(data)

    def pump(self, seconds: float = 0.05) -> None:
        try:
            self.stream.feed(self.child.read_nonblocking(65536, timeout=seconds))
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(line for line in self.lines if line)

    def last_line(self) -> str:
        return next((line for line in reversed(self.lines) if line), "")

    def wait(self, predicate, what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if predicate():
                return
            if not self.child.isalive():
                self.pump()
                if predicate():
                    return
                break
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.text}")

    def wait_for_text(self, text: str, timeout: float = TIMEOUT) -> None:
        self.wait(lambda: text in self.text, repr(text), timeout)

    def prompts(self) -> int:
        return sum(1 for line in self.lines if line.startswith(PROMPT.rstrip()))

    def wait_for_prompt(self, count: int) -> None:
        self.wait(lambda: self.prompts() >= count and self.last_line() == PROMPT.rstrip(), f"prompt #{count}")

    def run(self, line: str) -> str:
        """Type a line, press Enter, wait for the next prompt; return what the command printed."""
        before = self.prompts()
        start = len([x for x in self.lines if x])
        self.child.send(line + "\r")
        self.wait_for_prompt(before + 1)
        shown = [x for x in self.lines if x]
        assert shown[start - 1] == PROMPT + line, shown[start - 1]
        return "\n".join(shown[start:-1])

    def exit_status(self) -> int | None:
        self.child.expect(pexpect.EOF, timeout=TIMEOUT)
        self.child.close()
        return self.child.exitstatus


@pytest.fixture
def workspace(cluster, isolated_env: Path) -> Path:
    (isolated_env / "pmpc.yaml").write_text("name: lab\n")
    return isolated_env


def start(cwd: Path, *args: str) -> Terminal:
    term = Terminal(cwd, *args)
    term.wait_for_prompt(1)
    return term


def test_a_session_as_a_person_drives_it(workspace):
    term = start(workspace)  # bare `pmpc` on a terminal opens the console
    assert "console. /help lists commands" in term.text

    status = term.run("/status")
    assert f"Workspace:  {workspace}" in status
    assert "Connection: ok (Proxmox VE 9.0.10)" in status

    synced = term.run("/sync")
    assert "+ vm/103 (db-1)" in synced
    assert "7 guests, 3 nodes" in synced

    listed = term.run("vm list")
    rows = [line.split() for line in listed.splitlines()]
    assert rows[0][:3] == ["VMID", "NAME", "STATUS"]
    assert rows[3][:3] == ["103", "db-1", "stopped"]

    failed = term.run("node get nope")
    assert failed == "pmpc: error: No node named 'nope' in this cluster (nodes: pve1, pve2, pve3)."

    plan = term.run("/plan")
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in plan

    # Tab completes a guest name the state store learnt from /sync.
    before = term.prompts()
    term.child.send("vm get db")
    term.child.send("\t")
    term.wait(lambda: term.last_line() == PROMPT + "vm get db-1", "completion of db-1")
    term.child.send("\r")
    term.wait_for_prompt(before + 1)
    assert any(line.split()[:2] == ["103", "db-1"] for line in term.lines)

    term.child.send("/exit\r")
    assert term.exit_status() == 0
    assert (workspace / ".pmpc" / "history").stat().st_mode & 0o077 == 0


def test_history_survives_a_restart(workspace):
    term = start(workspace, "console")
    term.run("node list -o name")
    term.child.send("/exit\r")
    assert term.exit_status() == 0

    again = start(workspace, "console")
    again.child.send(UP)  # the last command, not /exit
    again.wait(lambda: again.last_line() == PROMPT + "node list -o name", "history recall")
    before = again.prompts()
    again.child.send("\r")
    again.wait_for_prompt(before + 1)
    assert "node/pve1" in again.text and "node/pve3" in again.text
    again.child.send(CTRL_D)
    assert again.exit_status() == 0


def test_ctrl_c_cancels_the_running_command_not_the_console(workspace):
    term = start(workspace)
    before = term.prompts()
    term.child.send("logs --follow --source cluster\r")
    term.wait_for_text("No log entries found.")
    term.child.send(CTRL_C)
    term.wait_for_prompt(before + 1)
    assert "pmpc: interrupted." in term.text
    # Ctrl-C at the prompt throws the line away; the console stays.
    term.child.send("vm list")
    term.child.send(CTRL_C)
    term.wait(lambda: term.last_line() == PROMPT.rstrip() and term.prompts() == before + 2, "a fresh prompt")
    out = term.run("node list -o name")
    assert out.splitlines() == ["node/pve1", "node/pve2", "node/pve3"]
    term.child.send(CTRL_D)
    assert term.exit_status() == 0


def test_confirmation_prompts_work_inside_the_console(workspace):
    term = start(workspace)
    before = term.prompts()
    term.child.send("vm start db-1\r")
    term.wait_for_text("Start 1 target(s)? [y/N]")
    assert "About to start:" in term.text
    term.child.send("n\r")
    term.wait_for_prompt(before + 1)
    assert "pmpc: error: Aborted: nothing was changed." in term.text
    assert term.child.isalive()

    term.child.send("vm start db-1\r")
    term.wait_for_text("Start 1 target(s)? [y/N]")
    term.child.send("y\r")
    term.wait_for_prompt(before + 2)
    assert "vm/103 started" in term.text
    term.child.send("/exit\r")
    assert term.exit_status() == 0


def test_help_errors_and_the_console_going_on(workspace):
    term = start(workspace)
    shown = term.run("/help")
    assert "/exit, /quit, /q" in shown
    for name in (
        "/init",
        "/status",
        "/sync",
        "/apply",
        "/plan",
        "/validate",
        "/destroy",
        "/test",
        "/debug",
        "/health",
        "/logs",
        "/report-issue",
    ):
        assert any(line.strip().startswith(name + " ") for line in shown.splitlines()), name
    assert any(line.strip().startswith("vm ...") for line in shown.splitlines())

    assert term.run('vm list "unclosed') == "pmpc: error: cannot read that line: No closing quotation."
    assert term.run("nosuch").startswith("pmpc: error: No such command 'nosuch'.")
    assert term.run("console") == "pmpc: error: you are already in the console."
    assert term.run("--version").startswith("pmpc 0.")
    health = term.run("/health --storage-warn 99 --storage-fail 99.5 -o name")
    assert health.startswith("health/")
    term.child.send("/exit\r")
    assert term.exit_status() == 0


def test_init_inside_a_console_started_outside_a_workspace(cluster, isolated_env):
    term = Terminal(isolated_env, "console")
    term.wait(lambda: term.last_line() == "pmpc [127.0.0.1]>", "the first prompt")
    term.child.send("/init\r")
    term.wait(
        lambda: term.last_line().startswith("pmpc:") and term.last_line().endswith("[127.0.0.1]>"),
        "a prompt naming the new workspace",
    )
    assert (isolated_env / "pmpc.yaml").is_file()
    term.child.send("/exit\r")
    assert term.exit_status() == 0


def test_secrets_typed_in_the_console_stay_out_of_history(workspace):
    term = start(workspace)
    term.run("config set-context other --host 192.0.2.50 --token-id root@pam!x --token-secret s3cr3t-value")
    term.run("node list -o name")
    term.child.send(CTRL_D)
    assert term.exit_status() == 0
    history = (workspace / ".pmpc" / "history").read_text()
    assert "s3cr3t-value" not in history
    assert "node list -o name" in history


def test_console_without_a_terminal_refuses(cli):
    result = cli("console")
    assert result.exit_code == 64
    assert result.stdout == ""
    assert result.stderr == "pmpc: error: The console needs a terminal: run pmpc commands directly in scripts.\n"


def test_bare_pmpc_without_a_terminal_prints_help(cli):
    result = cli()
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: pmpc")
    assert "console" in result.stdout

"""The lazy root command tree: every listed command loads under its own name, help stays import-free."""

from __future__ import annotations

import pytest
import typer

from proxmox_mpc.cli import COMMANDS, build_app, load_command

SPEC_TREE = {
    "init", "status", "sync", "validate", "plan", "apply", "destroy", "test", "console", "node", "vm", "ct",
    "storage", "task", "generate", "state", "config", "health", "logs", "debug", "report-issue", "demo",
    "backup",
    # Wave 2 (CLI contract at kubectl level):
    "completion", "api", "schema",
    # Wave 2 (the whole cluster as code):
    "firewall",
    # The kind registry (issues 13 and 16): list and get verbs of the other kinds.
    "pool", "backup-job", "ha", "user", "group", "role", "acl",
}


def test_the_tree_is_spec_s_tree():
    assert set(COMMANDS) == SPEC_TREE


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_loads_under_its_name(name):
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name][1].endswith(".")


def test_root_group_resolves_lazily():
    root = typer.main.get_command(build_app())
    assert root.list_commands(None) == list(COMMANDS)  # type: ignore[attr-defined]
    assert root.commands.loaded == {}  # type: ignore[attr-defined]
    assert root.get_command(None, "node").name == "node"  # type: ignore[attr-defined]
    assert root.get_command(None, "nope") is None  # type: ignore[attr-defined]

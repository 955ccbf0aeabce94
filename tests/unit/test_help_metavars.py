"""Every command's --help shows metavars (`GUEST...`, `SECONDS`), never Python types or doubled ellipses."""

from __future__ import annotations

import re

import click
import pytest
import typer

from proxmox_mpc.cli import COMMANDS, build_app, load_command


def walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(click.Context(command)):
            sub = command.get_command(click.Context(command), name)
            if sub is not None:
                yield from walk(sub, (*path, name))


def all_helps():
    for name in COMMANDS:
        for path, command in walk(load_command(name), (name,)):
            with click.Context(command, info_name=" ".join(("pmpc", *path)), terminal_width=200) as ctx:
                yield " ".join(path), command.get_help(ctx)


def root_help() -> str:
    root = typer.main.get_command(build_app())
    with click.Context(root, info_name="pmpc", terminal_width=200) as ctx:
        return root.get_help(ctx)


HELPS = {**dict(all_helps()), "": root_help()}


@pytest.mark.parametrize("path", sorted(HELPS))
def test_help_has_no_python_types(path):
    text = HELPS[path]
    assert not re.search(r"<(list|int|float|str|bool|path|int range|float range)[^>]*>", text), text
    assert "...]..." not in text and "......" not in text, text


def test_guest_verbs_show_guest_and_seconds():
    assert "[GUEST...]" in HELPS["vm start"] and "GUEST...  VMIDs or names" in HELPS["vm start"]
    assert "--timeout SECONDS" in HELPS["vm start"] and "--memory SIZE" in HELPS["vm create"]
    assert "--context TEXT" in HELPS[""] and "--workspace PATH" in HELPS[""]

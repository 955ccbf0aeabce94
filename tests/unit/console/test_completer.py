"""Completion against the real command tree, with names from a fixed cache."""

from __future__ import annotations

import pytest
import typer
from prompt_toolkit.document import Document

from proxmox_mpc.cli import build_app
from proxmox_mpc.console.completer import NameCache, PmpcCompleter, split_line

NAMES = {
    "vm": ["101", "103", "db-1", "web-1"],
    "ct": ["201", "dns-1"],
    "guests": ["101", "103", "201", "db-1", "dns-1", "web-1"],
    "nodes": ["pve1", "pve2"],
    "storages": ["local", "local-lvm"],
    "tags": ["db", "web"],
    "pools": ["prod"],
}


@pytest.fixture(scope="module")
def root():
    return typer.main.get_command(build_app())


@pytest.fixture
def completer(root):
    return PmpcCompleter(lambda: root, NameCache(lambda: NAMES))


def complete(completer, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text), None)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vm get d", ["db-1"]),
        ("/sta", ["/status"]),
        ("/rep", ["/report-issue"]),
        ("/ex", ["/exit"]),
        ("nod", ["node"]),
        ("vm sn", ["snapshot"]),
        ("ct start ", ["201", "dns-1"]),
        ("node describe pve", ["pve1", "pve2"]),
        ("logs --node p", ["pve1", "pve2"]),
        ("logs -g w", ["web-1"]),
        ("vm list -o j", ["json", "jsonpath="]),
        ("vm list -o c", ["custom-columns="]),
        ("vm start 101 -o c", []),
        ("vm list -l tag=w", ["tag=web"]),
        ("vm list -l tag=web,name=d", ["tag=web,name=db-1"]),
        ("vm list -l status=r", ["status=running"]),
        ("vm list --sta", ["--status"]),
        ("--context prod vm li", ["list"]),
        ('vm get "db', ["db-1"]),
    ],
)
def test_completes(completer, text, expected):
    assert complete(completer, text) == expected


def test_first_word_offers_every_command_and_group(completer):
    offered = complete(completer, "")
    assert {"vm", "ct", "node", "health", "logs", "console", "status"} <= set(offered)


def test_flags_of_a_command(completer):
    offered = complete(completer, "health --")
    assert {"--storage-warn", "--storage-fail", "--output"} <= set(offered)


def test_nothing_for_free_text_arguments(completer):
    assert complete(completer, "vm list --limit ") == []


def test_names_are_loaded_once_and_reloaded_after_invalidate(root):
    loads = []

    def load():
        loads.append(1)
        return NAMES

    cache = NameCache(load)
    completer = PmpcCompleter(lambda: root, cache)
    complete(completer, "vm get ")
    complete(completer, "ct get ")
    assert len(loads) == 1
    cache.invalidate()
    complete(completer, "vm get ")
    assert len(loads) == 2


def test_a_failing_name_source_completes_nothing_but_never_raises(root):
    def broken():
        raise RuntimeError("database is gone")

    completer = PmpcCompleter(lambda: root, NameCache(broken))
    assert complete(completer, "vm get ") == []
    assert complete(completer, "vm ge") == ["get"]


@pytest.mark.parametrize(
    ("text", "words", "current"),
    [
        ("", [], ""),
        ("vm ", ["vm"], ""),
        ("vm li", ["vm"], "li"),
        ('vm get "web 1', ["vm", "get"], "web 1"),
    ],
)
def test_split_line(text, words, current):
    assert split_line(text) == (words, current)


def test_option_values_are_skipped_and_global_options_sit_anywhere(completer):
    # The console completes through the shell's source (Click): option values are not commands.
    assert complete(completer, "--context vm vm li") == ["list"]
    assert complete(completer, "vm start --context ") == []
    assert complete(completer, "vm list --node p") == ["pve1", "pve2"]

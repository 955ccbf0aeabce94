"""`pmpc schema` describes exactly the tree `--help` shows, command by command."""

from __future__ import annotations

import re

import pytest
from tests.helpers.runner import invoke

from proxmox_mpc.errors import ExitCode


@pytest.fixture(scope="module")
def schema():
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    return result.json()


def _help_options(text: str) -> set[str]:
    section = text.split("\nOptions:\n", 1)[1]
    found: set[str] = set()
    for line in section.splitlines():
        if line.startswith("  -"):
            left = re.split(r"\s{2,}", line.strip())[0]
            found |= set(re.findall(r"(?:^|[\s,/])(--?[a-zA-Z][\w-]*)", left))
    return found


def _schema_options(options: list[dict]) -> set[str]:
    names = {o["name"] for o in options} | {a for o in options for a in o["aliases"]}
    return names | {o["negation"] for o in options if o["negation"]}


def test_every_command_of_the_schema_matches_its_help(schema):
    assert len(schema["commands"]) > 80
    for command in schema["commands"]:
        helped = invoke(*command["path"].split(), "--help")
        assert helped.exit_code == 0, (command["path"], helped.output)
        assert _help_options(helped.stdout) == _schema_options(command["options"]) | {"-h", "--help"}, command["path"]
        for argument in command["arguments"]:
            assert argument["metavar"] in helped.stdout, (command["path"], argument)
        assert command["summary"] in helped.stdout.replace("\n  ", " ")


def test_the_root_help_lists_every_top_level_command_and_global_option(schema):
    root = invoke("--help").stdout
    tops = {c["path"].split()[0] for c in schema["commands"]}
    assert tops <= set(re.findall(r"(?m)^  ([a-z][\w-]*)\s", root.split("\nCommands:\n", 1)[1]))
    assert _help_options(root.split("\nCommands:\n", 1)[0]) == _schema_options(schema["global_options"]) | {
        "-h", "--help"
    }


def test_mutating_commands_take_dry_run_and_yes_and_exit_codes_are_the_table(schema):
    mutating = {c["path"] for c in schema["commands"] if c["mutating"]}
    assert {"vm start", "apply", "destroy", "init", "sync", "config set-context", "api post"} <= mutating
    assert not {"vm list", "plan", "api get", "schema"} & mutating
    for command in schema["commands"]:
        if command["mutating"]:
            assert "--dry-run" in _schema_options(command["options"]), command["path"]
        # Every verb that starts Proxmox tasks can return at once with the UPIDs.
        if command["mutating"] and command["path"].split()[0] in ("vm", "ct", "api", "backup"):
            assert "--no-wait" in _schema_options(command["options"]), command["path"]
    assert [e["code"] for e in schema["exit_codes"]] == [int(c) for c in ExitCode]
    start = next(c for c in schema["commands"] if c["path"] == "vm start")
    timeout = next(o for o in start["options"] if o["name"] == "--timeout")
    assert (timeout["type"], timeout["default"], timeout["min"]) == ("number", 300.0, 0)
    shell = next(c for c in schema["commands"] if c["path"] == "completion")["arguments"][0]
    assert (shell["type"], shell["choices"]) == ("choice", ["bash", "zsh", "fish"])
    assert "PMPC_HOST" in schema["environment"]


def test_schema_yaml_and_bad_format(schema):
    assert invoke("schema", "-o", "yaml").stdout.startswith("format_version: 1")
    bad = invoke("schema", "-o", "table")
    assert bad.exit_code == 64 and "-o/--output" in bad.stderr

"""Commands import only what they use: `vm list`, `sync` and `plan --offline` in a fresh process.

The libraries left out are those a command has no use for (a database for one API read, HTTP for an
offline plan, alembic when the schema is current, templates, the console, rich tables); loading them
would be paid on every run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.unit.test_startup_imports import PROBE

NOT_FOR = {
    ("vm", "list", "-o", "json"): (
        "sqlalchemy", "sqlmodel", "alembic", "jinja2", "rich", "prompt_toolkit", "tabulate", "fakepve",
    ),
    # A SQLite store at the current schema is written through sqlite3 alone (state/lite.py).
    ("sync",): (
        "sqlalchemy", "sqlmodel", "alembic", "jinja2", "rich", "prompt_toolkit", "tabulate", "fakepve", "proxmoxer",
    ),
    ("plan", "--offline"): (
        "httpx", "httpx_aiohttp", "aiohttp", "alembic", "jinja2", "rich", "prompt_toolkit", "tabulate", "fakepve",
    ),
}


def imported(argv: tuple[str, ...], watched: tuple[str, ...]) -> dict[str, object]:
    probe = PROBE.replace("json.loads(HEAVY)", repr(list(watched)))
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("argv", list(NOT_FOR), ids=lambda argv: " ".join(argv))
def test_command_leaves_unused_libraries_alone(cluster, cli, argv):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0  # the store is current and manifests exist
    report = imported(argv, NOT_FOR[argv])
    assert report["code"] == 0
    assert report["heavy"] == []


def test_the_probe_sees_a_command_that_imports_one(cluster, cli):
    # `generate` renders templates with jinja2: the probe sees it, so an empty list above means something.
    assert cli("init").exit_code == 0
    assert cli("sync").exit_code == 0
    assert imported(("generate", "ansible", "--dry-run"), ("jinja2",))["heavy"] == ["jinja2"]

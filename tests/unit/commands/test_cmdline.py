"""Global options anywhere on the line: moved before the command, values kept, `--` respected."""

from __future__ import annotations

import pytest

from proxmox_mpc.commands._cmdline import hoist_global_options
from proxmox_mpc.errors import UsageError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["vm", "list", "--context", "prod"], ["--context", "prod", "vm", "list"]),
        (["vm", "list", "--context=prod", "-o", "json"], ["--context=prod", "vm", "list", "-o", "json"]),
        (["vm", "--debug", "start", "web-1", "--insecure"], ["--debug", "--insecure", "vm", "start", "web-1"]),
        (["--workspace", "w", "plan", "--no-color"], ["--workspace", "w", "--no-color", "plan"]),
        (["sync", "--profile", "p.out"], ["--profile", "p.out", "sync"]),
        (["vm", "exec", "web-1", "--", "ls", "--debug"], ["vm", "exec", "web-1", "--", "ls", "--debug"]),
        (["vm", "list", "--debug=1"], ["vm", "list", "--debug=1"]),
    ],
    ids=["value", "equals", "flags", "already-first", "profile", "after-dashdash", "flag-with-value"],
)
def test_hoist(given, expected):
    assert hoist_global_options(given) == expected


def test_a_global_option_missing_its_value():
    with pytest.raises(UsageError, match="--context"):
        hoist_global_options(["vm", "list", "--context"])
    assert hoist_global_options(["vm", "list", "--context"], lenient=True) == ["--context"]


def test_a_console_line_may_name_another_context_for_that_line_only(tmp_path):
    import io

    from proxmox_mpc.cli import run_cli
    from proxmox_mpc.config import load_settings
    from proxmox_mpc.context import AppContext

    app_ctx = AppContext(loader=lambda: load_settings({}, None), out=io.StringIO(), err=io.StringIO())
    app_ctx.in_console = True
    assert run_cli(["config", "view", "--effective", "-o", "json", "--context", "nosuch"], obj=app_ctx) == 6
    assert "nosuch" in app_ctx.err.getvalue()
    assert run_cli(["config", "view", "--effective", "-o", "json"], obj=app_ctx) == 0
    assert app_ctx.flags == {}

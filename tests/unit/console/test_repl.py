"""The loop's pieces: the prompt, the history file, a workspace made by /init."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxmox_mpc.config import Settings
from proxmox_mpc.console.repl import (
    adopt_new_workspace,
    history_path,
    make_history,
    prompt_text,
    workspace_name,
)
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ConfigError


def ctx(workspace: Path | None = None, **settings) -> AppContext:
    return AppContext(loader=lambda: Settings.model_construct(**settings), workspace=workspace)


def test_prompt_shows_workspace_and_context(tmp_path):
    (tmp_path / "pmpc.yaml").write_text("name: lab\n")
    assert prompt_text(ctx(tmp_path, context="prod", host="pve.example"), workspace_name(tmp_path)) == (
        "pmpc:lab [prod]> "
    )
    assert prompt_text(ctx(None, context=None, host="10.0.0.5"), None) == "pmpc [10.0.0.5]> "


def test_prompt_survives_a_broken_configuration():
    def broken():
        raise ConfigError("bad")

    assert prompt_text(AppContext(loader=broken), None) == "pmpc [config error]> "


def test_workspace_name_falls_back_to_the_directory(tmp_path):
    (tmp_path / "pmpc.yaml").write_text("context: prod\n")
    assert workspace_name(tmp_path) == tmp_path.name


def test_history_lives_in_the_workspace_else_per_user(tmp_path, isolated_env):
    assert history_path(ctx(tmp_path)) == tmp_path / ".pmpc" / "history"
    assert history_path(ctx(None)).parts[-2:] == ("pmpc", "history")
    assert str(history_path(ctx(None))).startswith(str(tmp_path / "home"))


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("vm list", True),
        ("config set-context x --token-secret abc", False),
        ("config set-context x --password=abc", False),
        ("vm set 101 cipassword=abc", False),
        ("/exit", False),
    ],
)
def test_history_is_private_and_keeps_no_secret(tmp_path, line, kept):
    path = tmp_path / "h" / "history"
    history = make_history(path)
    history.store_string(line)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert (line in text) is kept
    assert "abc" not in text


def test_a_workspace_created_in_the_console_is_adopted(isolated_env):
    app_ctx = ctx(None)
    assert adopt_new_workspace(app_ctx) is False
    (isolated_env / "pmpc.yaml").write_text("name: fresh\n")
    assert adopt_new_workspace(app_ctx) is True
    assert app_ctx.workspace == isolated_env
    assert app_ctx.settings.workspace == str(isolated_env)


def test_unwritable_history_falls_back_to_memory_with_a_warning(tmp_path):
    import io

    from prompt_toolkit.history import InMemoryHistory

    from proxmox_mpc.console.repl import open_history

    (tmp_path / ".pmpc").write_text("a file where the directory should be")
    app_ctx = ctx(tmp_path)
    app_ctx.err = io.StringIO()
    assert isinstance(open_history(app_ctx), InMemoryHistory)
    assert app_ctx.err.getvalue().startswith("pmpc: warning: history is not saved: cannot write ")

"""Where the state database lives: PMPC_DATABASE_URL, the workspace's .pmpc/state.db, or the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxmox_mpc.config import Settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.services.state import cluster_key, database_url, workspace_lock_name
from proxmox_mpc.state.db import dialect_of, normalise_url


def ctx(workspace: Path | None = None, **settings: object) -> AppContext:
    return AppContext(loader=lambda: Settings(**settings), workspace=workspace)


def test_database_url_precedence(tmp_path: Path):
    (tmp_path / "pmpc.yaml").write_text("name: infra\n", encoding="utf-8")
    env_url = "postgresql+psycopg://pmpc:pw@db/pmpc"
    assert database_url(ctx(tmp_path, database_url=env_url)) == env_url
    assert database_url(ctx(tmp_path)) == f"sqlite:///{tmp_path / '.pmpc' / 'state.db'}"
    outside = database_url(ctx())
    assert outside.startswith("sqlite:///") and outside.endswith("/pmpc/state.db")
    assert "xdg_state_home" in outside


def test_lock_name_and_cluster_key(tmp_path: Path):
    (tmp_path / "pmpc.yaml").write_text("name: infra\n", encoding="utf-8")
    assert workspace_lock_name(ctx(tmp_path)) == "infra"
    (tmp_path / "pmpc.yaml").write_text("context: lab\n", encoding="utf-8")
    assert workspace_lock_name(ctx(tmp_path)) == tmp_path.name
    assert workspace_lock_name(ctx()) == "default"
    assert cluster_key(ctx(host="pve.example.org")) == "pve.example.org:8006"
    assert cluster_key(ctx(host="https://10.0.0.5:8443")) == "10.0.0.5:8443"


@pytest.mark.parametrize(
    ("url", "dialect", "normal"),
    [
        ("sqlite:////tmp/x.db", "sqlite", "sqlite:////tmp/x.db"),
        ("postgresql://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql", "postgresql+psycopg://u@h/db"),
    ],
)
def test_url_dialects(url, dialect, normal):
    assert dialect_of(url) == dialect
    assert normalise_url(url) == normal

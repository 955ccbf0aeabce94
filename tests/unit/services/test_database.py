"""services.database: where the state database lives, the workspace lock name and the cluster key."""

from __future__ import annotations

from pathlib import Path

from proxmox_mpc.config import Settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.services.database import cluster_key, database_url, workspace_lock_name


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

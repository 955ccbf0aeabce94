"""Plan UX: `plan -f FILE`, a hint for `apply FILE.yaml`, colours only on a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from proxmox_mpc.cli import run_cli
from proxmox_mpc.config import load_settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.colour import RESET, SYMBOL_COLOURS


def _workspace(cli, tmp_path: Path) -> Path:
    assert cli("init", str(tmp_path / "infra"), "--name", "infra").exit_code == 0
    ws = tmp_path / "infra"
    assert cli("--workspace", str(ws), "sync", "--import").exit_code == 0
    for name, memory in (("web-1", 4096), ("db-1", 16384)):
        path = ws / "resources" / "vms" / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["memory"] = memory
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return ws


def test_plan_f_takes_manifest_files_like_apply(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    web1 = ws / "resources" / "vms" / "web-1.yaml"
    one = cli("--workspace", str(ws), "plan", "-f", str(web1), "-o", "json")
    assert one.exit_code == 0, one.output
    assert [c["address"] for c in json.loads(one.stdout)["changes"]] == ["vm/web-1"]
    both = cli("--workspace", str(ws), "plan", "-o", "json")
    assert [c["address"] for c in json.loads(both.stdout)["changes"]] == ["vm/db-1", "vm/web-1"]


def test_apply_of_a_manifest_points_to_f(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    web1 = ws / "resources" / "vms" / "web-1.yaml"
    result = cli("--workspace", str(ws), "apply", str(web1), "-y")
    assert result.exit_code == 64
    assert f"is a manifest, not a saved plan: apply it with `pmpc apply -f {web1}`" in result.stderr
    assert cluster.vm(101).config["memory"] in (2048, "2048")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _plan_on(out: io.StringIO, ws: Path, *, no_color: bool) -> str:
    app_ctx = AppContext(
        loader=lambda: load_settings({"context": None}, ws), out=out, err=io.StringIO(), workspace=ws,
        no_color=no_color,
    )
    assert run_cli(["--workspace", str(ws), "plan"], obj=app_ctx) == 0
    return out.getvalue()


def test_plan_colours_only_on_a_terminal(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    coloured = _plan_on(_Tty(), ws, no_color=False)
    assert f"{SYMBOL_COLOURS['~']}~{RESET} vm/web-1" in coloured
    assert "\x1b[" not in _plan_on(_Tty(), ws, no_color=True)
    plain = _plan_on(io.StringIO(), ws, no_color=False)
    assert "\x1b[" not in plain and "  ~ vm/web-1" in plain
    assert "\x1b[" not in cli("--workspace", str(ws), "plan").stdout

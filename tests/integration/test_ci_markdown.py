"""`pmpc plan -o markdown` and `pmpc state drift -o markdown` against fakepve, as a CI job runs them."""

from __future__ import annotations

import json

from tests.helpers.workspace import edit_spec, imported_workspace


def test_plan_markdown_with_detailed_exitcode_and_a_saved_plan(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    clean = cli("--workspace", str(ws), "plan", "-o", "markdown", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert "**Plan: 0 to add, 0 to change, 0 to destroy.**" in clean.stdout
    assert "No changes: the cluster matches the manifests." in clean.stdout

    edit_spec(ws, "web-1", memory=4096)
    edit_spec(ws, "db-1", state="running")
    plan_file = tmp_path / "plan.json"
    result = cli("--workspace", str(ws), "plan", "-o", "markdown", "--detailed-exitcode", "--out", str(plan_file))
    assert result.exit_code == 2, result.output
    text = result.stdout
    assert "**Plan: 0 to add, 2 to change, 0 to destroy.**" in text
    assert "| 0 | 1 | 0 | 0 | 1 |" in text
    assert "<code>~</code> <b>vm/web-1 (101 on pve1)</b> will be updated in place" in text
    assert "- memory: 2048\n+ memory: 4096  (needs reboot)\n" in text
    assert "- state: stopped\n+ state: running" in text
    saved = json.loads(plan_file.read_text())
    assert [c["address"] for c in saved["changes"]] == ["vm/db-1", "vm/web-1"]
    # The saved plan applies as the comment showed it.
    applied = cli("--workspace", str(ws), "apply", str(plan_file), "-y")
    assert applied.exit_code == 0, applied.output
    assert cluster.vm(103).status == "running"


def test_markdown_is_refused_where_it_means_nothing(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    result = cli("--workspace", str(ws), "apply", "-o", "markdown", "-y")
    assert result.exit_code == 64, result.output
    assert "Unknown output format 'markdown' for -o/--output" in result.stderr
    assert cli("vm", "list", "-o", "markdown").exit_code == 64


def test_drift_markdown(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    clean = cli("state", "drift", "-o", "markdown", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert "**No drift since the last sync (" in clean.stdout and "| 0 | 0 | 0 | 0 | 0 |" in clean.stdout

    cluster.vm(101).config["memory"] = 4096
    cluster.vm(102).status = "stopped"
    cluster.vms.remove(cluster.vm(104))
    result = cli("state", "drift", "-o", "markdown", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    text = result.stdout
    assert "**Drift: 0 guest(s) appeared, 2 changed, 1 vanished since the last sync (" in text
    assert "| 0 | 1 | 0 | 1 | 1 |" in text
    assert "<code>~</code> <b>vm/101 (web-1)</b> changed on the cluster" in text
    assert "- config.memory: 2048\n+ config.memory: 4096\n" in text
    assert "<code>~</code> <b>vm/102 (web-2)</b> changed power state on the cluster" in text
    assert "<code>-</code> <b>vm/104 (batch-1)</b> vanished from the cluster" in text

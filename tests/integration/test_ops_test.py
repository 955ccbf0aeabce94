"""`pmpc test`: built-in checks of the manifests against fakepve, and the generated pytest suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def imported(cluster, cli, isolated_env: Path) -> Path:
    """A workspace whose manifests were imported from the fixture cluster."""
    assert cli("init").exit_code == 0
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    return isolated_env


def by_guest(result) -> dict[str, dict]:
    return {g["guest"]: g for g in json.loads(result.stdout)["guests"]}


def test_builtin_checks_pass_right_after_an_import(imported, cli):
    result = cli("test", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "builtin" and data["ok"] is True
    guests = by_guest(result)
    assert set(guests) == {
        "vm/web-1",
        "vm/web-2",
        "vm/db-1",
        "vm/batch-1",
        "vm/ubuntu-tmpl",
        "ct/dns-1",
        "ct/cache-1",
    }
    assert all(g["result"] == "pass" and g["failed"] == 0 for g in guests.values())
    assert "built-in checks: 7 guest(s) passed, 0 failed." in result.stderr


def test_a_guest_changed_behind_pmpcs_back_fails_alone(imported, cli, cluster):
    cluster.vm(102).status = "stopped"
    cluster.vm(104).config["memory"] = 4096
    result = cli("test", "-o", "json")
    assert result.exit_code == 1, result.output
    guests = by_guest(result)
    assert guests["vm/web-2"]["result"] == "fail"
    assert guests["vm/web-2"]["details"] == "state: want running, got stopped"
    assert guests["vm/batch-1"]["details"] == "memory: want 1024, got 4096"
    assert [g for g, r in guests.items() if r["result"] == "fail"] == ["vm/batch-1", "vm/web-2"]
    assert "pmpc: error: 2 of 7 guest(s) failed their tests: vm/batch-1, vm/web-2." in result.stderr


def test_a_deleted_guest_fails_and_the_table_shows_it(imported, cli, cluster):
    cluster.vms.remove(cluster.vm(103))
    result = cli("test")
    assert result.exit_code == 1, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["vm/db-1"][1] == "fail"
    assert "does not exist on the cluster" in result.stdout
    assert rows["vm/web-1"][1] == "pass"


def test_selector_limits_the_guests(imported, cli):
    result = cli("test", "-l", "name=web-*", "-o", "json")
    assert result.exit_code == 0, result.output
    assert set(by_guest(result)) == {"vm/web-1", "vm/web-2"}


def test_no_manifests_is_a_usage_error(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    result = cli("test")
    assert result.exit_code == 64
    assert result.stdout == ""
    assert "No manifests to test" in result.stderr


def test_generated_pytest_suite_runs_and_reports_per_guest(imported, cli, cluster):
    generated = cli("generate", "tests")
    assert generated.exit_code == 0, generated.output
    cluster.vm(102).status = "stopped"
    result = cli("test", "-o", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "generated"
    guests = {g["guest"]: g for g in data["guests"]}
    assert guests["web-2"]["result"] == "fail"
    assert "test_power_state" in guests["web-2"]["details"]
    assert guests["web-1"]["result"] == "pass" and guests["web-1"]["passed"] >= 3
    assert [g for g, r in guests.items() if r["result"] == "fail"] == ["web-2"]
    # --builtin skips the generated suite.
    builtin = cli("test", "--builtin", "-o", "json")
    assert json.loads(builtin.stdout)["mode"] == "builtin"


def test_hand_written_suite_in_tests_is_grouped_by_parameter(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    suite = isolated_env / "tests" / "test_mine.py"
    suite.parent.mkdir(exist_ok=True)
    suite.write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('guest', ['alpha', 'beta'])\n"
        "def test_up(guest):\n"
        "    assert guest == 'alpha', 'beta is down'\n\n"
        "def test_plain():\n"
        "    pass\n"
    )
    result = cli("test", "-o", "json")
    assert result.exit_code == 1, result.output
    guests = {g["guest"]: g for g in json.loads(result.stdout)["guests"]}
    assert guests["alpha"]["result"] == "pass"
    assert guests["beta"]["result"] == "fail" and "beta is down" in guests["beta"]["details"]
    assert guests["test_mine"]["result"] == "pass"

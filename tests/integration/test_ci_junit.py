"""`pmpc test --junit FILE` against fakepve: built-in checks and the generated suite, as JUnit XML."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from junitparser import JUnitXml


def _cases(path: Path) -> dict[tuple[str, str], str | None]:
    """Return {(guest, check): failure message or None}."""
    xml = JUnitXml.fromfile(str(path))
    return {
        (suite.name, case.name): (case.result[0].message if case.result else None) for suite in xml for case in suite
    }


def test_builtin_checks_as_junit(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    cluster.vm(102).status = "stopped"
    report = isolated_env / "reports" / "pmpc.xml"
    result = cli("test", "--junit", str(report))
    assert result.exit_code == 1, result.output
    assert "pmpc: error: 1 of 7 guest(s) failed their tests: vm/web-2." in result.stderr
    cases = _cases(report)
    assert cases[("vm/web-2", "state")] == "state: want running, got stopped"
    assert cases[("vm/web-1", "state")] is None and cases[("ct/dns-1", "exists")] is None
    assert {guest for guest, _ in cases} == {
        "vm/web-1", "vm/web-2", "vm/db-1", "vm/batch-1", "vm/ubuntu-tmpl", "ct/dns-1", "ct/cache-1",
    }  # fmt: skip
    assert [name for (guest, name), failed in cases.items() if failed] == ["state"]


def test_generated_suite_as_junit(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    assert cli("generate", "tests").exit_code == 0
    cluster.vm(102).status = "stopped"
    report = isolated_env / "junit.xml"
    result = cli("test", "--junit", str(report), "-o", "json")
    assert result.exit_code == 1, result.output
    cases = _cases(report)
    failed = {key: message for key, message in cases.items() if message}
    assert [guest for guest, _ in failed] == ["web-2"]
    assert all(name.startswith("test_power_state") for _, name in failed)
    assert any(guest == "web-1" for guest, _ in cases)


def test_junit_file_that_cannot_be_written_is_one_sentence(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    (isolated_env / "blocker").write_text("a file, not a directory")
    result = cli("test", "--junit", str(isolated_env / "blocker" / "report.xml"))
    assert result.exit_code == 64, result.output
    assert "vm/web-1" in result.stdout  # the results are printed before the report fails
    assert result.stderr.splitlines()[-1].startswith("pmpc: error: Cannot write the JUnit report to ")
    assert "Traceback" not in result.stderr


def test_the_report_is_readable_by_other_users_and_replaces_the_old_one(cluster, cli, isolated_env):
    """A CI artifact uploader may run as another user: the report is not private, unlike config files."""
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    report = isolated_env / "junit.xml"
    report.write_text("stale")
    result = cli("test", "--builtin", "--junit", str(report))
    assert result.exit_code == 0, result.output
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(report.stat().st_mode) == 0o666 & ~umask
    assert _cases(report)[("vm/web-1", "exists")] is None

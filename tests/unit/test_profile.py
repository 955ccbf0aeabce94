"""`--profile FILE` and PMPC_PROFILE write a cProfile of the whole run (readable by pstats)."""

from __future__ import annotations

import pstats
from pathlib import Path

import pytest

from proxmox_mpc.profiling import profile_target


def profiled_functions(path: Path) -> set[str]:
    stats = pstats.Stats(str(path))
    return {f"{Path(file).name}:{name}" for file, _, name in stats.stats}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--profile", "a.prof", "sync"], None, "a.prof"),
        (["vm", "list", "--profile=b.prof"], None, "b.prof"),
        (["vm", "exec", "web-1", "--", "--profile", "x"], None, None),
        (["sync"], "c.prof", "c.prof"),
        (["--profile", "a.prof"], "c.prof", "a.prof"),
        (["sync"], None, None),
    ],
    ids=["flag", "flag-equals-anywhere", "after-double-dash", "environment", "flag-wins", "neither"],
)
def test_profile_target(argv, env, expected, monkeypatch):
    if env:
        monkeypatch.setenv("PMPC_PROFILE", env)
    assert profile_target(argv) == expected


def test_profile_flag_writes_the_stats_of_the_run(cli, tmp_path):
    target = tmp_path / "run.prof"
    result = cli("--profile", str(target), "init", str(tmp_path / "ws"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "pmpc.yaml").is_file()
    assert f"profile written to {target}" in result.stderr
    assert "profile written" not in result.stdout
    # The command's own module ran under the profiler (its import included).
    assert any(name.startswith("workspace.py:") for name in profiled_functions(target))


def test_pmpc_profile_variable_writes_the_stats(cli, tmp_path, monkeypatch):
    target = tmp_path / "env.prof"
    monkeypatch.setenv("PMPC_PROFILE", str(target))
    result = cli("init", str(tmp_path / "ws"))
    assert result.exit_code == 0, result.output
    assert any(name.startswith("cli.py:") for name in profiled_functions(target))


def test_an_unwritable_profile_is_a_warning_not_a_failure(cli, tmp_path):
    target = tmp_path / "missing-dir" / "run.prof"
    result = cli("--profile", str(target), "init", str(tmp_path / "ws"))
    assert result.exit_code == 0, result.output
    assert "the profile could not be written" in result.stderr
    assert not target.exists()


def test_a_failing_command_is_profiled_and_keeps_its_exit_code(cli, tmp_path):
    target = tmp_path / "fail.prof"
    result = cli("--profile", str(target), "vm", "list", "--sort-by")
    assert result.exit_code == 64, result.output
    assert target.is_file()

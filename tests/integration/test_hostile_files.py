"""Every file pmpc writes, with a symlink planted in its way: refused by name, the outside untouched.

The symlinks point at a directory outside tmp_path; each case checks afterwards that nothing
there changed and that no temporary was left next to the files pmpc did write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

SECRET = "outside, must stay as it is\n"


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("outside")
    (directory / "file.txt").write_text(SECRET, encoding="utf-8")
    return directory


@dataclass
class Case:
    id: str
    plant: Callable[[Path, Path], None]  # (workspace, outside)
    args: tuple[str, ...]
    exit_code: int
    names: str  # what the error names ("" when the command succeeds)


def _link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target, target_is_directory=target.is_dir())


CASES = [
    Case(
        "generate-planted-temporary",
        lambda ws, out: _link(ws / "terraform" / ".vms.tf.pmpc-tmp", out / "file.txt"),
        ("generate", "terraform"),
        0,
        "",
    ),
    Case(
        "generate-output-dir-is-a-link",
        lambda ws, out: _link(ws / "terraform", out),
        ("generate", "terraform"),
        1,
        "terraform",
    ),
    Case(
        "generate-file-is-a-link",
        lambda ws, out: _link(ws / "ansible" / "ansible.cfg", out / "file.txt"),
        ("generate", "ansible"),
        1,
        "ansible.cfg",
    ),
    Case(
        "import-manifest-is-a-dangling-link",
        lambda ws, out: _link(ws / "resources" / "vms" / "web-1.yaml", out / "web-1.yaml"),
        ("sync", "--import"),
        1,
        "web-1.yaml",
    ),
    Case(
        "import-kind-dir-is-a-link",
        lambda ws, out: _link(ws / "resources" / "cts", out),
        ("sync", "--import"),
        1,
        "cts",
    ),
    Case(
        "plan-out-is-a-link",
        lambda ws, out: _link(ws / "plan.json", out / "file.txt"),
        ("plan", "--out", "plan.json"),
        1,
        "plan.json",
    ),
    Case(
        "debug-out-is-a-link",
        lambda ws, out: _link(ws / "debug.txt", out / "file.txt"),
        ("debug", "--out", "debug.txt"),
        1,
        "debug.txt",
    ),
    Case(
        "report-out-is-a-link",
        lambda ws, out: _link(ws / "report.md", out / "file.txt"),
        ("report-issue", "--out", "report.md"),
        1,
        "report.md",
    ),
    Case(
        "init-gitignore-is-a-link",
        lambda ws, out: _link(ws / ".gitignore", out / "file.txt"),
        ("init", "."),
        1,
        ".gitignore",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_planted_symlink_is_refused_and_nothing_outside_changes(
    cluster, cli, state_url, isolated_env, outside, case
):
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    case.plant(isolated_env, outside)
    result = cli(*case.args)
    assert result.exit_code == case.exit_code, result.output
    if case.names:
        lines = result.stderr.strip().splitlines()
        assert any(case.names in line and "symbolic link" in line for line in lines), result.output
        assert "internal error" not in result.stderr
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["file.txt"]
    assert [p for p in isolated_env.rglob("*.pmpc-tmp") if not p.is_symlink()] == []


def test_an_import_writes_every_other_guest_beside_a_refused_link(cluster, cli, state_url, isolated_env, outside):
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    _link(isolated_env / "resources" / "vms" / "web-1.yaml", outside / "web-1.yaml")
    result = cli("sync", "--import")
    assert result.exit_code == 1, result.output
    written = sorted(p.name for p in (isolated_env / "resources").rglob("*.yaml") if not p.is_symlink())
    # Six guests beside the refused link and, since the kind registry, the fixture's pool (prod.yaml) and
    # storage definitions (local.yaml, local-lvm.yaml).
    assert "web-2.yaml" in written and "dns-1.yaml" in written and "prod.yaml" in written and len(written) == 9
    assert cli("validate", "--offline").exit_code == 0


def test_the_contexts_file_is_not_written_through_a_link(cli, tmp_path, outside, monkeypatch):
    (outside / "contexts.yaml").write_text("contexts: {}\n", encoding="utf-8")
    link = tmp_path / "contexts.yaml"
    link.symlink_to(outside / "contexts.yaml")
    monkeypatch.setenv("PMPC_CONFIG", str(link))
    result = cli("config", "set-context", "lab", "--host", "pve.example")
    assert result.exit_code == 1 and "symbolic link" in result.stderr and str(link) in result.stderr, result.output
    assert (outside / "file.txt").read_text(encoding="utf-8") == SECRET
    assert (outside / "contexts.yaml").read_text(encoding="utf-8") == "contexts: {}\n"

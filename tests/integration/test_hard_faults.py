"""Hard faults and odd input against the fixture cluster: one sentence, the right exit code, nothing half-done.

A full disk (ENOSPC) and a read-only file system (EROFS) are injected at the one call that writes
file data (`safeio.files._os_write`), which every file pmpc writes goes through; the read-only
database and workspace test uses a real read-only bind mount in a private mount namespace and is
skipped where the test cannot make one (unprivileged runs). Everything else is real.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proxmox_mpc.safeio import files

LONG_NAME = "a" * 62 + "-long-vm"  # 70 characters: PVE accepts it


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("pmpc: warning:")]
    assert len(lines) == 1, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    return lines[0]


def _no_leftovers(root: Path) -> None:
    assert [p for p in root.rglob("*") if p.name.endswith(".pmpc-tmp")] == []
    assert [p for p in root.rglob("*") if p.is_file() and p.stat().st_size == 0 and p.suffix != ".db"] == []


# ----------------------------------------------------------------------------- 4 and 6: full and read-only disks

WRITERS = [
    ("generate", ("generate", "terraform")),
    ("sync-import", ("sync", "--import")),
    ("plan-out", ("plan", "--out", "plan.json")),
    ("debug-out", ("debug", "--out", "debug.txt")),
    ("report-issue", ("report-issue", "--out", "report.md")),
    ("init", ("init", "fresh")),
    ("set-context", ("config", "set-context", "lab", "--host", "pve.example")),
]


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
    ids=["disk-full", "read-only"],
)
@pytest.mark.parametrize("args", [a for _, a in WRITERS], ids=[i for i, _ in WRITERS])
def test_a_write_that_fails_is_one_sentence_and_leaves_nothing(
    cluster, cli, state_url, isolated_env, monkeypatch, args, code, words
):
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")

    def failing_write(fd: int, data: bytes) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files, "_os_write", failing_write)
    result = cli(*args)
    assert result.exit_code == 1, result.output
    line = _one_line(result.stderr)
    assert words in line and "Cannot write" in line, result.output
    _no_leftovers(isolated_env)
    _no_leftovers(Path(os.environ["XDG_CONFIG_HOME"]))
    assert not (isolated_env / "resources").exists() or not list((isolated_env / "resources").rglob("*.yaml"))


def test_the_lock_is_free_after_a_write_failed(cluster, cli, state_url, isolated_env, monkeypatch):
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    monkeypatch.setattr(files, "_os_write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    assert cli("sync", "--import").exit_code == 1
    monkeypatch.setattr(files, "_os_write", os.write)
    again = cli("sync", "--import")
    assert again.exit_code == 0, again.output
    # The fixture's 7 guests, its one pool and its two storage definitions (the kinds are imported too).
    written = sorted(
        p.relative_to(isolated_env / "resources").as_posix() for p in (isolated_env / "resources").rglob("*.yaml")
    )
    assert len([p for p in written if p.startswith(("vms/", "cts/"))]) == 7 and "pools/prod.yaml" in written
    assert "storages/local.yaml" in written and "storages/local-lvm.yaml" in written
    assert len(written) == 10


def _can_bind_read_only() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind / /mnt 2>/dev/null || mount --bind /tmp /tmp"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_bind_read_only(), reason="needs root and a private mount namespace (unshare -m)")
def test_read_only_commands_work_on_a_read_only_workspace_and_database(cluster, cli, isolated_env, monkeypatch):
    """A real read-only bind mount of the workspace, its .pmpc/state.db included."""
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    assert cli("sync", "--import").exit_code == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for args in (("state", "show", "-o", "json"), ("plan", "--offline", "-o", "json"), ("validate", "--offline")):
        script = (
            f'mount --bind "{isolated_env}" "{isolated_env}" && mount -o remount,bind,ro "{isolated_env}" && '
            f'touch "{isolated_env}/probe" 2>/dev/null && exit 99; '
            f'exec "{sys.executable}" -m proxmox_mpc ' + " ".join(args)
        )
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", script],
            cwd=isolated_env,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "internal error" not in done.stderr
        if args[0] == "state":
            assert len(json.loads(done.stdout)) == 7


# ----------------------------------------------------------------------------- 6: CA files and odd API values


def _junk_pem(directory: Path) -> Path:
    (directory / "junk.pem").write_text("not a certificate\n", encoding="utf-8")
    return directory / "junk.pem"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.pem", "No such file or directory"),
        (_junk_pem, "it holds no PEM certificate"),
        (lambda d: d, "Is a directory"),
    ],
    ids=["missing", "not-a-certificate", "a-directory"],
)
def test_a_bad_ca_file_is_one_sentence(cluster, cli, tmp_path, monkeypatch, make, words):
    path = make(tmp_path)
    monkeypatch.setenv("PMPC_CA_FILE", str(path))
    result = cli("vm", "list")
    assert result.exit_code == 1, result.output
    line = _one_line(result.stderr)
    assert f"CA file {path}: {words}" in line, result.output


def test_memory_of_ten_to_the_thirty_does_not_end_a_sync(cluster, cli, state_url, isolated_env):
    cluster.vm(104).config["memory"] = 10**30
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    assert "vm/104" in result.stderr and "not imported" in result.stderr
    assert cli("validate", "--offline").exit_code == 0
    shown = json.loads(cli("state", "show", "104", "-o", "json").stdout)
    assert shown["vmid"] == 104


# ----------------------------------------------------------------------------- 3: odd guests and imports


def test_odd_guests_never_sink_an_import(cluster, cli, state_url, isolated_env):
    cluster.add_vm(105, LONG_NAME, node="pve1", status="stopped", config={"cores": 1, "memory": 512})
    cluster.add_vm(106, "web-1", node="pve2", status="stopped", config={"cores": 1, "memory": 512})
    cluster.add_vm(107, "Web-1", node="pve2", status="stopped", config={"cores": 1, "memory": 512})
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "not imported" in line]
    assert len(warnings) == 1 and "vm/106" in warnings[0] and "vm/101" in warnings[0], result.output
    written = sorted(p.name for p in (isolated_env / "resources").rglob("*.yaml"))
    assert f"{LONG_NAME}.yaml" in written
    assert "web-1-101.yaml" in written and "Web-1-107.yaml" in written
    # 9 guests, the fixture's pool `prod` and its storages `local` and `local-lvm`.
    assert len(written) == 12 and "prod.yaml" in written and "local-lvm.yaml" in written
    valid = cli("validate", "--offline")
    assert valid.exit_code == 0, valid.output
    plan = cli("plan", "--offline", "-o", "json")
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["changes"] == []


# ----------------------------------------------------------------------------- 8: insecure is never silent

INSECURE_COMMANDS = [("vm", "list"), ("state", "show"), ("status",), ("health",), ("debug",)]


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("args", INSECURE_COMMANDS, ids=[" ".join(a) for a in INSECURE_COMMANDS])
def test_insecure_tls_warns_once_on_every_command(cluster, cli, state_url, monkeypatch, args, how):
    if how == "flag":
        full = ("--insecure", *args)
        reason = "--insecure"
    else:
        monkeypatch.setenv("PMPC_VERIFY_TLS", "false")
        full = args
        reason = "PMPC_VERIFY_TLS=false"
    result = cli(*full)
    assert result.exit_code in (0, 1), result.output
    warnings = [line for line in result.stderr.splitlines() if "TLS verification is off" in line]
    assert len(warnings) == 1 and reason in warnings[0], result.output
    if args[0] in ("status", "health", "debug"):
        assert "INSECURE" in result.stdout, result.output
    monkeypatch.setenv("PMPC_NO_INSECURE_WARNING", "1")
    quiet = cli(*full)
    assert "TLS verification is off" not in quiet.stderr


def test_verified_tls_says_so_and_does_not_warn(cluster, cli, state_url):
    result = cli("status")
    assert result.exit_code == 0 and "TLS verification is off" not in result.stderr
    assert "verified (CA file" in result.stdout

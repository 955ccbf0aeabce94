"""Shell completion: the generated scripts run in real shells and offer live names from a synced store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proxmox_mpc.commands._fastcomplete import load_table

BIN = str(Path(sys.executable).parent)


def _shell_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


def _bash_complete(script: Path, *words: str) -> list[str]:
    """Source the script in a real bash, complete the last word of `words`, return COMPREPLY."""
    array = " ".join(f"'{w}'" for w in words)
    program = (
        f"source '{script}'\n"
        f"COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}\n"
        "_pmpc_completion pmpc\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True, text=True, env=_shell_env(), timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def bash_script(cli, tmp_path) -> Path:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed on this machine")
    result = cli("completion", "bash")
    assert result.exit_code == 0, result.output
    script = tmp_path / "pmpc.bash"
    script.write_text(result.stdout)
    return script


def test_bash_completes_commands_live_names_and_contexts(cluster, cli, bash_script):
    assert cli("sync").exit_code == 0
    cli("config", "set-context", "lab", "--host", "pve-lab")
    cli("config", "set-context", "prod", "--host", "pve-prod")

    assert _bash_complete(bash_script, "pmpc", "vm", "st") == ["start", "stop"]
    vms = _bash_complete(bash_script, "pmpc", "vm", "start", "")
    assert {"web-1", "web-2", "db-1", "batch-1", "ubuntu-tmpl", "101", "9000"} <= set(vms)
    assert "dns-1" not in vms  # a container: `vm` offers VMs only
    assert "dns-1" in _bash_complete(bash_script, "pmpc", "ct", "start", "")
    assert _bash_complete(bash_script, "pmpc", "--context", "") == ["lab", "prod"]
    assert _bash_complete(bash_script, "pmpc", "vm", "list", "--context", "p") == ["prod"]
    assert _bash_complete(bash_script, "pmpc", "vm", "list", "--node", "") == ["pve1", "pve2", "pve3"]
    assert _bash_complete(bash_script, "pmpc", "vm", "list", "-l", "tag=w") == ["tag=web"]
    assert _bash_complete(bash_script, "pmpc", "vm", "list", "-l", "pool=") == ["pool=prod"]
    assert "local-lvm" in _bash_complete(bash_script, "pmpc", "storage", "content", "")


def test_completion_without_a_store_offers_commands_and_no_names(cli, bash_script):
    assert _bash_complete(bash_script, "pmpc", "vm", "start", "") == []
    assert "completion" in _bash_complete(bash_script, "pmpc", "comp")


def test_groups_no_longer_advertise_their_own_completion_options(cli):
    for args in (("vm", "--help"), ("init", "--help"), ("config", "--help")):
        result = cli(*args)
        assert result.exit_code == 0 and "--install-completion" not in result.stdout
    root = cli("--help")
    assert "--install-completion" in root.stdout
    assert cli("completion", "tcsh").exit_code == 64


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse(cli, tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed on this machine (.ci/run installs it)")
    result = cli("completion", shell)
    assert result.exit_code == 0 and "_PMPC_COMPLETE" in result.stdout
    script = tmp_path / f"pmpc.{shell}"
    script.write_text(result.stdout)
    done = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def _shell_script(cli, tmp_path: Path, shell: str) -> Path:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed on this machine (.ci/run installs it)")
    result = cli("completion", shell)
    assert result.exit_code == 0, result.output
    script = tmp_path / f"pmpc.{shell}"
    script.write_text(result.stdout)
    return script


def _zsh_complete(script: Path, *words: str) -> list[tuple[str, str]]:
    """Source the script in a real zsh, run its completion function for `words` (the last one incomplete) and
    return the (value, help) pairs it hands to `_arguments` (stubbed to print its spec: no terminal needed)."""
    array = " ".join(f"'{w}'" for w in words)
    program = (
        "compdef() { :; }\n_arguments() { print -rl -- \"$@\"; }\n_files() { print -r -- FILES; }\n"
        f"source '{script}'\nwords=({array}); CURRENT={len(words)}\n_pmpc_completion\n"
    )
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, env=_shell_env(),
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = done.stdout.strip()
    if spec == "FILES":
        return []
    assert spec.startswith("*: :((") and spec.endswith("))"), spec
    return re.findall(r'"((?:[^"]|"")*)"(?::"((?:[^"]|"")*)")?', spec[6:-2])


def _fish_complete(script: Path, line: str) -> list[tuple[str, str]]:
    """Source the script in a real fish and ask it what <TAB> offers after `line`: (value, help) pairs."""
    program = f"source '{script}'; complete -C '{line}'"
    done = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True,
                          env=_shell_env(), timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [tuple((entry + "\t").split("\t")[:2]) for entry in done.stdout.splitlines() if entry]  # type: ignore[misc]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_complete_commands_with_help_and_live_names(cluster, cli, tmp_path, shell):
    script = _shell_script(cli, tmp_path, shell)
    assert cli("sync").exit_code == 0
    cli("config", "set-context", "lab", "--host", "pve-lab")
    cli("config", "set-context", "prod", "--host", "pve-prod")

    def offered(*words: str) -> list[tuple[str, str]]:
        if shell == "zsh":
            return _zsh_complete(script, "pmpc", *words)
        return _fish_complete(script, " ".join(["pmpc", *words]))

    for _ in range(2):  # the first <TAB> writes the completion table, the second is answered from it
        commands = dict(offered("vm", "st"))
        assert sorted(commands) == ["start", "stop"]
        assert commands["start"].startswith("Start VMs")
        vms = {value for value, _ in offered("vm", "start", "")}
        assert {"web-1", "db-1", "101"} <= vms and "dns-1" not in vms
        assert [value for value, _ in offered("--context", "")] == ["lab", "prod"]
        assert [value for value, _ in offered("vm", "list", "--node", "")] == ["pve1", "pve2", "pve3"]
        options = dict(offered("vm", "list", "--no"))
        assert options["--node"] == "Only this node."
        assert load_table() is not None


def test_snapshot_names_of_the_guest_on_the_line_are_offered(cluster, cli, bash_script):
    """The store keeps only a guest's current snapshot: pmpc remembers the names it lists, creates and deletes."""
    assert cli("sync").exit_code == 0
    for snapshot in ("before-upgrade", "nightly"):
        assert cli("vm", "snapshot", "create", "web-1", snapshot, "-y").exit_code == 0
    assert cli("ct", "snapshot", "create", "dns-1", "ct-snap", "-y").exit_code == 0

    def offered(*words: str) -> list[str]:
        return _bash_complete(bash_script, "pmpc", *words)

    for _ in range(2):  # the Click path (writes the completion table), then the fast path
        assert offered("vm", "snapshot", "rollback", "web-1", "") == ["before-upgrade", "nightly"]
        assert offered("vm", "snapshot", "rollback", "101", "n") == ["nightly"]
        assert offered("ct", "snapshot", "rollback", "dns-1", "") == ["ct-snap"]
        assert offered("vm", "snapshot", "rollback", "db-1", "") == []  # another guest's snapshots are not
        deleting = offered("vm", "snapshot", "delete", "web-1", "")
        assert deleting[:2] == ["before-upgrade", "nightly"] and "db-1" in deleting  # then GUEST... again

    assert cli("vm", "snapshot", "delete", "web-1", "nightly", "-y").exit_code == 0
    assert offered("vm", "snapshot", "rollback", "web-1", "") == ["before-upgrade"]
    # A snapshot made outside pmpc is learnt when pmpc lists the guest's snapshots.
    node = json.loads(cli("vm", "get", "web-1", "-o", "json").stdout)["node"]
    assert cli("api", "post", f"/nodes/{node}/qemu/101/snapshot", "snapname=outside", "-y").exit_code == 0
    assert offered("vm", "snapshot", "rollback", "web-1", "") == ["before-upgrade"]
    assert cli("vm", "snapshot", "list", "web-1").exit_code == 0
    assert offered("vm", "snapshot", "rollback", "web-1", "") == ["before-upgrade", "outside"]
    # A dry run changes nothing, there or here.
    assert cli("vm", "snapshot", "delete", "web-1", "outside", "--dry-run").exit_code == 0
    assert offered("vm", "snapshot", "rollback", "web-1", "") == ["before-upgrade", "outside"]

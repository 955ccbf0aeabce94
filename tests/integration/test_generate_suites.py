"""The generated suites run: pytest and Jest against the cluster they were generated from, Ansible's inventory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ansible import needs_community_proxmox, skip_unless_container_updates_work
from tests.helpers.cluster import TOKEN_SECRET
from tests.helpers.tools import unavailable


def run_suite(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a generated suite's test runner in a subprocess (argument list, no shell), capturing its output."""
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=300, env=dict(os.environ), check=False
    )


def change_behind_its_back(cluster: Any) -> None:
    """Someone changes the cluster behind pmpc's back: cores, power state, tags, and a container removed."""
    cluster.vm(103).config["cores"] = 8
    cluster.vm(102).status = "stopped"
    cluster.vm(101).config["tags"] = "web"
    cluster.cts = [ct for ct in cluster.cts if ct.vmid != 202]


def run_generated_pytest(
    directory: Path, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the generated pytest suite with a JUnit report; outcomes by test name."""
    report = tmp_path / "junit.xml"
    done = run_suite(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-o",
            "addopts=",
            f"--junitxml={report}",
            str(directory),
        ],
        tmp_path,
    )
    import xml.etree.ElementTree as ET

    outcomes = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            state = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    state = child.tag
            outcomes[case.get("name", "")] = state
    return done, outcomes


@pytest.mark.slow
def test_generated_pytest_suite_is_green_then_catches_changes_behind_its_back(cluster, cli, tmp_path):
    out = tmp_path / "generated"
    result = cli("generate", "tests", "--framework", "pytest", "--out", str(out))
    assert result.exit_code == 0, result.output

    green, outcomes = run_generated_pytest(out / "pytest", tmp_path)
    assert green.returncode == 0, green.stdout + green.stderr
    assert outcomes["test_power_state[web-1]"] == "passed"
    assert outcomes["test_cores[db-1]"] == "passed"
    assert outcomes["test_power_state[ubuntu-tmpl]"] == "skipped"
    assert sum(1 for s in outcomes.values() if s == "passed") >= 7 * 4
    assert TOKEN_SECRET not in green.stdout + green.stderr

    change_behind_its_back(cluster)
    red, outcomes = run_generated_pytest(out / "pytest", tmp_path)
    assert red.returncode == 1, red.stdout + red.stderr
    failed = sorted(name for name, state in outcomes.items() if state in ("failure", "error"))
    assert "test_cores[db-1]" in failed
    assert "test_power_state[web-2]" in failed
    assert "test_tags[web-1]" in failed
    assert "test_exists_with_its_name_and_kind[cache-1]" in failed
    assert outcomes["test_cores[web-1]"] == "passed"


@needs_community_proxmox
@pytest.mark.slow
def test_dynamic_inventory_config_reads_the_cluster(cluster, cli, tmp_path, fakepve_cafile):
    binary = Path(sys.executable).parent / "ansible-inventory"
    if not binary.exists():
        found = shutil.which("ansible-inventory")
        if found is None:
            pytest.skip("ansible-inventory is not installed (pip install ansible)")
        binary = Path(found)
    pytest.importorskip("requests")
    out = tmp_path / "ansible"
    assert cli("generate", "ansible", "--out", str(out)).exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROXMOX_"))}
    env.update(
        PROXMOX_TOKEN_SECRET=TOKEN_SECRET,
        REQUESTS_CA_BUNDLE=fakepve_cafile,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / ".tmp"),
        ANSIBLE_HOME=str(tmp_path / ".home"),
    )
    done = subprocess.run(
        [str(binary), "-i", "pmpc.proxmox.yml", "--list"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = json.loads(done.stdout)
    assert {"web-1", "db-1", "dns-1", "cache-1"} <= set(listed["_meta"]["hostvars"])
    assert sorted(listed["tag_web"]["hosts"]) == ["web-1", "web-2"]
    assert TOKEN_SECRET not in done.stdout


def jest_modules() -> Path:
    """A node_modules holding jest and undici: JEST_NODE_MODULES (.ci/run installs one outside the repo)."""
    modules = os.environ.get("JEST_NODE_MODULES")
    if not modules or not (Path(modules) / ".bin" / "jest").exists():
        unavailable(
            "JEST_NODE_MODULES does not name a node_modules with jest and undici "
            "(`npm install --prefix DIR jest@^29.7.0 undici@^6.21.0` makes DIR/node_modules)"
        )
    return Path(modules)


def satisfies(version: str, caret: str) -> bool:
    """Whether an installed version satisfies an npm caret range such as ^29.7.0 (a major version >= 1)."""
    have = tuple(int(part) for part in version.split("-")[0].split("."))
    want = tuple(int(part) for part in caret.removeprefix("^").split("."))
    return have[0] == want[0] and have >= want


def run_generated_jest(
    suite: Path, modules: Path, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the generated Jest suite with a JSON report; outcomes by test name."""
    report = tmp_path / "jest.json"
    report.unlink(missing_ok=True)
    done = run_suite(
        [
            str(modules / ".bin" / "jest"),
            "--ci",
            "--rootDir",
            str(suite),
            "--cacheDirectory",
            str(tmp_path / "jest-cache"),
            "--json",
            "--outputFile",
            str(report),
        ],
        suite,
    )
    outcomes = {}
    if report.exists():
        for result in json.loads(report.read_text(encoding="utf-8"))["testResults"]:
            for case in result["assertionResults"]:
                outcomes[case["fullName"]] = case["status"]
    return done, outcomes


@pytest.mark.slow
def test_generated_jest_suite_is_green_then_catches_changes_behind_its_back(cluster, cli, tmp_path):
    modules = jest_modules()
    out = tmp_path / "generated"
    assert cli("generate", "tests", "--framework", "jest", "--out", str(out)).exit_code == 0
    suite = out / "jest"
    wanted = json.loads((suite / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    for name, caret in wanted.items():
        installed = json.loads((modules / name / "package.json").read_text(encoding="utf-8"))["version"]
        assert satisfies(installed, caret), f"{name} {installed} does not satisfy the generated {caret}"
    (suite / "node_modules").symlink_to(modules, target_is_directory=True)

    green, outcomes = run_generated_jest(suite, modules, tmp_path)
    assert green.returncode == 0, green.stdout + green.stderr
    assert outcomes["vm/101 web-1 power state"] == "passed"
    assert outcomes["vm/103 db-1 cores"] == "passed"
    assert outcomes["vm/9000 ubuntu-tmpl power state"] == "pending"
    assert sum(1 for s in outcomes.values() if s == "passed") >= 7 * 4
    assert TOKEN_SECRET not in green.stdout + green.stderr

    change_behind_its_back(cluster)
    red, outcomes = run_generated_jest(suite, modules, tmp_path)
    assert red.returncode == 1, red.stdout + red.stderr
    failed = sorted(name for name, state in outcomes.items() if state == "failed")
    assert "vm/103 db-1 cores" in failed
    assert "vm/102 web-2 power state" in failed
    assert "vm/101 web-1 tags" in failed
    assert "ct/202 cache-1 exists with its name and kind" in failed
    assert outcomes["vm/101 web-1 cores"] == "passed"
    assert "vm/103 db-1 › cores" in red.stderr
    assert TOKEN_SECRET not in red.stdout + red.stderr


@needs_community_proxmox
@pytest.mark.slow
def test_the_provisioning_playbook_creates_and_updates_guests(
    cluster, cli, tmp_path, monkeypatch, fakepve_cafile
):
    pytest.importorskip(
        "proxmoxer", reason="the community.proxmox modules need proxmoxer (pip install proxmoxer)"
    )
    skip_unless_container_updates_work()
    playbook = Path(sys.executable).parent / "ansible-playbook"
    if not playbook.exists():
        pytest.skip("ansible-playbook is not installed (pip install ansible)")
    from urllib.parse import urlsplit

    root = tmp_path / "ws"
    (root / "resources" / "vms").mkdir(parents=True)
    (root / "resources" / "cts").mkdir(parents=True)
    (root / "pmpc.yaml").write_text("name: ws\n", encoding="utf-8")
    (root / "resources" / "vms" / "web-1.yaml").write_text(
        "kind: VM\nname: web-1\nnode: pve1\nvmid: 101\nspec: {cores: 4, memory: 4096, state: running}\n",
        encoding="utf-8",
    )
    (root / "resources" / "vms" / "app-1.yaml").write_text(
        "kind: VM\nname: app-1\nnode: pve1\nvmid: 150\n"
        "spec: {cores: 2, memory: 1024, clone: {from: ubuntu-tmpl}, state: running}\n",
        encoding="utf-8",
    )
    (root / "resources" / "cts" / "log-1.yaml").write_text(
        "kind: CT\nname: log-1\nnode: pve2\nvmid: 250\nspec:\n  cores: 1\n  memory: 256\n  swap: 0\n"
        "  ostemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\n  unprivileged: true\n"
        "  rootfs: {storage: local-lvm, size: 2G}\n"
        "  networks: [{slot: net0, name: eth0, bridge: vmbr0, ip: dhcp}]\n  tags: [logs]\n  state: stopped\n",
        encoding="utf-8",
    )
    template = "vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    cluster.storages["local"].setdefault("volumes", {})[template] = {
        "content": "vztmpl", "format": "tzst", "size": 123456789, "ctime": 0,
    }
    monkeypatch.chdir(root)
    assert cli("generate", "ansible").exit_code == 0
    url = urlsplit(cluster.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROXMOX_"))}
    env.update(
        PROXMOX_HOST=str(url.hostname),
        PROXMOX_PORT=str(url.port),
        PROXMOX_TOKEN_SECRET=TOKEN_SECRET,
        REQUESTS_CA_BUNDLE=fakepve_cafile,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / ".tmp"),
        ANSIBLE_HOME=str(tmp_path / ".home"),
        ANSIBLE_NOCOLOR="1",
    )
    done = subprocess.run(
        [str(playbook), "provision.yml"],
        cwd=root / "ansible",
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout
    assert TOKEN_SECRET not in done.stdout + done.stderr
    web = cluster.vm(101)
    # web-1 runs: PVE keeps CPU and memory changes pending until its next start.
    wanted = {**web.config, **web.pending}
    assert (int(wanted["cores"]), int(wanted["memory"])) == (4, 4096)
    app = cluster.vm(150)
    assert app is not None and app.name == "app-1" and app.status == "running"
    assert int(app.config["cores"]) == 2
    log = cluster.ct(250)
    assert log is not None and log.status == "stopped" and int(log.config["memory"]) == 256
    assert "logs" in str(log.config.get("tags"))

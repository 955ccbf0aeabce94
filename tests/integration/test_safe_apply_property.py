"""Property: apply deletes a guest only when the plan said destroy or replace, and never a replace's guest
whose create would then be refused (it is created again, or it was never deleted)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_declarative import _init_and_import

TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
GUEST_PATH = re.compile(r"^/nodes/[^/]+/(qemu|lxc)/(\d+)$")
VMS = {"web-1": 101, "web-2": 102, "db-1": 103, "batch-1": 104}
CTS = {"dns-1": 201, "cache-1": 202}

vm_edits = st.fixed_dictionaries(
    {},
    optional={
        "memory": st.sampled_from([1024, 2048, 4096]),
        "state": st.sampled_from(["running", "stopped", "absent"]),
        "disk": st.sampled_from(["16G", "64G", "move"]),
        "allow_destroy": st.booleans(),
    },
)
ct_edits = st.fixed_dictionaries(
    {},
    optional={
        "unprivileged": st.booleans(),
        "ostemplate": st.booleans(),
        "state": st.sampled_from(["running", "stopped", "absent"]),
        "rootfs": st.sampled_from(["2G", "16G"]),
        "allow_destroy": st.booleans(),
    },
)


def _edit(path: Path, edits: dict[str, Any]) -> None:
    doc = yaml.safe_load(path.read_text())
    spec = doc["spec"]
    for key, value in edits.items():
        if key == "allow_destroy":
            doc["lifecycle"] = {"allow_destroy": value}
        elif key == "disk":
            disk = spec["disks"][0]
            if value == "move":
                disk["storage"] = "local"
            else:
                disk["size"] = value
        elif key == "ostemplate":
            if value:
                spec["ostemplate"] = TEMPLATE
            else:
                spec.pop("ostemplate", None)
        elif key == "rootfs":
            spec["rootfs"]["size"] = value
        else:
            spec[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _deletes(pve: Any) -> set[int]:
    found = set()
    for method, path, _ in pve.requests:
        match = GUEST_PATH.match(path)
        if method == "DELETE" and match:
            found.add(int(match.group(2)))
    return found


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_apply_deletes_only_what_the_plan_destroys_and_only_what_it_can_rebuild(cluster, cli, tmp_path, data):
    ws = tmp_path / "infra"
    if not ws.exists():
        cluster.store_file("local", TEMPLATE.split("/", 1)[1], 200 * 1024**2, content="vztmpl")
        _init_and_import(cli, tmp_path)
    originals = {p: p.read_text() for p in (ws / "resources").rglob("*.yaml")}
    for name in data.draw(st.lists(st.sampled_from(sorted(VMS)), unique=True, max_size=2)):
        path = ws / "resources" / "vms" / f"{name}.yaml"
        if path.exists():
            _edit(path, data.draw(vm_edits))
    for name in data.draw(st.lists(st.sampled_from(sorted(CTS)), unique=True, max_size=2)):
        path = ws / "resources" / "cts" / f"{name}.yaml"
        if path.exists():
            _edit(path, data.draw(ct_edits))
    flags: list[str] = []
    for ref in data.draw(st.lists(st.sampled_from(["vm/101", "vm/web-2", "ct/201", "ct/cache-1"]), max_size=2)):
        flags += ["--allow-destroy", ref]

    planned = cli("--workspace", str(ws), "plan", "-o", "json", *flags)
    destroys: set[int] = set()
    replaces: set[int] = set()
    if planned.exit_code == 0:
        for change in json.loads(planned.stdout)["changes"]:
            if change["action"] == "delete":
                destroys.add(change["vmid"])
            elif change["action"] == "replace":
                replaces.add(change["vmid"])
    cluster.requests.clear()
    applied = cli("--workspace", str(ws), "apply", "-y", *flags)
    deleted = _deletes(cluster)
    if planned.exit_code == 1:  # refused by the pre-flight or protection: apply refuses alike, before any write
        assert applied.exit_code == 1 and not [m for m, _, _ in cluster.requests if m != "GET"], applied.output
    assert deleted <= destroys | replaces, (deleted, planned.output, applied.output)
    for vmid in deleted & replaces:
        assert cluster.guest(vmid) is not None, f"replace of {vmid} deleted it and did not create it: {applied.output}"

    # Next example: the manifests as imported, for the guests that still exist.
    for path, text in originals.items():
        name = path.stem
        vmid = VMS.get(name) or CTS.get(name)
        if vmid is not None and cluster.guest(vmid) is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)

"""The plan as text and as a JSON document, against golden files (tests/golden/plan/)."""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from proxmox_mpc.core.diff import build_plan
from proxmox_mpc.core.manifest import CtManifest, VmManifest
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.output.plan_view import plan_line, render_plan

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "plan"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def sample_plan():
    manifests = [
        VmManifest.model_validate(
            {
                "kind": "VM",
                "name": "web-1",
                "node": "pve1",
                "vmid": 101,
                "spec": {
                    "cores": 4,
                    "memory": 4096,
                    "tags": ["web"],
                    "state": "running",
                    "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "64G"}],
                    "networks": [{"slot": "net0", "bridge": "vmbr1"}],
                },
            }
        ),
        VmManifest.model_validate(
            {
                "kind": "VM",
                "name": "app-1",
                "node": "pve2",
                "spec": {
                    "clone": {"from": "ubuntu-tmpl"},
                    "cores": 2,
                    "memory": 2048,
                    "state": "running",
                    "cloud_init": {"user": "ops", "ip": "dhcp", "ssh_keys": ["ssh-ed25519 AAAA ops@laptop"]},
                },
            }
        ),
        VmManifest.model_validate(
            {"kind": "VM", "name": "batch-1", "node": "pve3", "vmid": 104, "spec": {"state": "stopped"}}
        ),
        VmManifest.model_validate(
            {"kind": "VM", "name": "old-1", "node": "pve1", "vmid": 110, "spec": {"state": "absent"}}
        ),
        CtManifest.model_validate(
            {
                "kind": "CT",
                "name": "cache-1",
                "node": "pve3",
                "vmid": 202,
                "spec": {
                    "unprivileged": False,
                    "ostemplate": "local:vztmpl/debian-12.tar.zst",
                    "memory": 1024,
                    "rootfs": {"storage": "local-lvm", "size": "4G"},
                },
            }
        ),
    ]
    observed = [
        ObservedGuest(
            vmid=101,
            kind="vm",
            node="pve1",
            name="web-1",
            status="running",
            digest="aa11",
            config={
                "name": "web-1",
                "cores": 2,
                "memory": "2048",
                "tags": "prod;web",
                "scsi0": "local-lvm:vm-101-disk-0,size=32G",
                "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
            },
        ),
        ObservedGuest(
            vmid=104,
            kind="vm",
            node="pve3",
            name="batch-1",
            status="running",
            digest="bb22",
            config={"name": "batch-1"},
        ),
        ObservedGuest(
            vmid=110,
            kind="vm",
            node="pve1",
            name="old-1",
            status="stopped",
            digest="cc33",
            config={"name": "old-1"},
        ),
        ObservedGuest(
            vmid=202,
            kind="ct",
            node="pve3",
            name="cache-1",
            status="stopped",
            digest="dd44",
            config={
                "hostname": "cache-1",
                "memory": 1024,
                "unprivileged": 1,
                "rootfs": "local-lvm:subvol-202-disk-0,size=4G",
            },
        ),
        ObservedGuest(vmid=300, kind="ct", node="pve2", name="legacy", status="running"),
    ]
    return build_plan(manifests, observed, context="lab", workspace="infra", created_at=WHEN)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs (UPDATE_GOLDEN=1 rewrites it)"


def test_text_plan_matches_golden():
    out = io.StringIO()
    render_plan(sample_plan(), out)
    _golden("plan.txt", out.getvalue())


def test_json_plan_matches_golden():
    _golden("plan.json", json.dumps(sample_plan().to_document(), indent=2) + "\n")


@pytest.mark.parametrize(
    ("counts", "line"),
    [
        ({}, "Plan: 0 to add, 0 to change, 0 to destroy."),
        ({"add": 1, "change": 2}, "Plan: 1 to add, 2 to change, 0 to destroy."),
        ({"replace": 1, "power": 1, "destroy": 1}, "Plan: 1 to add, 1 to change, 2 to destroy."),
    ],
)
def test_plan_line(counts, line):
    plan = build_plan([], [])
    plan.summary = plan.summary.model_copy(update=counts)
    assert plan_line(plan) == line


def test_empty_plan_says_so():
    out = io.StringIO()
    render_plan(build_plan([], []), out)
    assert (
        out.getvalue()
        == "No changes: the cluster matches the manifests.\nPlan: 0 to add, 0 to change, 0 to destroy.\n"
    )

"""build_plan: what changes, what does not, and how changes are ordered."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.test_manifest import ct_manifests, vm_manifests

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.diff import build_plan
from proxmox_mpc.core.identity import prefix
from proxmox_mpc.core.manifest import CtManifest, VmManifest, manifest_to_config
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.ordering import dependents, order_changes
from proxmox_mpc.core.plan import load_plan
from proxmox_mpc.errors import ManifestError

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WEB_CONFIG = {
    "name": "web-1",
    "cores": 2,
    "memory": "2048",
    "scsi0": "local-lvm:vm-101-disk-0,size=32G",
    "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
    "tags": "prod;web",
    "ostype": "l26",
    "scsihw": "virtio-scsi-pci",
}


def vm(**spec) -> VmManifest:
    name = spec.pop("name", "web-1")
    base = {
        "cores": 2,
        "memory": 2048,
        "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "32G"}],
        "networks": [{"slot": "net0", "bridge": "vmbr0"}],
        "tags": ["web", "prod"],
        "state": "running",
    }
    base.update(spec)
    return VmManifest.model_validate({"kind": "VM", "name": name, "node": "pve1", "vmid": 101, "spec": base})


def web(status: str = "running", **config) -> ObservedGuest:
    merged = {**WEB_CONFIG, **config}
    return ObservedGuest(
        vmid=101,
        kind="vm",
        node="pve1",
        name="web-1",
        status=status,
        config={k: v for k, v in merged.items() if v is not None},
        digest="d1",
    )


def fields(plan):
    return [
        (c.address, c.action, [(f.name, f.old, f.new, f.needs_reboot) for f in c.fields])
        for c in plan.changes
    ]


CASES = {
    "no-change": (vm(), web(), []),
    "memory-running-needs-reboot": (
        vm(memory=4096),
        web(),
        [("vm/web-1", "update", [("memory", "2048", "4096", True)])],
    ),
    "memory-stopped": (
        vm(memory=4096, state="stopped"),
        web(status="stopped"),
        [("vm/web-1", "update", [("memory", "2048", "4096", False)])],
    ),
    "tags-are-hot": (vm(tags=["web"]), web(), [("vm/web-1", "update", [("tags", "prod;web", "web", False)])]),
    "tags-unmanaged-when-absent": (vm(tags=None), web(tags="x;y"), []),
    "bridge-change-keeps-mac": (
        vm(networks=[{"slot": "net0", "bridge": "vmbr1"}]),
        web(),
        [
            (
                "vm/web-1",
                "update",
                [
                    (
                        "net0",
                        "virtio=BC:24:11:00:01:01,bridge=vmbr0",
                        "virtio=BC:24:11:00:01:01,bridge=vmbr1",
                        False,
                    )
                ],
            )
        ],
    ),
    "extra-nic-is-removed": (
        vm(),
        web(net1="e1000=BC:24:11:00:01:11,bridge=vmbr0"),
        [("vm/web-1", "update", [("net1", "e1000=BC:24:11:00:01:11,bridge=vmbr0", None, False)])],
    ),
    "disk-grows-live": (
        vm(disks=[{"slot": "scsi0", "storage": "local-lvm", "size": "64G"}]),
        web(),
        [("vm/web-1", "update", [("scsi0", "local-lvm:32G", "local-lvm:64G", False)])],
    ),
    "new-disk": (
        vm(
            disks=[
                {"slot": "scsi0", "storage": "local-lvm", "size": "32G"},
                {"slot": "scsi1", "storage": "local-lvm", "size": "10G"},
            ]
        ),
        web(),
        [("vm/web-1", "update", [("scsi1", None, "local-lvm:10G", False)])],
    ),
    "power-only": (
        vm(state="stopped"),
        web(),
        [("vm/web-1", "power", [("state", "running", "stopped", False)])],
    ),
    "config-passthrough-delete": (
        vm(config={"scsihw": None}),
        web(),
        [("vm/web-1", "update", [("scsihw", "virtio-scsi-pci", None, True)])],
    ),
    "defaults-pve-omits": (vm(sockets=1, onboot=False, protection=False, agent=False), web(), []),
}


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_diff_cases(name):
    manifest, observed, expected = CASES[name]
    plan = build_plan([manifest], [observed], created_at=WHEN)
    assert fields(plan) == expected


def test_shrinking_a_disk_or_changing_kind_replaces():
    shrink = build_plan([vm(disks=[{"slot": "scsi0", "storage": "local-lvm", "size": "16G"}])], [web()])
    assert [c.action for c in shrink.changes] == ["replace"]
    ct = CtManifest.model_validate(
        {
            "kind": "CT",
            "name": "web-1",
            "node": "pve1",
            "vmid": 101,
            "spec": {"ostemplate": "local:vztmpl/debian.tar.zst"},
        }
    )
    plan = build_plan([ct], [web()])
    assert [(c.action, c.kind) for c in plan.changes] == [("replace", "ct")]
    assert plan.summary.replace == 1


def test_create_delete_and_unmanaged():
    new = VmManifest.model_validate({"kind": "VM", "name": "app-1", "node": "pve2", "spec": {"cores": 1}})
    gone = vm(state="absent")
    other = ObservedGuest(vmid=300, kind="ct", node="pve3", name="dns", status="running")
    plan = build_plan([new, gone], [web(), other], created_at=WHEN)
    assert [(c.address, c.action, c.vmid) for c in plan.changes] == [
        ("vm/app-1", "create", None),
        ("vm/web-1", "delete", 101),
    ]
    assert plan.unmanaged == ["ct/300 (dns)"]
    assert plan.summary.model_dump() == {"add": 1, "change": 0, "replace": 0, "destroy": 1, "power": 0}
    assert "unmanaged" not in plan.to_document()


def test_matching_errors():
    twin = ObservedGuest(vmid=102, kind="vm", node="pve2", name="web-1", status="running")
    nameless = VmManifest.model_validate({"kind": "VM", "name": "web-1", "node": "pve1"})
    with pytest.raises(ManifestError, match="matches several guests"):
        build_plan([nameless], [web(), twin])
    with pytest.raises(ManifestError, match="both describe vm/101"):
        build_plan([vm(), vm(name="web-2")], [web()])


def test_plan_document_round_trips_and_is_stable():
    plan = build_plan([vm(memory=4096)], [web()], context="lab", workspace="infra", created_at=WHEN)
    document = plan.to_document()
    assert list(document) == ["format_version", "created_at", "context", "workspace", "changes", "summary"]
    assert list(document["changes"][0]) == ["address", "kind", "vmid", "node", "action", "fields", "digest"]
    assert load_plan(document) == plan.model_copy(update={"unmanaged": []})
    with pytest.raises(ManifestError, match=r"format 9\.0"):
        load_plan({**document, "format_version": "9.0"})


def test_ordering_puts_clone_sources_first_and_skips_dependents():
    tmpl = VmManifest.model_validate(
        {"kind": "VM", "name": "tmpl", "node": "pve1", "vmid": 9001, "spec": {"template": True, "cores": 1}}
    )
    clone = VmManifest.model_validate(
        {"kind": "VM", "name": "c1", "node": "pve1", "spec": {"clone": {"from": "tmpl"}, "cores": 2}}
    )
    by_id = VmManifest.model_validate(
        {"kind": "VM", "name": "c2", "node": "pve1", "spec": {"clone": {"from": 9001}}}
    )
    plan = build_plan([clone, by_id, tmpl], [])
    stages = order_changes(plan.changes)
    assert [[c.address for c in stage] for stage in stages] == [["vm/tmpl"], ["vm/c1", "vm/c2"]]
    assert dependents(plan.changes, {"vm/tmpl"}) == {"vm/c1", "vm/c2"}


# ----------------------------------------------------------------------------- properties


def pve_stores(kind: str, vmid: int, config: dict) -> dict:
    """What PVE writes back for a config it was given: volumes allocated, MACs made, tags sorted, ..."""
    stored = {}
    for n, (key, value) in enumerate(sorted(config.items())):
        if value is None:
            continue
        text = str(value)
        if nz.is_disk_key(kind, key) and (m := re.match(r"^([^:,]+):(\d+(?:\.\d+)?)(,.*)?$", text)):
            size = nz.canonical_size(int(float(m.group(2)) * 1024**3))
            stored[key] = f"{m.group(1)}:vm-{vmid}-disk-{n},size={size}{m.group(3) or ''}"
        elif kind == "vm" and nz.is_disk_key(kind, key) and text.endswith("cloudinit"):
            storage = text.split(":")[0] if ":" in text else "local-lvm"
            stored[key] = f"{storage}:vm-{vmid}-cloudinit,media=cdrom"
        elif nz.NET_RE.match(key) and kind == "vm":
            model, _, rest = text.partition(",")
            stored[key] = (model if "=" in model else f"{model}=BC:24:11:AA:BB:{n:02X}") + (
                "," + rest if rest else ""
            )
        elif nz.NET_RE.match(key):
            stored[key] = (
                text + ("" if "hwaddr=" in text else f",hwaddr=BC:24:11:CC:DD:{n:02X}") + ",type=veth"
            )
        elif key == "tags":
            stored[key] = ";".join(nz.split_tag_text(text))
        elif key == "sshkeys":
            stored[key] = quote(text + "\n", safe="")
        else:
            stored[key] = value
    stored["digest"] = "0" * 40
    return stored


def observed_for(m) -> ObservedGuest:
    vmid = m.vmid or 4242
    status = m.spec.state if m.spec.state in ("running", "stopped") else "stopped"
    return ObservedGuest(
        vmid=vmid,
        kind=prefix(m.kind),
        node=m.node,
        name=m.name,
        status=status,
        template=bool(m.spec.template),
        pool=m.spec.pool,
        config=pve_stores(m.kind.lower(), vmid, manifest_to_config(m)),
        digest="0" * 40,
    )


@settings(max_examples=80, deadline=None)
@given(st.one_of(vm_manifests(), ct_manifests()))
def test_a_guest_made_from_a_manifest_plans_no_change(m):
    plan = build_plan([m], [observed_for(m)])
    assert plan.changes == [], plan.changes


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(vm_manifests(), ct_manifests()), max_size=6, unique_by=lambda m: (m.vmid, m.address)),
    st.lists(st.one_of(vm_manifests(), ct_manifests()), max_size=6),
)
def test_a_plan_computed_twice_is_the_same_plan(manifests, others):
    seen_vmids = set()
    distinct = []
    for m in manifests:
        if m.vmid is None or m.vmid not in seen_vmids:
            distinct.append(m)
            seen_vmids.add(m.vmid)
    by_vmid = {}
    for i, o in enumerate(others):
        guest = observed_for(o)
        by_vmid[guest.vmid + i] = guest.model_copy(update={"vmid": guest.vmid + i})
    observed = list(by_vmid.values())
    try:
        first = build_plan(distinct, observed, created_at=WHEN)
    except ManifestError:
        return
    second = build_plan(list(distinct), list(reversed(observed)), created_at=WHEN)
    assert first == second
    assert first.to_document() == second.to_document()

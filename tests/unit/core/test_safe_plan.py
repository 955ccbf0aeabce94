"""Safe plans: fields that force a replacement, pre-flight of creates, protection and lifecycle (pure)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from proxmox_mpc.core.diff import build_plan
from proxmox_mpc.core.identity import guest_kind
from proxmox_mpc.core.manifest import CtManifest, VmManifest
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.plan import Change, FieldChange, load_plan
from proxmox_mpc.core.preflight import CreateFacts, create_blockers
from proxmox_mpc.core.protection import protection_problem
from proxmox_mpc.output.plan_view import render_plan

VM_CONFIG = {
    "name": "web-1",
    "cores": 2,
    "memory": "2048",
    "scsi0": "local-lvm:vm-101-disk-0,size=32G",
    "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
    "template": 0,
}
CT_CONFIG = {
    "hostname": "proxy-1",
    "cores": 1,
    "memory": 512,
    "rootfs": "local-lvm:subvol-202-disk-0,size=8G",
    "mp0": "local-lvm:subvol-202-disk-1,mp=/data,size=10G",
    "unprivileged": 1,
}
VM_SPEC: dict[str, Any] = {
    "cores": 2,
    "memory": 2048,
    "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "32G"}],
    "template": False,
}
CT_SPEC: dict[str, Any] = {
    "cores": 1,
    "memory": 512,
    "rootfs": {"storage": "local-lvm", "size": "8G"},
    "mounts": [{"slot": "mp0", "storage": "local-lvm", "size": "10G", "path": "/data"}],
    "unprivileged": True,
    "ostemplate": "local:vztmpl/alpine.tar.zst",
}


def _vm(spec: dict[str, Any], **top: Any) -> VmManifest:
    return VmManifest.model_validate({"kind": "VM", "name": "web-1", "node": "pve1", "vmid": 101, "spec": spec, **top})


def _ct(spec: dict[str, Any], **top: Any) -> CtManifest:
    return CtManifest.model_validate(
        {"kind": "CT", "name": "proxy-1", "node": "pve1", "vmid": 202, "spec": spec, **top}
    )


def _guest(gtype: str, config: dict[str, Any], **extra: Any) -> ObservedGuest:
    vmid, name = (101, "web-1") if gtype == "qemu" else (202, "proxy-1")
    return ObservedGuest(
        vmid=vmid, kind=guest_kind(gtype), node="pve1", name=name, status="stopped", config=config, digest="d", **extra
    )


# (kind, spec edit, observed config edit, the field that forces the replace)
FORCING = {
    "vm-template-to-vm": ("qemu", {}, {"template": 1}, "template"),
    "vm-disk-shrink": ("qemu", {"disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "16G"}]}, {}, "scsi0"),
    "vm-disk-other-storage": ("qemu", {"disks": [{"slot": "scsi0", "storage": "ceph", "size": "32G"}]}, {}, "scsi0"),
    "ct-unprivileged-off": ("lxc", {"unprivileged": False}, {}, "unprivileged"),
    "ct-unprivileged-on": ("lxc", {"unprivileged": True}, {"unprivileged": 0}, "unprivileged"),
    "ct-rootfs-shrink": ("lxc", {"rootfs": {"storage": "local-lvm", "size": "4G"}}, {}, "rootfs"),
    "ct-rootfs-other-storage": ("lxc", {"rootfs": {"storage": "nfs", "size": "8G"}}, {}, "rootfs"),
    "ct-mount-shrink": (
        "lxc",
        {"mounts": [{"slot": "mp0", "storage": "local-lvm", "size": "5G", "path": "/data"}]},
        {},
        "mp0",
    ),
    "ct-mount-other-storage": (
        "lxc",
        {"mounts": [{"slot": "mp0", "storage": "nfs", "size": "10G", "path": "/data"}]},
        {},
        "mp0",
    ),
}


@pytest.mark.parametrize("case", sorted(FORCING), ids=sorted(FORCING))
def test_each_replace_forcing_field_is_marked_in_text_and_json(case):
    gtype, spec_edit, config_edit, field = FORCING[case]
    if gtype == "qemu":
        manifest, guest = _vm({**VM_SPEC, **spec_edit}), _guest("qemu", {**VM_CONFIG, **config_edit})
    else:
        manifest, guest = _ct({**CT_SPEC, **spec_edit}), _guest("lxc", {**CT_CONFIG, **config_edit})
    plan = build_plan([manifest], [guest])
    [change] = plan.changes
    assert change.action == "replace"
    marked = [f.name for f in change.fields if f.forces_replacement]
    assert marked == [field]
    document = json.loads(json.dumps(plan.to_document()))
    assert document["format_version"] == "1.1"
    fields = {f["name"]: f for f in document["changes"][0]["fields"]}
    assert fields[field]["forces_replacement"] is True
    assert all("forces_replacement" not in f for name, f in fields.items() if name != field)
    assert load_plan(document).changes[0].field(field).forces_replacement  # type: ignore[union-attr]
    out = io.StringIO()
    render_plan(plan, out)
    lines = [line for line in out.getvalue().splitlines() if line.strip().startswith(("~ ", "+ "))]
    flagged = [line for line in lines if line.endswith("# forces replacement")]
    assert len(flagged) == 1 and f" {field}: " in flagged[0], out.getvalue()


def test_in_place_changes_are_not_marked():
    plan = build_plan([_vm({**VM_SPEC, "memory": 4096})], [_guest("qemu", VM_CONFIG)])
    [change] = plan.changes
    assert change.action == "update"
    assert not any(f.forces_replacement for f in change.fields)
    assert "forces_replacement" not in json.dumps(plan.to_document())


def _replace(fields: list[FieldChange], kind: str = "ct") -> Change:
    return Change(address=f"{kind}/proxy-1", kind=kind, vmid=202, node="pve1", action="replace", fields=fields)


BLOCKED = {
    "ct-without-ostemplate": (
        _replace([FieldChange(name="unprivileged", old="1", new="0", forces_replacement=True)]),
        CreateFacts(),
        "ostemplate",
    ),
    "ct-template-missing": (
        _replace([FieldChange(name="ostemplate", new="local:vztmpl/gone.tar.zst")]),
        CreateFacts(templates={"pve1": {"local:vztmpl/alpine.tar.zst"}}),
        "ostemplate",
    ),
    "ct-template-storage-missing": (
        _replace([FieldChange(name="ostemplate", new="nope:vztmpl/a.tar.zst")]),
        CreateFacts(storages={"pve1": {"local": {"vztmpl"}}}),
        "ostemplate",
    ),
    "unknown-node": (
        _replace([FieldChange(name="ostemplate", new="local:vztmpl/a.tar.zst")]),
        CreateFacts(nodes={"pve2"}),
        "node",
    ),
    "vm-disk-without-size": (
        _replace([FieldChange(name="scsi0", new="local-lvm:")], kind="vm"),
        CreateFacts(),
        "scsi0",
    ),
    "vm-disk-unknown-storage": (
        _replace([FieldChange(name="scsi0", new="nope:32G")], kind="vm"),
        CreateFacts(storages={"pve1": {"local-lvm": {"images"}}}),
        "scsi0",
    ),
    "clone-of-itself": (
        _replace([FieldChange(name="clone", new="from=proxy-1,full=1")]),
        CreateFacts(guests={"proxy-1": ("lxc", 202)}),
        "clone",
    ),
    "clone-source-missing": (
        _replace([FieldChange(name="clone", new="from=tmpl,full=1")], kind="vm"),
        CreateFacts(guests={}),
        "clone",
    ),
    "unknown-bridge": (
        _replace(
            [
                FieldChange(name="ostemplate", new="local:vztmpl/a.tar.zst"),
                FieldChange(name="net0", new="name=eth0,bridge=vmbr9"),
            ]
        ),
        CreateFacts(bridges={"pve1": {"vmbr0"}}),
        "net0",
    ),
    "cloud-init-without-storage": (
        _replace([FieldChange(name="ide2", new="cloudinit")], kind="vm"),
        CreateFacts(),
        "ide2",
    ),
}


@pytest.mark.parametrize("case", sorted(BLOCKED), ids=sorted(BLOCKED))
def test_a_create_that_would_be_refused_is_blocked(case):
    change, facts, field = BLOCKED[case]
    blockers = create_blockers(change, facts)
    assert [b.field for b in blockers] == [field], blockers


def test_creatable_changes_pass_and_unknown_is_not_missing():
    ok = _replace(
        [
            FieldChange(name="ostemplate", new="local:vztmpl/a.tar.zst"),
            FieldChange(name="rootfs", new="local-lvm:8G"),
            FieldChange(name="net0", new="name=eth0,bridge=vmbr0"),
        ]
    )
    facts = CreateFacts(
        nodes={"pve1"},
        storages={"pve1": {"local": {"vztmpl"}, "local-lvm": {"rootdir", "images"}}},
        templates={"pve1": {"local:vztmpl/a.tar.zst"}},
        bridges={"pve1": {"vmbr0"}},
    )
    assert create_blockers(ok, facts) == []
    assert create_blockers(ok, CreateFacts()) == []
    update = Change(address="vm/web-1", kind="vm", vmid=101, node="pve1", action="update")
    assert create_blockers(update, CreateFacts(nodes=set())) == []


def _delete(kind: str = "vm", vmid: int = 101, name: str = "web-1") -> Change:
    return Change(address=f"{kind}/{name}", kind=kind, vmid=vmid, node="pve1", action="delete")


@pytest.mark.parametrize(
    ("lifecycle", "created", "allowed", "refused"),
    [
        (None, set(), set(), "did not create"),
        (None, {("vm", 101)}, set(), None),
        ({"allow_destroy": True}, set(), set(), None),
        (None, set(), {"vm/101"}, None),
        (None, set(), {"vm/web-1"}, None),
        (None, set(), {"vm/102"}, "did not create"),
        ({"prevent_destroy": True}, {("vm", 101)}, {"vm/101"}, "prevent_destroy"),
    ],
    ids=["adopted", "created", "allow-destroy", "flag-vmid", "flag-name", "flag-other", "prevent"],
)
def test_protection(lifecycle, created, allowed, refused):
    top = {"lifecycle": lifecycle} if lifecycle else {}
    problem = protection_problem(_delete(), _vm(VM_SPEC, **top), created, allowed)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem and "vm/web-1 (vm/101)" in problem


def test_lifecycle_is_checked():
    with pytest.raises(ValueError, match="contradict"):
        _vm(VM_SPEC, lifecycle={"prevent_destroy": True, "allow_destroy": True})
    with pytest.raises(ValueError, match="not a storage name"):
        _vm(VM_SPEC, lifecycle={"backup_before_destroy": "a b"})
    with pytest.raises(ValueError, match="neither a spec field"):
        _vm(VM_SPEC, lifecycle={"ignore_changes": ["Memory!"]})
    with pytest.raises(ValueError):
        _vm(VM_SPEC, lifecycle={"surprise": 1})


@pytest.mark.parametrize(
    ("ignored", "left"),
    [
        (["memory"], {"cores"}),
        (["cores", "memory"], set()),
        (["disks"], {"cores", "memory"}),
        (["config.memory"], {"cores"}),
    ],
)
def test_ignore_changes_leaves_named_fields_alone(ignored, left):
    spec = {**VM_SPEC, "cores": 4, "memory": 4096, "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "64G"}]}
    plan = build_plan([_vm(spec, lifecycle={"ignore_changes": ignored})], [_guest("qemu", VM_CONFIG)])
    names = {f.name for c in plan.changes for f in c.fields}
    assert names == left | ({"scsi0"} if "disks" not in ignored else set())


def test_an_ignored_forcing_field_does_not_replace():
    manifest = _ct({**CT_SPEC, "unprivileged": False}, lifecycle={"ignore_changes": ["unprivileged"]})
    assert build_plan([manifest], [_guest("lxc", CT_CONFIG)]).empty


def test_pending_values_count_as_applied_and_are_named():
    guest = _guest("qemu", {**VM_CONFIG, "memory": "4096"}, pending=["memory"])
    plan = build_plan([_vm({**VM_SPEC, "memory": 4096})], [guest])
    assert plan.empty
    assert [(p.address, p.fields) for p in plan.pending_reboot] == [("vm/web-1", ["memory"])]
    out = io.StringIO()
    render_plan(plan, out)
    assert "vm/web-1 (101): memory (pending reboot)" in out.getvalue()
    assert "No changes" in out.getvalue()

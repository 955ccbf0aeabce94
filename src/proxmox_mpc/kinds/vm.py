"""VM: a QEMU virtual machine, `resources/vms/NAME.yaml`, addressed `vm/VMID` (or `vm/NAME` in a plan)."""

from __future__ import annotations

from typing import Any, ClassVar

from proxmox_mpc.core.manifest import VmManifest
from proxmox_mpc.kinds.base import AnsibleMapping, TerraformMapping
from proxmox_mpc.kinds.guest import GuestKind


class VmKind(GuestKind):
    """QEMU virtual machines."""

    name = "VM"
    prefix = "vm"
    folder = "vms"
    model = VmManifest
    reads = ("/cluster/resources", "/nodes/{node}/qemu/{vmid}/config", "/nodes/{node}/qemu/{vmid}/pending")
    writes = (
        "/nodes/{node}/qemu",
        "/nodes/{node}/qemu/{vmid}/clone",
        "/nodes/{node}/qemu/{vmid}/config",
        "/nodes/{node}/qemu/{vmid}/resize",
        "/nodes/{node}/qemu/{vmid}/template",
        "/nodes/{node}/qemu/{vmid}/migrate",
        "/nodes/{node}/qemu/{vmid}/status/{action}",
        "/pools",
    )
    terraform = TerraformMapping("proxmox_virtual_environment_vm", import_id="{node}/{vmid}")
    ansible = AnsibleMapping("community.proxmox.proxmox_kvm")
    example: ClassVar[dict[str, Any]] = {
        "kind": "VM",
        "name": "web-1",
        "node": "pve1",
        "spec": {"cores": 2, "memory": 2048, "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "32G"}]},
    }


KIND = VmKind()

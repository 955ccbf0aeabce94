"""CT: an LXC container, `resources/cts/NAME.yaml`, addressed `ct/VMID` (or `ct/NAME` in a plan)."""

from __future__ import annotations

from typing import Any, ClassVar

from proxmox_mpc.core.manifest import CtManifest
from proxmox_mpc.kinds.base import AnsibleMapping, TerraformMapping
from proxmox_mpc.kinds.guest import GuestKind


class CtKind(GuestKind):
    """LXC containers."""

    name = "CT"
    prefix = "ct"
    folder = "cts"
    model = CtManifest
    reads = ("/cluster/resources", "/nodes/{node}/lxc/{vmid}/config", "/nodes/{node}/lxc/{vmid}/pending")
    writes = (
        "/nodes/{node}/lxc",
        "/nodes/{node}/lxc/{vmid}/clone",
        "/nodes/{node}/lxc/{vmid}/config",
        "/nodes/{node}/lxc/{vmid}/resize",
        "/nodes/{node}/lxc/{vmid}/template",
        "/nodes/{node}/lxc/{vmid}/migrate",
        "/nodes/{node}/lxc/{vmid}/status/{action}",
        "/pools",
    )
    # A container's privilege level is fixed at create time too.
    replace_fields: ClassVar[frozenset[str]] = frozenset({"template", "unprivileged"})
    terraform = TerraformMapping("proxmox_virtual_environment_container", import_id="{node}/{vmid}")
    ansible = AnsibleMapping("community.proxmox.proxmox")
    example: ClassVar[dict[str, Any]] = {
        "kind": "CT",
        "name": "dns-1",
        "node": "pve1",
        "spec": {"ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "cores": 1, "memory": 512},
    }


KIND = CtKind()

"""Terraform for the bpg/proxmox provider: one resource per guest and an import block per existing one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxmox_mpc.errors import ManifestError
from proxmox_mpc.generators.common import (
    hcl_string,
    hcl_value,
    render_template,
    unique_identifiers,
    with_header,
)
from proxmox_mpc.generators.model import GenerateInputs, GuestSpec, ResourceSpec, check_inputs
from proxmox_mpc.kinds.base import EnvSecret

VM_TYPE = "proxmox_virtual_environment_vm"
CT_TYPE = "proxmox_virtual_environment_container"
GENERATOR = "terraform"


@dataclass(frozen=True)
class Ref:
    """An HCL expression written as is (a reference such as `proxmox_virtual_environment_vm.x.vm_id`)."""

    expr: str


@dataclass
class Block:
    """An HCL block: `type { attributes; nested blocks }`."""

    type: str
    attrs: list[tuple[str, Any]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def attr(self, key: str, value: Any) -> Block:
        if value is not None:
            self.attrs.append((key, value))
        return self

    def block(self, child: Block | None) -> Block:
        if child is not None:
            self.blocks.append(child)
        return self


def expression(value: Any) -> str:
    """Render an attribute value as HCL."""
    return value.expr if isinstance(value, Ref) else hcl_value(value)


def render_body(block: Block, depth: int) -> str:
    """Render a block's body as `terraform fmt` would lay it out (aligned `=` per attribute run)."""
    pad = "  " * depth
    lines: list[str] = []
    if block.attrs:
        width = max(len(k) for k, _ in block.attrs)
        lines += [f"{pad}{k.ljust(width)} = {expression(v)}" for k, v in block.attrs]
    for child in block.blocks:
        # A resource's sections are separated by a blank line; deeper nesting stays compact.
        if depth == 1 and lines:
            lines.append("")
        lines.append(f"{pad}{child.type} {{")
        inner = render_body(child, depth + 1)
        if inner:
            lines.append(inner)
        lines.append(f"{pad}}}")
    return "\n".join(lines)


# Where the provider's default differs from PVE's, say PVE's: a guest created or adopted from the same
# manifest then ends up as pmpc would make it, and adoption plans no change.
PVE_SCSI_HARDWARE = "lsi"  # bpg: virtio-scsi-pci
PVE_CPU_TYPE = "kvm64"  # bpg: qemu64
PVE_CT_SWAP = 512  # bpg: 0


def with_pve_defaults(guest: GuestSpec, inputs: GenerateInputs, depth: int = 0) -> GuestSpec:
    """Fill the settings whose provider default differs from PVE's.

    A clone inherits them from its source when that is among the guests (else they stay unset).
    """
    if guest.clone_from is not None:
        source = inputs.find(guest.clone_from)
        if source is None or source is guest or depth > 8:
            return guest
        base = with_pve_defaults(source, inputs, depth + 1)
        values = {"scsihw": base.scsihw, "cpu_type": base.cpu_type, "swap": base.swap}
    else:
        values = {"scsihw": PVE_SCSI_HARDWARE, "cpu_type": PVE_CPU_TYPE, "swap": PVE_CT_SWAP}
    if guest.kind == "vm":
        values.pop("swap")
    else:
        values = {"swap": values["swap"]}
    return guest.model_copy(update={k: v for k, v in values.items() if getattr(guest, k) is None})


def _started(guest: GuestSpec) -> bool | None:
    """Return `started`: the manifest's state, else the current one (the provider would start it)."""
    if guest.template:
        return False
    if guest.state is not None:
        return guest.state == "running"
    if guest.current_status is not None:
        return guest.current_status == "running"
    return None


def _clone_block(
    guest: GuestSpec, inputs: GenerateInputs, idents: dict[tuple[str, int], str], clone_vmids: dict[str, int]
) -> Block | None:
    if guest.clone_from is None:
        return None
    clone = Block("clone")
    source = inputs.find(guest.clone_from)
    rtype = VM_TYPE if guest.kind == "vm" else CT_TYPE
    if source is not None and source.kind == guest.kind:
        ref = f"{rtype}.{idents[(source.name, _key(source))]}"
        clone.attr("vm_id", Ref(f"{ref}.vm_id"))
        if source.node != guest.node:
            clone.attr("node_name", Ref(f"{ref}.node_name"))
    elif guest.clone_from in clone_vmids:
        clone.attr("vm_id", clone_vmids[guest.clone_from])
    elif guest.clone_from.isdigit():
        clone.attr("vm_id", int(guest.clone_from))
    else:
        raise ManifestError(
            f"{guest.ref}: clone source {guest.clone_from!r} is neither a manifest nor an existing guest."
        )
    clone.attr("datastore_id", guest.clone_storage)
    if guest.kind == "vm":
        clone.attr("full", guest.clone_full)
    return clone


def _key(guest: GuestSpec) -> int:
    return guest.vmid if guest.vmid is not None else -1


def _vm_body(guest: GuestSpec) -> Block:
    body = Block("resource")
    body.attr("name", guest.name).attr("node_name", guest.node).attr("vm_id", guest.vmid)
    body.attr("description", guest.description).attr("pool_id", guest.pool)
    body.attr("tags", list(guest.tags) if guest.tags_managed else None)
    body.attr("template", True if guest.template else None)
    body.attr("started", _started(guest))
    # The provider's own default is true; PVE's is false: say it, so adoption changes nothing.
    body.attr("on_boot", bool(guest.onboot))
    body.attr("protection", guest.protection)
    body.attr("scsi_hardware", guest.scsihw)
    body.attr("bios", guest.bios).attr("machine", guest.machine)
    body.attr("hook_script_file_id", guest.hookscript)
    return body


def _vm_blocks(guest: GuestSpec, body: Block) -> None:
    if guest.agent is not None:
        body.block(Block("agent").attr("enabled", guest.agent))
    body.block(
        Block("cpu").attr("cores", guest.cores).attr("sockets", guest.sockets).attr("type", guest.cpu_type)
    )
    if guest.memory is not None:
        body.block(Block("memory").attr("dedicated", guest.memory))
    for disk in guest.disks:
        body.block(
            Block("disk")
            .attr("interface", disk.slot)
            .attr("datastore_id", disk.storage)
            .attr("size", disk.size_gb)
        )
    for nic in guest.networks:
        body.block(
            Block("network_device")
            .attr("bridge", nic.bridge)
            .attr("model", nic.model)
            .attr("mac_address", nic.mac)
            .attr("vlan_id", nic.vlan)
            .attr("firewall", True if nic.firewall else None)
        )
    ci = guest.cloud_init
    if ci is not None:
        init = Block("initialization").attr("datastore_id", ci.storage).attr("interface", ci.drive)
        if ci.nameserver or ci.searchdomain:
            init.block(
                Block("dns")
                .attr("domain", ci.searchdomain)
                .attr("servers", ci.nameserver.split() if ci.nameserver else None)
            )
        if ci.ip:
            init.block(
                Block("ip_config").block(Block("ipv4").attr("address", ci.ip).attr("gateway", ci.gateway))
            )
        if ci.user or ci.ssh_keys:
            init.block(
                Block("user_account")
                .attr("username", ci.user)
                .attr("keys", list(ci.ssh_keys) if ci.ssh_keys else None)
            )
        body.block(init)
    if guest.ostype:
        body.block(Block("operating_system").attr("type", guest.ostype))


def _ct_body(guest: GuestSpec) -> Block:
    body = Block("resource")
    body.attr("node_name", guest.node).attr("vm_id", guest.vmid)
    body.attr("description", guest.description).attr("pool_id", guest.pool)
    body.attr("tags", list(guest.tags) if guest.tags_managed else None)
    body.attr("template", True if guest.template else None)
    body.attr("unprivileged", guest.unprivileged)
    body.attr("started", _started(guest))
    body.attr("start_on_boot", bool(guest.onboot))
    body.attr("protection", guest.protection)
    body.attr("hook_script_file_id", guest.hookscript)
    return body


def _ct_blocks(guest: GuestSpec, body: Block) -> None:
    if guest.cores is not None:
        body.block(Block("cpu").attr("cores", guest.cores))
    if guest.memory is not None or guest.swap is not None:
        body.block(Block("memory").attr("dedicated", guest.memory).attr("swap", guest.swap))
    rootfs = guest.rootfs
    if rootfs is not None:
        body.block(Block("disk").attr("datastore_id", rootfs.storage).attr("size", rootfs.size_gb))
    for mount in guest.mounts:
        # A volume is `STORAGE` plus a size; a bind mount is the host path.
        body.block(
            Block("mount_point")
            .attr("volume", mount.source or mount.storage)
            .attr("path", mount.path)
            .attr("size", mount.size if mount.source is None else None)
        )
    for nic in guest.networks:
        body.block(
            Block("network_interface")
            .attr("name", nic.name or "eth0")
            .attr("bridge", nic.bridge)
            .attr("mac_address", nic.mac)
            .attr("vlan_id", nic.vlan)
            .attr("firewall", True if nic.firewall else None)
        )
    init = Block("initialization").attr("hostname", guest.name)
    for nic in guest.networks:
        ip_config = Block("ip_config")
        if nic.ip:
            ip_config.block(Block("ipv4").attr("address", nic.ip).attr("gateway", nic.gateway))
        init.block(ip_config)
    if guest.ssh_keys:
        init.block(Block("user_account").attr("keys", list(guest.ssh_keys)))
    body.block(init)
    if guest.ostemplate:
        body.block(
            Block("operating_system").attr("template_file_id", guest.ostemplate).attr("type", guest.ostype)
        )


@dataclass
class Resource:
    type: str
    name: str
    comments: list[str]
    body: str


def _resources(inputs: GenerateInputs, clone_vmids: dict[str, int]) -> tuple[list[Resource], list[Resource]]:
    idents = unique_identifiers((g.name, _key(g)) for g in inputs.guests)
    vms: list[Resource] = []
    cts: list[Resource] = []
    for guest in inputs.guests:
        ident = idents[(guest.name, _key(guest))]
        comments = [
            f"{guest.ref} ({guest.name}) on {guest.node}" + ("" if guest.exists else ": to be created")
        ]
        if guest.unmapped:
            comments.append("Not expressed here (set by hand if needed): " + ", ".join(guest.unmapped))
        guest = with_pve_defaults(guest, inputs)
        if guest.kind == "vm":
            body = _vm_body(guest)
            body.block(_clone_block(guest, inputs, idents, clone_vmids))
            _vm_blocks(guest, body)
            vms.append(Resource(VM_TYPE, ident, comments, render_body(body, 1)))
        else:
            body = _ct_body(guest)
            body.block(_clone_block(guest, inputs, idents, clone_vmids))
            _ct_blocks(guest, body)
            cts.append(Resource(CT_TYPE, ident, comments, render_body(body, 1)))
    return vms, cts


def _imports(inputs: GenerateInputs) -> list[tuple[str, str]]:
    idents = unique_identifiers((g.name, _key(g)) for g in inputs.guests)
    out = []
    for guest in inputs.guests:
        if guest.exists and guest.vmid is not None:
            rtype = VM_TYPE if guest.kind == "vm" else CT_TYPE
            out.append((f"{rtype}.{idents[(guest.name, _key(guest))]}", hcl_string(guest.import_id)))
    for spec, ident in _resource_idents(inputs):
        if spec.import_id is not None:
            out.append((f"{spec.terraform_type}.{ident}", hcl_string(spec.import_id)))
    return out


def _resource_idents(inputs: GenerateInputs) -> list[tuple[ResourceSpec, str]]:
    """Return each non-guest resource with its Terraform name (unique within its type)."""
    found = []
    for rtype in sorted({r.terraform_type for r in inputs.resources}):
        specs = [r for r in inputs.resources if r.terraform_type == rtype]
        idents = unique_identifiers((r.id, index) for index, r in enumerate(specs))
        found += [(r, idents[(r.id, index)]) for index, r in enumerate(specs)]
    return found


def _addresses(inputs: GenerateInputs) -> dict[str, str]:
    """Return the Terraform address of each guest (by `vm/101` and `guest/101`) and resource (by `ha/vm:101`)."""
    found: dict[str, str] = {}
    idents = unique_identifiers((g.name, _key(g)) for g in inputs.guests)
    for guest in inputs.guests:
        if guest.vmid is not None:
            address = f"{VM_TYPE if guest.kind == 'vm' else CT_TYPE}.{idents[(guest.name, _key(guest))]}"
            found[f"{guest.kind}/{guest.vmid}"] = found[f"guest/{guest.vmid}"] = address
    for spec, ident in _resource_idents(inputs):
        found[spec.ref] = f"{spec.terraform_type}.{ident}"
    return found


def _resource_files(inputs: GenerateInputs) -> dict[str, list[Resource]]:
    """Return the Terraform resources of the other kinds by file: `pools.tf`, ... (only kinds that have some).

    A resource `depends_on` what it names among them (a guest of an HA resource or a backup job, the
    groups of a user, the role of an ACL entry): values name them by id, so `terraform apply` would not
    otherwise know to make those first.
    """
    files: dict[str, list[Resource]] = {}
    addresses = _addresses(inputs)
    for spec, ident in _resource_idents(inputs):
        body = Block("resource")
        for key, value in spec.terraform_attrs:
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for item in value:  # a list of objects is a repeated nested block: `rule { ... }`
                    body.block(Block(key, [(k, v) for k, v in item.items() if v is not None]))
            elif isinstance(value, EnvSecret):
                body.attr(key, Ref(f"var.{secret_variable(value)}"))
            else:
                body.attr(key, value)
        # Values name other resources by id, not by reference: say what Terraform must make first.
        needs = sorted({addresses[a] for a in spec.references if a in addresses})
        if needs:
            body.attr("depends_on", Ref("[" + ", ".join(needs) + "]"))
        comment = f"{spec.ref}" + ("" if spec.import_id or spec.unimportable else ": to be created")
        comments = [comment]
        if spec.unimportable:
            comments.append("The provider documents no import for this type: `terraform apply` would try to create it.")
        if spec.unmapped:
            comments.append("Not expressed here (set by hand if needed): " + ", ".join(spec.unmapped))
        files.setdefault(f"{spec.folder}.tf", []).append(
            Resource(spec.terraform_type, ident, comments, render_body(body, 1))
        )
    return files


def secret_variable(secret: EnvSecret) -> str:
    """Return the sensitive variable that stands for a secret a manifest names by environment variable."""
    return secret.env.lower()


def _secret_variables(inputs: GenerateInputs) -> list[tuple[str, str, list[str]]]:
    """Return (variable, environment variable, resources that use it) for every secret, each once."""
    found: dict[str, tuple[str, list[str]]] = {}
    for spec in inputs.resources:
        for _, value in spec.terraform_attrs:
            if isinstance(value, EnvSecret):
                found.setdefault(secret_variable(value), (value.env, []))[1].append(spec.ref)
    return [(name, env, users) for name, (env, users) in sorted(found.items())]


def render(inputs: GenerateInputs, clone_vmids: dict[str, int] | None = None) -> dict[str, str]:
    """Render the Terraform files: {relative path: text}.

    `clone_vmids` maps clone sources that are not among the guests (by name) to their VMIDs.

    Raises:
        ManifestError: a guest name is unsafe, or a clone source cannot be found.
    """
    inputs = inputs.sorted()
    check_inputs(inputs)
    vms, cts = _resources(inputs, dict(clone_vmids or {}))
    cluster = inputs.cluster
    context = {
        "provider_version": inputs.provider_version,
        "endpoint": hcl_string(cluster.endpoint) if cluster.endpoint else None,
        "vms": vms,
        "cts": cts,
        "imports": _imports(inputs),
        "secrets": _secret_variables(inputs),
    }
    files = {
        "versions.tf": "versions.tf.j2",
        "provider.tf": "provider.tf.j2",
        "variables.tf": "variables.tf.j2",
        "vms.tf": "guests.tf.j2",
        "containers.tf": "guests.tf.j2",
        "imports.tf": "imports.tf.j2",
    }
    out: dict[str, str] = {}
    for path, template in files.items():
        extra = {
            "resources": vms if path == "vms.tf" else cts,
            "what": "VMs" if path == "vms.tf" else "containers",
        }
        body = render_template(f"terraform/{template}", **context, **extra)
        out[path] = with_header(GENERATOR, path, body)
    for path, found in _resource_files(inputs).items():
        body = render_template("terraform/guests.tf.j2", resources=found, what=path)
        out[path] = with_header(GENERATOR, path, body)
    return out

"""Ansible: a static inventory grouped by node, tag, pool and kind, a dynamic one, and provisioning tasks."""

from __future__ import annotations

from typing import Any

from proxmox_mpc.core.guest_params import QEMU_OSTYPES
from proxmox_mpc.errors import ManifestError
from proxmox_mpc.generators.common import (
    AnsibleExpr,
    ansible_lines,
    ansible_value,
    identifier,
    render_template,
    safe_name,
    scaffold_header,
    with_header,
)
from proxmox_mpc.generators.model import GenerateInputs, GuestSpec, ResourceSpec, after_guests, check_inputs
from proxmox_mpc.kinds.base import ApiWrite, EnvSecret

GENERATOR = "ansible"
KVM = "community.proxmox.proxmox_kvm"
LXC = "community.proxmox.proxmox"
# Option values the modules accept (checked against `ansible-doc` in the tests); others are left out.
KVM_OSTYPES = frozenset(QEMU_OSTYPES)
KVM_SCSIHW = frozenset({"lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"})
KVM_BIOS = frozenset({"seabios", "ovmf"})
LXC_OSTYPES = frozenset(
    {
        "auto",
        "debian",
        "devuan",
        "ubuntu",
        "centos",
        "fedora",
        "opensuse",
        "archlinux",
        "alpine",
        "gentoo",
        "nixos",
        "unmanaged",
    }
)
DISK_BUSES = ("scsi", "virtio", "sata", "ide")
# Long-running creates and clones: the modules' default is 30 seconds.
CREATE_TIMEOUT = 600


def host_names(guests: list[GuestSpec]) -> dict[tuple[str, int | None], str]:
    """Return each guest's inventory name: its own, or `name-vmid` where PVE let two share one."""
    counts: dict[str, int] = {}
    for guest in guests:
        counts[guest.name] = counts.get(guest.name, 0) + 1
    return {
        (g.name, g.vmid): g.name if counts[g.name] == 1 or g.vmid is None else f"{g.name}-{g.vmid}"
        for g in guests
    }


def _groups(guest: GuestSpec) -> list[str]:
    groups = [f"kind_{guest.kind}", f"node_{identifier(guest.node)}"]
    groups += [f"tag_{identifier(t)}" for t in guest.tags]
    if guest.pool:
        groups.append(f"pool_{identifier(guest.pool)}")
    return groups


def _inventory(hosts: list[GuestSpec], names: dict[tuple[str, int | None], str]) -> dict[str, Any]:
    """Return the static inventory of the hosts (the guests but templates), named by host_names."""
    members: dict[str, list[str]] = {}
    for guest in hosts:
        for group in _groups(guest):
            members.setdefault(group, []).append(names[(guest.name, guest.vmid)])
    return {
        "hosts": sorted(
            ({"name": names[(g.name, g.vmid)], "address": g.address} for g in hosts),
            key=lambda h: str(h["name"]),
        ),
        "groups": [{"name": name, "hosts": sorted(members[name])} for name in sorted(members)],
    }


def _host_vars(guest: GuestSpec) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = [
        ("proxmox_vmid", guest.vmid),
        ("proxmox_node", guest.node),
        ("proxmox_kind", guest.kind),
        ("proxmox_tags", list(guest.tags)),
        ("proxmox_pool", guest.pool),
    ]
    user = guest.cloud_init.user if guest.cloud_init else None
    if user:
        items.append(("ansible_user", user))
    elif guest.kind == "ct":
        items.append(("ansible_user", "root"))
    return items


def _host_vars_text(guest: GuestSpec) -> str:
    """Return a guest's host_vars file below the header: a comment naming it, then one variable a line.

    Made as a string rather than from a template: one template render per host was most of the time
    of a fleet's inventory.
    """
    return f"# {guest.ref} ({guest.name})\n{ansible_lines(_host_vars(guest))}\n"


def _net_value(nic: Any) -> str:
    head = f"{nic.model or 'virtio'}={nic.mac}" if nic.mac else (nic.model or "virtio")
    parts = [head]
    if nic.bridge:
        parts.append(f"bridge={nic.bridge}")
    if nic.vlan is not None:
        parts.append(f"tag={nic.vlan}")
    if nic.firewall:
        parts.append("firewall=1")
    return ",".join(parts)


def _netif_value(nic: Any) -> str:
    parts = [f"name={nic.name or 'eth0'}"]
    for key, value in (("bridge", nic.bridge), ("ip", nic.ip), ("gw", nic.gateway), ("hwaddr", nic.mac)):
        if value:
            parts.append(f"{key}={value}")
    if nic.vlan is not None:
        parts.append(f"tag={nic.vlan}")
    if nic.firewall:
        parts.append("firewall=1")
    return ",".join(parts)


def _put(args: list[tuple[str, Any]], key: str, value: Any) -> None:
    """Add an option unless it is unset: None, or an empty list or mapping."""
    if value is None or (not value and isinstance(value, (list, dict))):
        return
    args.append((key, value))


def _vm_settings(guest: GuestSpec) -> list[tuple[str, Any]]:
    """Options that both create and update a VM safely (no disks, no NICs)."""
    args: list[tuple[str, Any]] = []
    _put(args, "cores", guest.cores)
    _put(args, "sockets", guest.sockets)
    _put(args, "cpu", guest.cpu_type)
    _put(args, "memory", guest.memory)
    _put(args, "tags", list(guest.tags))
    _put(args, "onboot", guest.onboot)
    _put(args, "agent", None if guest.agent is None else ("1" if guest.agent else "0"))
    _put(args, "protection", guest.protection)
    _put(args, "description", guest.description)
    _put(args, "ostype", guest.ostype if guest.ostype in KVM_OSTYPES else None)
    _put(args, "scsihw", guest.scsihw if guest.scsihw in KVM_SCSIHW else None)
    _put(args, "bios", guest.bios if guest.bios in KVM_BIOS else None)
    _put(args, "hookscript", guest.hookscript)
    ci = guest.cloud_init
    if ci is not None:
        _put(args, "ciuser", ci.user)
        _put(args, "sshkeys", "\n".join(ci.ssh_keys) if ci.ssh_keys else None)
        if ci.ip:
            _put(args, "ipconfig", {"ipconfig0": f"ip={ci.ip}" + (f",gw={ci.gateway}" if ci.gateway else "")})
        _put(args, "nameservers", ci.nameserver.split() if ci.nameserver else None)
        _put(args, "searchdomains", ci.searchdomain.split() if ci.searchdomain else None)
    return args


def _vm_ident(guest: GuestSpec) -> list[tuple[str, Any]]:
    return ([("vmid", guest.vmid)] if guest.vmid is not None else []) + [("name", guest.name)]


def _vm_tasks(guest: GuestSpec, inputs: GenerateInputs) -> list[dict[str, Any]]:
    who = f"{guest.ref} {guest.name}"
    ident: list[tuple[str, Any]] = (
        [("vmid", guest.vmid)] if guest.vmid is not None else [("name", guest.name)]
    )
    tasks = []
    settings = _vm_settings(guest)
    if guest.clone_from is not None:
        source = inputs.find(guest.clone_from)
        args: list[tuple[str, Any]] = [("clone", source.name if source else guest.clone_from)]
        if source is not None and source.vmid is not None:
            args.append(("vmid", source.vmid))
        elif guest.clone_from.isdigit():
            args.append(("vmid", int(guest.clone_from)))
        _put(args, "newid", guest.vmid)
        args += [("name", guest.name), ("node", source.node if source else guest.node)]
        if source is not None and source.node != guest.node:
            args.append(("target", guest.node))
        args.append(("full", guest.clone_full))
        _put(args, "storage", guest.clone_storage)
        _put(args, "pool", guest.pool)
        args += [("timeout", CREATE_TIMEOUT), ("state", "present")]
        tasks.append({"name": f"{who} is cloned from {guest.clone_from}", "module": KVM, "args": args})
    else:
        args = [*_vm_ident(guest), ("node", guest.node), *settings]
        _put(args, "pool", guest.pool)
        # Each disk's size once (a slot starts with at most one bus's name).
        sized = [
            (d.slot, f"{d.storage}:{size}")
            for d in guest.disks
            if d.slot.startswith(DISK_BUSES) and d.storage and (size := d.size_gb)
        ]
        for bus in DISK_BUSES:
            disks = {slot: volume for slot, volume in sized if slot.startswith(bus)}
            if guest.cloud_init is not None and guest.cloud_init.drive.startswith(bus):
                disks[guest.cloud_init.drive] = f"{guest.cloud_init.storage or 'local-lvm'}:cloudinit"
            _put(args, bus, disks)
        _put(args, "net", {n.slot: _net_value(n) for n in guest.networks})
        _put(args, "template", True if guest.template else None)
        args += [("timeout", CREATE_TIMEOUT), ("state", "present")]
        tasks.append({"name": f"{who} exists", "module": KVM, "args": args})
    if settings and not guest.template:
        tasks.append(
            {
                "name": f"{who} has its settings",
                "module": KVM,
                "args": [*_vm_ident(guest), ("node", guest.node), *settings, ("update", True)],
            }
        )
    if guest.state is not None and not guest.template:
        state = "started" if guest.state == "running" else "stopped"
        tasks.append(
            {
                "name": f"{who} is {guest.state}",
                "module": KVM,
                "args": [*ident, ("node", guest.node), ("state", state)],
            }
        )
    return tasks


def _ct_settings(guest: GuestSpec, *, create: bool) -> list[tuple[str, Any]]:
    args: list[tuple[str, Any]] = []
    _put(args, "cores", guest.cores)
    _put(args, "memory", guest.memory)
    _put(args, "swap", guest.swap)
    if create:
        # The module's update path sends tags as a list, which PVE refuses: they are set on create only.
        _put(args, "tags", list(guest.tags))
    _put(args, "onboot", guest.onboot)
    _put(args, "description", guest.description)
    _put(args, "hookscript", guest.hookscript)
    return args


def _ct_tasks(guest: GuestSpec, inputs: GenerateInputs) -> list[dict[str, Any]]:
    who = f"{guest.ref} {guest.name}"
    # The module needs the hostname whenever state is present; the VMID, when known, picks the guest.
    ident: list[tuple[str, Any]] = ([("vmid", guest.vmid)] if guest.vmid is not None else []) + [
        ("hostname", guest.name)
    ]
    tasks = []
    if guest.clone_from is None and guest.ostemplate is None and not guest.exists:
        raise ManifestError(f"{guest.ref}: a new container needs spec.ostemplate or spec.clone.")
    if guest.clone_from is not None:
        source = inputs.find(guest.clone_from)
        source_id = (
            source.vmid
            if source is not None
            else (int(guest.clone_from) if guest.clone_from.isdigit() else None)
        )
        if source_id is None:
            raise ManifestError(
                f"{guest.ref}: the container clone source {guest.clone_from!r} has no known VMID."
            )
        args: list[tuple[str, Any]] = [("clone", source_id)]
        _put(args, "vmid", guest.vmid)
        args += [
            ("hostname", guest.name),
            ("node", guest.node),
            ("clone_type", "full" if guest.clone_full else "linked"),
        ]
        _put(args, "storage", guest.clone_storage)
        _put(args, "pool", guest.pool)
        args += [("timeout", CREATE_TIMEOUT), ("state", "present")]
        tasks.append({"name": f"{who} is cloned from {guest.clone_from}", "module": LXC, "args": args})
    elif guest.ostemplate is not None:
        # Without its template an existing container cannot be described for creation: it is updated only.
        args = [*ident, ("node", guest.node), ("ostemplate", guest.ostemplate)]
        _put(args, "ostype", guest.ostype if guest.ostype in LXC_OSTYPES else None)
        args += _ct_settings(guest, create=True)
        _put(args, "unprivileged", guest.unprivileged)
        _put(args, "pool", guest.pool)
        _put(args, "pubkey", "\n".join(guest.ssh_keys) if guest.ssh_keys else None)
        rootfs = guest.rootfs
        if rootfs is not None and rootfs.storage and rootfs.size_gb:
            args.append(("disk_volume", {"storage": rootfs.storage, "size": rootfs.size_gb}))
        mounts: list[dict[str, Any]] = []
        for mount in guest.mounts:
            if mount.source:
                mounts.append({"id": mount.slot, "host_path": mount.source, "mountpoint": mount.path})
            elif mount.storage and mount.size_gb:
                mounts.append(
                    {
                        "id": mount.slot,
                        "storage": mount.storage,
                        "size": mount.size_gb,
                        "mountpoint": mount.path,
                    }
                )
        _put(args, "mount_volumes", mounts)
        _put(args, "netif", {n.slot: _netif_value(n) for n in guest.networks})
        # Create only: changing disks or NICs of an existing container is left to a person.
        args += [("update", False), ("timeout", CREATE_TIMEOUT), ("state", "present")]
        tasks.append({"name": f"{who} exists", "module": LXC, "args": args})
    settings = _ct_settings(guest, create=False)
    if settings and not guest.template:
        tasks.append(
            {
                "name": f"{who} has its settings",
                "module": LXC,
                "args": [*ident, ("node", guest.node), *settings, ("update", True), ("state", "present")],
            }
        )
    if guest.state is not None and not guest.template:
        state = "started" if guest.state == "running" else "stopped"
        tasks.append(
            {
                "name": f"{who} is {guest.state}",
                "module": LXC,
                "args": [*ident, ("node", guest.node), ("state", state)],
            }
        )
    return tasks


URI = "ansible.builtin.uri"
# The API's address and a token header, from the variables of inventory/group_vars/all.yml.
API_URL = AnsibleExpr("https://{{ proxmox_api_host }}:{{ proxmox_api_port }}/api2/json")
API_AUTH = AnsibleExpr("PVEAPIToken={{ proxmox_api_user }}!{{ proxmox_api_token_id }}={{ proxmox_api_token_secret }}")


def uri_args(write: ApiWrite, *, exists: bool) -> list[tuple[str, Any]]:
    """Return the `ansible.builtin.uri` arguments that create (POST) or update (PUT) a resource through the API."""
    if exists:
        url, method = f"{write.collection}/{write.ident}", "PUT"
        body = {k: v for k, v in write.body.items() if k not in write.fixed}
    else:
        url, method, body = write.collection, "POST", {write.key: write.ident, **write.body}
    return [
        ("url", AnsibleExpr(API_URL + url)),
        ("method", method),
        ("headers", {"Authorization": API_AUTH}),
        ("body_format", "form-urlencoded"),
        ("body", body),
        ("validate_certs", AnsibleExpr("{{ proxmox_validate_certs }}")),
    ]


def _resource_tasks(spec: ResourceSpec) -> list[dict[str, Any]]:
    args = spec.ansible_args
    if spec.ansible_module == URI:
        (_, write), = args
        args = uri_args(write, exists=spec.exists)
    # A task that sends a secret (or the API token, for a uri call) keeps its arguments out of the output.
    quiet = spec.ansible_module == URI or any(_holds_secret(v) for _, v in args)
    tasks = [
        {"name": f"{spec.ref} exists", "module": spec.ansible_module, "args": _with_secrets(args), "no_log": quiet}
    ]
    for what, more in spec.ansible_more:
        tasks.append(
            {"name": f"{spec.ref} {what}", "module": spec.ansible_module, "args": _with_secrets(more), "no_log": quiet}
        )
    return tasks


def _holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    return isinstance(value, EnvSecret)


def _with_secrets(args: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Return module arguments with each secret (in an option's suboptions too) as a lookup of its variable."""
    return [(key, _secret_lookup(value)) for key, value in args]


def _secret_lookup(value: Any) -> Any:
    if isinstance(value, EnvSecret):
        return AnsibleExpr(f"{{{{ lookup('ansible.builtin.env', '{value.env}') }}}}")
    if isinstance(value, dict):
        return {k: _secret_lookup(v) for k, v in value.items()}
    return value


def _provision(inputs: GenerateInputs) -> list[dict[str, Any]]:
    # The other kinds first (a guest joins a pool that must exist), then templates, so clones find their
    # source; what names guests (backup jobs, HA resources, then the HA rules over those) last.
    ordered = sorted(inputs.guests, key=lambda g: (not g.template, g.clone_from is not None))
    later = after_guests(inputs.resources)
    tasks = [task for r in inputs.resources if r not in later for task in _resource_tasks(r)]
    for guest in ordered:
        tasks += _vm_tasks(guest, inputs) if guest.kind == "vm" else _ct_tasks(guest, inputs)
    return tasks + [task for r in later for task in _resource_tasks(r)]


def _tasks_yaml(tasks: list[dict[str, Any]]) -> str:
    """Return the provision play's tasks as the lines of its `tasks:` list, a blank line between two tasks.

    Made as a string rather than by a template loop: the loop's steps were a third of the time of a
    fleet's provision.yml.
    """
    blocks = []
    for task in tasks:
        block = f"    - name: {ansible_value(task['name'])}\n      {task['module']}:"
        if task["args"]:
            block += "\n" + ansible_lines(task["args"], 8)
        if task.get("no_log"):
            block += "\n      no_log: true"
        blocks.append(block)
    return "\n\n".join(blocks)


def render(inputs: GenerateInputs) -> dict[str, str]:
    """Render the Ansible files: {relative path: text}.

    Raises:
        ManifestError: a guest or node name is unsafe, or a container clone source has no VMID.
    """
    inputs = inputs.sorted()
    check_inputs(inputs)
    cluster = inputs.cluster
    hosts = [g for g in inputs.guests if not g.template]
    names = host_names(hosts)
    inventory = _inventory(hosts, names)
    tags = sorted({t for g in hosts for t in g.tags})
    by_group: dict[str, list[str]] = {}
    for tag in tags:
        by_group.setdefault(f"tag_{identifier(tag)}", []).append(tag)
    roles = [{"tags": by_group[g], "group": g, "role": g} for g in sorted(by_group)]
    context: dict[str, Any] = {
        "cluster": cluster,
        "inventory": inventory,
        "roles": roles,
        "tasks_yaml": _tasks_yaml(_provision(inputs)),
        "kvm": KVM,
        "lxc": LXC,
    }
    out: dict[str, str] = {}
    for path, template in (
        ("ansible.cfg", "ansible.cfg.j2"),
        ("requirements.yml", "requirements.yml.j2"),
        ("inventory/hosts.yml", "hosts.yml.j2"),
        ("inventory/group_vars/all.yml", "group_vars_all.yml.j2"),
        ("pmpc.proxmox.yml", "dynamic.proxmox.yml.j2"),
        ("site.yml", "site.yml.j2"),
        ("provision.yml", "provision.yml.j2"),
        ("roles/common/tasks/main.yml", "common_role.yml.j2"),
    ):
        out[path] = with_header(GENERATOR, path, render_template(f"ansible/{template}", **context))
    for guest in hosts:
        path = f"inventory/host_vars/{safe_name(names[(guest.name, guest.vmid)])}.yml"
        out[path] = with_header(GENERATOR, path, _host_vars_text(guest))
    for role in roles:
        path = f"roles/{role['role']}/tasks/main.yml"
        out[path] = scaffold_header(GENERATOR, path) + render_template("ansible/tag_role.yml.j2", **role)
    return out

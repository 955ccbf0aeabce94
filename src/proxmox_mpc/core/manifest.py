"""The mapping between a guest manifest (core/manifest_models.py) and a Proxmox guest config.

`manifest_to_config` gives the keys PVE stores for a manifest; `manifest_from_config` reads them
back, leaving whatever has no structured field in `config:`. The mapping round-trips:
`manifest_from_config(manifest_to_config(m), ...) == m` for every canonical manifest, and a manifest
imported from a guest maps back to a config that `normalize.equivalent()` finds equal to the
guest's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.identity import guest_kind, is_api_guest_type, manifest_kind, prefix
from proxmox_mpc.core.manifest_models import (
    CT_FIELD_KEYS,
    LIFECYCLE_FIELDS,
    MAC_RE,
    MASKED,
    MAX_MEMORY_MIB,
    MAX_NAME_LENGTH,
    MP_SLOT,
    NAME_RE,
    NET_SLOT,
    SIMPLE_VALUE,
    VM_DISK_SLOT,
    VM_FIELD_KEYS,
    AnyManifest,
    Clone,
    CloudInit,
    ConfigValue,
    CtManifest,
    CtMount,
    CtNetwork,
    CtRootfs,
    CtSpec,
    DiskSlot,
    Lifecycle,
    Manifest,
    Mib,
    MountSlot,
    NetSlot,
    Options,
    PowerState,
    Size,
    VmDisk,
    VmManifest,
    VmNetwork,
    VmSpec,
    _slot_order,
    scalar,
)
from proxmox_mpc.core.pveconfig import QEMU_NIC_MODELS, parse_size

# ----------------------------------------------------------------------------- to Proxmox


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _disk_value(
    storage: str, size: str, options: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> str:
    head = f"{storage}:{nz.gib_text(parse_size(size))}"
    return nz.join_props(head, {**options, **(extra or {})})


def _vm_net_value(net: VmNetwork) -> str:
    props: dict[str, Any] = dict(net.options)
    if net.bridge is not None:
        props["bridge"] = net.bridge
    if net.tag is not None:
        props["tag"] = net.tag
    if net.firewall is not None:
        props["firewall"] = int(net.firewall)
    head = f"{net.model}={net.macaddr}" if net.macaddr else net.model
    return nz.join_props(head, props)


def _ct_net_value(net: CtNetwork) -> str:
    props: dict[str, Any] = dict(net.options)
    props["name"] = net.name
    for key in ("bridge", "ip", "gw", "ip6", "gw6", "tag", "hwaddr"):
        if getattr(net, key) is not None:
            props[key] = getattr(net, key)
    if net.firewall is not None:
        props["firewall"] = int(net.firewall)
    return nz.join_props(None, props)


def _ipconfig(ci: CloudInit) -> str | None:
    props = {k: getattr(ci, k) for k in ("ip", "gw", "ip6", "gw6") if getattr(ci, k) is not None}
    return nz.join_props(None, props) if props else None


def manifest_to_config(manifest: AnyManifest) -> dict[str, ConfigValue]:
    """Return the Proxmox config a manifest asks for: only the keys it manages (None = delete the key).

    Disks and mount points use PVE's create syntax (`local-lvm:32` for 32 GiB); `normalize`
    compares them with the stored form (`local-lvm:vm-101-disk-0,size=32G`).
    """
    config: dict[str, ConfigValue] = {}
    spec = manifest.spec
    common: dict[str, Any] = {
        "cores": spec.cores,
        "memory": spec.memory,
        "ostype": spec.os_type,
        "onboot": _bool(spec.onboot),
        "protection": _bool(spec.protection),
        "description": spec.description,
        "template": _bool(spec.template),
    }
    if spec.tags is not None:
        common["tags"] = ";".join(spec.tags)
    if isinstance(manifest, VmManifest):
        vm = manifest.spec
        config["name"] = manifest.name
        common.update(sockets=vm.sockets, cpu=vm.cpu, agent=_bool(vm.agent))
        for disk in vm.disks or []:
            config[disk.slot] = _disk_value(disk.storage, disk.size, disk.options)
        for net in vm.networks or []:
            config[net.slot] = _vm_net_value(net)
        ci = vm.cloud_init
        if ci is not None:
            config[ci.drive] = f"{ci.storage}:cloudinit" if ci.storage else "cloudinit"
            common.update(
                ciuser=ci.user,
                nameserver=ci.nameserver,
                searchdomain=ci.searchdomain,
                ipconfig0=_ipconfig(ci),
            )
            if ci.ssh_keys is not None:
                common["sshkeys"] = "\n".join(ci.ssh_keys)
    else:
        ct = manifest.spec
        config["hostname"] = manifest.name
        common.update(
            swap=ct.swap,
            unprivileged=_bool(ct.unprivileged),
            nameserver=ct.nameserver,
            searchdomain=ct.searchdomain,
        )
        if ct.rootfs is not None:
            config["rootfs"] = _disk_value(ct.rootfs.storage, ct.rootfs.size, ct.rootfs.options)
        for mount in ct.mounts or []:
            if mount.source is not None:
                config[mount.slot] = nz.join_props(mount.source, {**mount.options, "mp": mount.path})
            else:
                assert mount.storage is not None and mount.size is not None
                config[mount.slot] = _disk_value(mount.storage, mount.size, mount.options, {"mp": mount.path})
        for ct_net in ct.networks or []:
            config[ct_net.slot] = _ct_net_value(ct_net)
    config.update({k: v for k, v in common.items() if v is not None})
    config.update(spec.config)
    return config


def managed_keys(
    manifest: AnyManifest, observed: Mapping[str, Any], desired: Mapping[str, Any] | None = None
) -> set[str]:
    """Return the keys a manifest owns: what it sets, plus the observed members of each family it lists.

    A family is authoritative when its list is given: VM disks (not CD-ROMs), NICs, container mount
    points; an observed key of such a family that the manifest leaves out is to be deleted. `desired`:
    the manifest's `manifest_to_config`, when the caller has it already.
    """
    kind = prefix(manifest.kind)
    keys = set(manifest_to_config(manifest) if desired is None else desired)
    spec = manifest.spec
    for key, value in observed.items():
        if key in keys or key in nz.VOLATILE_KEYS:
            continue
        if nz.NET_RE.match(key) and spec.networks is not None:
            keys.add(key)
        elif kind == "vm" and isinstance(spec, VmSpec):
            disk = bool(nz.QEMU_DISK_RE.match(key))
            owned_disk = disk and not nz.is_cdrom(value) and spec.disks is not None
            owned_ci = spec.cloud_init is not None and bool(
                key in nz.CLOUDINIT_KEYS
                or nz.IPCONFIG_RE.match(key)
                or (disk and nz.is_cloudinit_drive(value))
            )
            if owned_disk or owned_ci:
                keys.add(key)
        elif kind == "ct" and isinstance(spec, CtSpec) and MP_SLOT.match(key) and spec.mounts is not None:
            keys.add(key)
    return keys


def ignores_change(manifest: AnyManifest, key: str) -> bool:
    """Return True when `lifecycle.ignore_changes` leaves a plan field (config key or pseudo-field) alone."""
    if manifest.lifecycle is None or not manifest.lifecycle.ignore_changes:
        return False
    names = set(manifest.lifecycle.ignore_changes)
    if key in names or f"config.{key}" in names:
        return True
    owners = {attr for attr, k in {**VM_FIELD_KEYS, **CT_FIELD_KEYS}.items() if k == key}
    if owners & names:
        return True
    if "config" in names and key in manifest.spec.config:
        return True
    if "networks" in names and nz.NET_RE.match(key):
        return True
    if manifest.kind == "VM":
        if "disks" in names and nz.QEMU_DISK_RE.match(key):
            return True
        if "cloud_init" in names and (key in nz.CLOUDINIT_KEYS or nz.IPCONFIG_RE.match(key)):
            return True
    else:
        if "mounts" in names and MP_SLOT.match(key):
            return True
        if "rootfs" in names and key == "rootfs":
            return True
    return False


# ----------------------------------------------------------------------------- from Proxmox


def _props_to_options(props: Mapping[str, str], skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        k.removeprefix("opt:"): v
        for k, v in sorted(props.items())
        if k.startswith("opt:") and k[4:] not in skip
    }


def _import_disk(slot: str, value: Any) -> VmDisk | None:
    disk = nz.parse_disk(value)
    if "storage" not in disk or "size" not in disk:
        return None
    try:
        return VmDisk(slot=slot, storage=disk["storage"], size=disk["size"], options=_props_to_options(disk))
    except ValueError:
        return None  # not a disk a manifest can describe (`local-lvm:0`): it stays in `config:` verbatim


def _import_vm_net(slot: str, value: Any) -> VmNetwork | None:
    canon = nz.canonical("vm", slot, value)
    if not isinstance(canon, dict) or canon.get("model") not in QEMU_NIC_MODELS:
        return None
    rest = {k: v for k, v in canon.items() if k not in ("model", "macaddr", "bridge", "tag", "firewall")}
    tag = canon.get("tag")
    if tag is not None and not (tag.isdigit() and 1 <= int(tag) <= 4094):
        return None
    return VmNetwork(
        slot=slot,
        model=canon["model"],
        macaddr=canon.get("macaddr"),
        bridge=canon.get("bridge"),
        tag=int(tag) if tag else None,
        firewall=True if canon.get("firewall") == "1" else None,
        options=rest,
    )


def _import_ct_net(slot: str, value: Any) -> CtNetwork | None:
    canon = nz.canonical("ct", slot, value)
    if not isinstance(canon, dict) or "name" not in canon:
        return None
    fields = ("name", "bridge", "ip", "gw", "ip6", "gw6", "tag", "firewall", "hwaddr")
    tag = canon.get("tag")
    if tag is not None and not (tag.isdigit() and 1 <= int(tag) <= 4094):
        return None
    rest = {k: v for k, v in canon.items() if k not in fields}
    known = {k: canon[k] for k in ("name", "bridge", "ip", "gw", "ip6", "gw6", "hwaddr") if k in canon}
    return CtNetwork(
        slot=slot,
        tag=int(tag) if tag else None,
        firewall=True if canon.get("firewall") == "1" else None,
        options=rest,
        **known,
    )


def _import_mount(slot: str, value: Any) -> CtMount | None:
    disk = nz.parse_disk(value)
    path = disk.get("opt:mp")
    if not path:
        return None
    options = _props_to_options(disk, skip=("mp",))
    if "source" in disk:
        return CtMount(slot=slot, path=path, source=disk["source"], options=options)
    if "size" not in disk:
        return None
    return CtMount(slot=slot, path=path, storage=disk["storage"], size=disk["size"], options=options)


def _import_cloud_init(config: dict[str, Any], drive: str | None) -> CloudInit | None:
    keys = ("ciuser", "sshkeys", "ipconfig0", "nameserver", "searchdomain")
    if drive is None and not any(k in config for k in ("ciuser", "sshkeys", "ipconfig0")):
        return None
    ipconfig = nz.canonical("vm", "ipconfig0", config.get("ipconfig0")) or {}
    if set(ipconfig) - {"ip", "gw", "ip6", "gw6"}:
        return None
    storage = None
    if drive is not None:
        storage, _ = nz.split_volume(str(nz.split_props(config[drive])[0] or ""))
    ci = CloudInit(
        drive=drive or "ide2",
        storage=storage,
        user=config.get("ciuser"),
        ssh_keys=nz.decode_ssh_keys(config["sshkeys"]) if config.get("sshkeys") else None,
        nameserver=config.get("nameserver"),
        searchdomain=config.get("searchdomain"),
        **ipconfig,
    )
    for key in keys:
        config.pop(key, None)
    if drive is not None:
        config.pop(drive, None)
    return ci


def _int(value: Any) -> int | None:
    text = nz.int_text(value)
    return int(text) if SIMPLE_VALUE.match(text) else None


def _flag(value: Any) -> bool | None:
    text = nz.bool_text(value)
    return {"1": True, "0": False}.get(text)


class _Rest:
    """The config keys a manifest has not yet taken: each `take` moves one into the manifest."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        # PVE (and the state store) mask secrets as "**********": never a value to import.
        self.keys: dict[str, Any] = {
            k: v for k, v in config.items() if k not in nz.VOLATILE_KEYS and v is not None and v != MASKED
        }

    def take(self, key: str) -> Any:
        return self.keys.pop(key, None)

    def take_int(self, key: str) -> int | None:
        value = self.keys.get(key)
        number = _int(value) if value is not None else None
        if number is not None:
            self.keys.pop(key)
        return number

    def take_flag(self, key: str) -> bool | None:
        value = self.keys.get(key)
        flag = _flag(value) if value is not None else None
        if flag is not None:
            self.keys.pop(key)
        return flag


def _common_spec(rest: _Rest, kind: str) -> dict[str, Any]:
    """Take the fields VMs and containers share: cores, OS type, flags, description, tags, memory."""
    tags_raw = rest.take("tags")
    spec: dict[str, Any] = {
        "cores": rest.take_int("cores"),
        "os_type": rest.take("ostype"),
        "onboot": rest.take_flag("onboot"),
        "protection": rest.take_flag("protection"),
        "description": rest.take("description"),
        "tags": nz.split_tag_text(tags_raw) if tags_raw is not None else [],
    }
    memory = rest.keys.get("memory")
    if memory is not None and isinstance(nz.canonical(kind, "memory", memory), str):
        mem = _int(nz.canonical(kind, "memory", memory))
        if mem is not None and mem >= 16:
            spec["memory"] = mem
            rest.keys.pop("memory")
    return spec


def _vm_spec(rest: _Rest) -> dict[str, Any]:
    """Take a VM's own fields: sockets, CPU, agent, disks, networks and cloud-init."""
    rest.take("name")
    spec: dict[str, Any] = {"sockets": rest.take_int("sockets"), "cpu": rest.take("cpu")}
    agent = nz.canonical("vm", "agent", rest.keys["agent"]) if "agent" in rest.keys else None
    if isinstance(agent, dict) and set(agent) == {"enabled"}:
        spec["agent"] = agent["enabled"] == "1"
        rest.take("agent")
    disks, nets, ci_drive = [], [], None
    for key in sorted(rest.keys, key=_slot_order):
        value = rest.keys[key]
        if nz.QEMU_DISK_RE.match(key):
            if nz.is_cloudinit_drive(value) and ci_drive is None:
                ci_drive = key
            elif not nz.is_cdrom(value) and (disk := _import_disk(key, value)) is not None:
                disks.append(disk)
                rest.take(key)
        elif nz.NET_RE.match(key) and (net := _import_vm_net(key, value)) is not None:
            nets.append(net)
            rest.take(key)
    spec["disks"] = disks
    spec["networks"] = nets
    spec["cloud_init"] = _import_cloud_init(rest.keys, ci_drive)
    return spec


def _ct_spec(rest: _Rest) -> dict[str, Any]:
    """Take a container's own fields: swap, privilege, DNS, root filesystem, mount points and networks."""
    rest.take("hostname")
    spec: dict[str, Any] = {"swap": rest.take_int("swap")}
    unprivileged = rest.take_flag("unprivileged")
    spec["unprivileged"] = False if unprivileged is None else unprivileged
    spec["nameserver"] = rest.take("nameserver")
    spec["searchdomain"] = rest.take("searchdomain")
    if "rootfs" in rest.keys:
        root = nz.parse_disk(rest.keys["rootfs"])
        if "storage" in root and "size" in root:
            spec["rootfs"] = CtRootfs(storage=root["storage"], size=root["size"], options=_props_to_options(root))
            rest.take("rootfs")
    mounts, nets = [], []
    for key in sorted(rest.keys, key=_slot_order):
        value = rest.keys[key]
        if MP_SLOT.match(key):
            if (mount := _import_mount(key, value)) is not None:
                mounts.append(mount)
                rest.take(key)
        elif nz.NET_RE.match(key) and (net := _import_ct_net(key, value)) is not None:
            nets.append(net)
            rest.take(key)
    spec["mounts"] = mounts
    spec["networks"] = nets
    return spec


def manifest_from_config(
    kind: str,
    name: str,
    node: str,
    vmid: int | None,
    config: Mapping[str, Any],
    *,
    state: str | None = None,
    pool: str | None = None,
    template: bool | None = None,
) -> AnyManifest:
    """Build the manifest of a guest from its Proxmox config (kind: VM|CT or qemu|lxc).

    Keys the structured fields do not cover go to `config:` unchanged; volatile keys (digest,
    lock, generated identities, secrets) are left out.
    """
    kind = manifest_kind(guest_kind(kind)) if is_api_guest_type(kind) else manifest_kind(kind)
    rest = _Rest(config)
    spec = _common_spec(rest, prefix(kind))
    spec["state"] = state
    spec["pool"] = pool
    flag = rest.take_flag("template")
    spec["template"] = template if template is not None else flag
    spec.update(_vm_spec(rest) if kind == "VM" else _ct_spec(rest))
    spec["config"] = {k: scalar(v) for k, v in rest.keys.items() if not k.startswith("unused")}
    data = {
        "kind": kind,
        "name": name,
        "node": node,
        "vmid": vmid,
        "spec": {k: v for k, v in spec.items() if v is not None},
    }
    model: type[AnyManifest] = VmManifest if kind == "VM" else CtManifest
    return model.model_validate(data)


def manifest_to_document(manifest: AnyManifest) -> dict[str, Any]:
    """Return a manifest as the YAML document pmpc writes: absent fields left out, `clone.from` spelled so."""
    data = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec = data.get("spec", {})
    for key in ("config",):
        if not spec.get(key):
            spec.pop(key, None)
    for item in spec.get("disks", []) + spec.get("networks", []) + spec.get("mounts", []):
        if not item.get("options"):
            item.pop("options", None)
    if isinstance(spec.get("rootfs"), dict) and not spec["rootfs"].get("options"):
        spec["rootfs"].pop("options", None)
    ordered = {"kind": data["kind"], "name": data["name"], "node": data["node"]}
    if data.get("vmid") is not None:
        ordered["vmid"] = data["vmid"]
    if data.get("lifecycle"):
        ordered["lifecycle"] = data["lifecycle"]
    ordered["spec"] = dict(sorted(spec.items(), key=_spec_rank))
    return ordered


def _spec_rank(item: tuple[str, Any]) -> int:
    return _SPEC_RANK.get(item[0], len(_SPEC_RANK))


SPEC_ORDER = (
    "template",
    "clone",
    "ostemplate",
    "unprivileged",
    "cores",
    "sockets",
    "cpu",
    "memory",
    "swap",
    "os_type",
    "agent",
    "disks",
    "rootfs",
    "mounts",
    "networks",
    "cloud_init",
    "nameserver",
    "searchdomain",
    "ssh_keys",
    "tags",
    "pool",
    "onboot",
    "protection",
    "description",
    "state",
    "config",
)
_SPEC_RANK = {name: index for index, name in enumerate(SPEC_ORDER)}


__all__ = [
    "CT_FIELD_KEYS",
    "LIFECYCLE_FIELDS",
    "MAC_RE",
    "MASKED",
    "MAX_MEMORY_MIB",
    "MAX_NAME_LENGTH",
    "MP_SLOT",
    "NAME_RE",
    "NET_SLOT",
    "SIMPLE_VALUE",
    "VM_DISK_SLOT",
    "VM_FIELD_KEYS",
    "AnyManifest",
    "Clone",
    "CloudInit",
    "ConfigValue",
    "CtManifest",
    "CtMount",
    "CtNetwork",
    "CtRootfs",
    "CtSpec",
    "DiskSlot",
    "Lifecycle",
    "Manifest",
    "Mib",
    "MountSlot",
    "NetSlot",
    "Options",
    "PowerState",
    "Size",
    "VmDisk",
    "VmManifest",
    "VmNetwork",
    "VmSpec",
    "scalar",
]

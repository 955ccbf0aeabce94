"""Turn create/clone/set/resize flags into Proxmox parameters, validated before any request.

Every check names the offending flag, so `--disk local-lvm:big` fails as a usage error (64)
before pmpc talks to the cluster.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from proxmox_mpc.core.normalize import encode_ssh_keys, gib_text, is_disk_key
from proxmox_mpc.core.pveconfig import QEMU_NIC_MODELS, format_size, parse_size
from proxmox_mpc.errors import UsageError

MIB = 1024**2
# Config keys Proxmox counts in MiB: `set` takes them with a unit too.
MIB_KEYS = ("memory", "swap", "balloon")
# PVE's dns-name format for VM names and CT hostnames.
_NAME_RE = re.compile(
    r"^(?=.{1,255}\Z)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\Z"
)
# PVE's tag format (pve-tag): letters, digits and _ - + . ; it stores them lower-cased.
_TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_+.\-]*\Z", re.I)
_KEY_RE = re.compile(r"^[a-z][a-z0-9_\-]*\Z")
_STORAGE_RE = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]\Z", re.I)
_BRIDGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,14}\Z")
QEMU_OSTYPES = (
    "other",
    "wxp",
    "w2k",
    "w2k3",
    "w2k8",
    "wvista",
    "win7",
    "win8",
    "win10",
    "win11",
    "l24",
    "l26",
    "solaris",
)
# Keys pmpc sets itself from dedicated flags; --set may not override them silently.
CREATE_RESERVED = ("vmid", "node")


def check_name(value: str, flag: str) -> str:
    """Return a valid guest name (PVE's dns-name format).

    Raises:
        UsageError: the name is not a valid DNS name.
    """
    if not value or not _NAME_RE.match(value):
        raise UsageError(
            f"{flag} {value!r} is not a valid name: use letters, digits, '-' and '.', "
            "start and end with a letter or digit (at most 255 characters)."
        )
    return value


def check_positive(value: int | None, flag: str, minimum: int = 1) -> int | None:
    """Return the value when it is at least `minimum` (None passes)."""
    if value is not None and value < minimum:
        raise UsageError(f"{flag} must be at least {minimum}, not {value}.")
    return value


def parse_mib(value: str | int | None, flag: str, minimum: int = 0) -> int | None:
    """Return MiB for `2G`, `512M`, `1.5G` or `2048` (a bare number is MiB, as Proxmox counts memory).

    Sizes go through the same parser as disk sizes; None passes.

    Raises:
        UsageError: not a size, not a whole number of MiB, or below `minimum` MiB; the message names the flag.
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        size = parse_size(text + "M" if re.fullmatch(r"\d+", text) else text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not a size (write e.g. 2G, 512M, or 2048 for MiB).") from None
    if size % MIB:
        raise UsageError(f"{flag} {text!r}: give a whole number of MiB (e.g. 1536M).")
    return check_positive(size // MIB, flag, minimum)


def tags_value(tags: Sequence[str], flag: str = "--tag") -> str | None:
    """Return PVE's tag string (sorted, lower-cased, `;`-joined) for --tag values."""
    found: set[str] = set()
    for raw in tags:
        for tag in re.split(r"[;, ]+", raw):
            if not tag:
                continue
            if not _TAG_RE.match(tag):
                raise UsageError(
                    f"{flag} {tag!r} is not a valid tag: use letters, digits, '_', '-', '+' and '.'."
                )
            found.add(tag.lower())
    return ";".join(sorted(found)) or None


def parse_options(text: str, flag: str) -> dict[str, str]:
    """Split `key=value,key=value` (every part needs a key)."""
    result: dict[str, str] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"{flag} {text!r}: write key=value pairs separated by commas ({part!r} has no key)."
            )
        result[key.strip()] = value.strip()
    return result


def parse_assignments(items: Sequence[str], flag: str = "KEY=VALUE") -> dict[str, str]:
    """Return {key: value} for `KEY=VALUE` arguments.

    Raises:
        UsageError: an item has no `=`, or its key is not a Proxmox config key.
    """
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: write KEY=VALUE, e.g. memory=4096.")
        if not _KEY_RE.match(key):
            raise UsageError(f"{flag} {item!r}: {key!r} is not a Proxmox config key.")
        if key in ("digest",):
            raise UsageError(f"{flag} {item!r}: pmpc sends the digest it read itself.")
        if key in result:
            raise UsageError(f"{flag}: {key!r} is given twice.")
        result[key] = value
    return result


def parse_storage_size(spec: str, flag: str) -> tuple[str, int]:
    """Return (storage, bytes) for `STORAGE:SIZE` (`local-lvm:32G`; a bare number is GiB)."""
    storage, sep, size_text = str(spec).partition(":")
    if not sep or not storage or not size_text:
        raise UsageError(f"{flag} {spec!r}: write STORAGE:SIZE, e.g. local-lvm:32G.")
    if not _STORAGE_RE.match(storage):
        raise UsageError(f"{flag} {spec!r}: {storage!r} is not a storage name.")
    text = size_text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        text += "G"
    try:
        size = parse_size(text)
    except ValueError:
        raise UsageError(f"{flag} {spec!r}: {size_text!r} is not a size (write e.g. 32G or 512M).")
    if size < 1024**2:
        raise UsageError(f"{flag} {spec!r}: the size must be at least 1M.")
    return storage, size


def vm_net_value(spec: str, flag: str = "--net") -> str:
    """Return a QEMU `netN` value for `bridge=vmbr0[,model=virtio][,tag=VLAN][,firewall=1]`."""
    opts = parse_options(spec, flag)
    bridge = opts.pop("bridge", "")
    if not bridge or not _BRIDGE_RE.match(bridge):
        raise UsageError(f"{flag} {spec!r}: bridge= is required and must be a bridge name (e.g. vmbr0).")
    model = opts.pop("model", "virtio")
    if model not in QEMU_NIC_MODELS:
        raise UsageError(
            f"{flag} {spec!r}: model {model!r} is unknown (use one of {', '.join(QEMU_NIC_MODELS)})."
        )
    parts = [model, f"bridge={bridge}"]
    tag = opts.pop("tag", None)
    if tag is not None:
        if not tag.isdigit() or not 1 <= int(tag) <= 4094:
            raise UsageError(f"{flag} {spec!r}: tag must be a VLAN id from 1 to 4094.")
        parts.append(f"tag={int(tag)}")
    for key in ("firewall", "link_down"):
        if key in opts:
            parts.append(f"{key}={_flag_value(opts.pop(key), flag, spec, key)}")
    for key in ("macaddr", "mtu", "rate", "queues"):
        if key in opts:
            parts.append(f"{key}={opts.pop(key)}")
    if opts:
        raise UsageError(f"{flag} {spec!r}: unknown option(s) {', '.join(sorted(opts))}.")
    return ",".join(parts)


def ct_net_value(spec: str, index: int, flag: str = "--net") -> str:
    """Return an LXC `netN` value for `name=eth0,bridge=vmbr0,ip=dhcp|CIDR[,gw=IP][,tag=VLAN]`."""
    opts = parse_options(spec, flag)
    name = opts.pop("name", f"eth{index}")
    bridge = opts.pop("bridge", "")
    if not bridge or not _BRIDGE_RE.match(bridge):
        raise UsageError(f"{flag} {spec!r}: bridge= is required and must be a bridge name (e.g. vmbr0).")
    parts = [f"name={name}", f"bridge={bridge}"]
    ip = opts.pop("ip", None)
    if ip is not None:
        parts.append(f"ip={_ip_value(ip, flag, spec, ipv6=False)}")
    gw = opts.pop("gw", None)
    if gw is not None:
        parts.append(f"gw={_gateway(gw, flag, spec)}")
    ip6 = opts.pop("ip6", None)
    if ip6 is not None:
        parts.append(f"ip6={_ip_value(ip6, flag, spec, ipv6=True)}")
    tag = opts.pop("tag", None)
    if tag is not None:
        if not tag.isdigit() or not 1 <= int(tag) <= 4094:
            raise UsageError(f"{flag} {spec!r}: tag must be a VLAN id from 1 to 4094.")
        parts.append(f"tag={int(tag)}")
    if "firewall" in opts:
        parts.append(f"firewall={_flag_value(opts.pop('firewall'), flag, spec, 'firewall')}")
    for key in ("hwaddr", "mtu", "rate"):
        if key in opts:
            parts.append(f"{key}={opts.pop(key)}")
    if opts:
        raise UsageError(f"{flag} {spec!r}: unknown option(s) {', '.join(sorted(opts))}.")
    return ",".join(parts)


def _flag_value(value: str, flag: str, spec: str, key: str) -> str:
    if value.lower() in ("1", "true", "yes", "on"):
        return "1"
    if value.lower() in ("0", "false", "no", "off"):
        return "0"
    raise UsageError(f"{flag} {spec!r}: {key} takes 0 or 1.")


def _ip_value(value: str, flag: str, spec: str, *, ipv6: bool) -> str:
    if value in (("dhcp", "auto", "manual") if ipv6 else ("dhcp", "manual")):
        return value
    try:
        network = ipaddress.ip_interface(value)
    except ValueError:
        raise UsageError(
            f"{flag} {spec!r}: ip {value!r} is not dhcp or an address with a prefix (10.0.0.5/24)."
        )
    if "/" not in value:
        raise UsageError(f"{flag} {spec!r}: ip {value!r} needs a prefix length, e.g. {value}/24.")
    if (network.version == 6) != ipv6:
        raise UsageError(f"{flag} {spec!r}: ip {value!r} is not an IPv{6 if ipv6 else 4} address.")
    return value


def _gateway(value: str, flag: str, spec: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise UsageError(f"{flag} {spec!r}: gw {value!r} is not an IP address.")
    return value


@dataclass(frozen=True)
class CloudInit:
    """What `--cloud-init user=U,ssh-key=FILE,ip=dhcp|CIDR[,gw=IP]` asks for."""

    user: str | None = None
    ssh_key_file: str | None = None
    ip: str | None = None
    gw: str | None = None
    password_file: str | None = None


def parse_cloud_init(spec: str, flag: str = "--cloud-init") -> CloudInit:
    """Parse and validate a --cloud-init value (the key file is read later, by the service)."""
    opts = parse_options(spec, flag)
    user = opts.pop("user", None)
    if user is not None and not re.fullmatch(r"[a-z_][a-z0-9_\-.]*", user):
        raise UsageError(f"{flag} {spec!r}: user {user!r} is not a valid user name.")
    ssh_key = opts.pop("ssh-key", None) or opts.pop("sshkey", None)
    ip = opts.pop("ip", None)
    gw = opts.pop("gw", None)
    password_file = opts.pop("password-file", None)
    if ip is not None:
        ip = _ip_value(ip, flag, spec, ipv6=False)
    if gw is not None:
        if ip in (None, "dhcp"):
            raise UsageError(f"{flag} {spec!r}: gw= needs a static ip=CIDR.")
        gw = _gateway(gw, flag, spec)
    if opts:
        raise UsageError(
            f"{flag} {spec!r}: unknown option(s) {', '.join(sorted(opts))} "
            "(use user, ssh-key, ip, gw, password-file)."
        )
    return CloudInit(user=user, ssh_key_file=ssh_key, ip=ip, gw=gw, password_file=password_file)


def vm_create_params(
    *,
    name: str,
    cores: int | None = None,
    sockets: int | None = None,
    memory: str | int | None = None,
    disks: Sequence[str] = (),
    nets: Sequence[str] = (),
    cloud_init: CloudInit | None = None,
    ssh_keys: str | None = None,
    tags: Sequence[str] = (),
    pool: str | None = None,
    os_type: str | None = None,
    start: bool = False,
    extra: Sequence[str] = (),
) -> dict[str, object]:
    """Return the POST /nodes/{node}/qemu parameters (without vmid) for `vm create` flags.

    Raises:
        UsageError: a flag is malformed; the message names it.
    """
    params: dict[str, object] = {"name": check_name(name, "--name")}
    for flag, value in (("--cores", cores), ("--sockets", sockets)):
        check_positive(value, flag)
    memory = parse_mib(memory, "--memory", 16)
    if cores:
        params["cores"] = cores
    if sockets:
        params["sockets"] = sockets
    if memory:
        params["memory"] = memory
    first_storage = None
    for index, spec in enumerate(disks):
        storage, size = parse_storage_size(spec, "--disk")
        first_storage = first_storage or storage
        params[f"scsi{index}"] = f"{storage}:{gib_text(size)}"
    if disks:
        params["scsihw"] = "virtio-scsi-single"
        params["boot"] = "order=scsi0" + (";net0" if nets else "")
    for index, spec in enumerate(nets):
        params[f"net{index}"] = vm_net_value(spec)
    if os_type is not None:
        if os_type not in QEMU_OSTYPES:
            raise UsageError(f"--os-type {os_type!r} is unknown: use one of {', '.join(QEMU_OSTYPES)}.")
        params["ostype"] = os_type
    if cloud_init is not None:
        if first_storage is None:
            raise UsageError("--cloud-init needs a --disk: its drive goes on the first disk's storage.")
        params["ide2"] = f"{first_storage}:cloudinit"
        if cloud_init.user:
            params["ciuser"] = cloud_init.user
        if ssh_keys:
            params["sshkeys"] = encode_ssh_keys(ssh_keys)
        if cloud_init.ip:
            params["ipconfig0"] = f"ip={cloud_init.ip}" + (f",gw={cloud_init.gw}" if cloud_init.gw else "")
        params.setdefault("agent", "enabled=1")
    tag_text = tags_value(tags)
    if tag_text:
        params["tags"] = tag_text
    if pool:
        params["pool"] = pool
    if start:
        params["start"] = 1
    _merge_extra(params, extra)
    return params


def ct_create_params(
    *,
    hostname: str,
    ostemplate: str,
    cores: int | None = None,
    memory: str | int | None = None,
    swap: str | int | None = None,
    rootfs: str | None = None,
    nets: Sequence[str] = (),
    password: str | None = None,
    ssh_keys: str | None = None,
    unprivileged: bool = True,
    tags: Sequence[str] = (),
    pool: str | None = None,
    start: bool = False,
    extra: Sequence[str] = (),
) -> dict[str, object]:
    """Return the POST /nodes/{node}/lxc parameters (without vmid) for `ct create` flags.

    Raises:
        UsageError: a flag is malformed; the message names it.
    """
    storage, sep, volume = ostemplate.partition(":")
    if not sep or not storage or not volume.startswith("vztmpl/") or len(volume) <= len("vztmpl/"):
        raise UsageError(
            f"--ostemplate {ostemplate!r}: write STORAGE:vztmpl/FILE, "
            "e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst."
        )
    params: dict[str, object] = {"hostname": check_name(hostname, "--hostname"), "ostemplate": ostemplate}
    check_positive(cores, "--cores")
    memory = parse_mib(memory, "--memory", 16)
    swap = parse_mib(swap, "--swap", 0)
    if cores:
        params["cores"] = cores
    if memory:
        params["memory"] = memory
    if swap is not None:
        params["swap"] = swap
    if rootfs:
        root_storage, size = parse_storage_size(rootfs, "--rootfs")
        params["rootfs"] = f"{root_storage}:{gib_text(size)}"
    for index, spec in enumerate(nets):
        params[f"net{index}"] = ct_net_value(spec, index)
    if password is not None:
        if len(password) < 5:
            raise UsageError("--password-file: the password must be at least 5 characters long.")
        params["password"] = password
    if ssh_keys:
        params["ssh-public-keys"] = ssh_keys.strip() + "\n"
    params["unprivileged"] = 1 if unprivileged else 0
    tag_text = tags_value(tags)
    if tag_text:
        params["tags"] = tag_text
    if pool:
        params["pool"] = pool
    if start:
        params["start"] = 1
    _merge_extra(params, extra)
    return params


def _merge_extra(params: dict[str, object], extra: Sequence[str]) -> None:
    for key, value in parse_assignments(extra, "--set").items():
        if key in CREATE_RESERVED:
            raise UsageError(f"--set {key}=...: use the --{key} flag instead.")
        params[key] = value


def clone_params(
    kind: str,
    *,
    name: str,
    full: bool | None = None,
    target: str | None = None,
    storage: str | None = None,
    pool: str | None = None,
    description: str | None = None,
) -> dict[str, object]:
    """Return the POST .../clone parameters (without newid) for `clone` flags.

    Raises:
        UsageError: a flag is malformed or flags contradict each other.
    """
    if storage is not None and full is False:
        raise UsageError("--storage needs a full clone: drop --linked or --storage.")
    if storage is not None and not _STORAGE_RE.match(storage):
        raise UsageError(f"--storage {storage!r} is not a storage name.")
    params: dict[str, object] = {("hostname" if kind == "ct" else "name"): check_name(name, "--name")}
    if full is not None:
        params["full"] = 1 if full else 0
    if storage:
        params["storage"] = storage
        params.setdefault("full", 1)
    if target:
        params["target"] = target
    if pool:
        params["pool"] = pool
    if description:
        params["description"] = description
    return params


def clone_names(name: str, count: int) -> list[str]:
    """Return the names of `count` clones: NAME itself for one, NAME-1 ... NAME-K for several.

    A `{n}` in NAME is replaced by the clone's number instead (`web-{n}-a`).
    """
    if count < 1:
        raise UsageError(f"--count must be at least 1, not {count}.")
    if "{n}" in name:
        return [name.replace("{n}", str(i)) for i in range(1, count + 1)]
    if count == 1:
        return [name]
    return [f"{name}-{i}" for i in range(1, count + 1)]


def set_params(assignments: Sequence[str], deletes: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Return ({key: value}, [keys to delete]) for `set KEY=VALUE ... --delete KEY`.

    Raises:
        UsageError: nothing to change, a malformed pair, or a key both set and deleted.
    """
    values = parse_assignments(assignments)
    removed: list[str] = []
    for key in deletes:
        for part in key.split(","):
            part = part.strip()
            if not part:
                continue
            if not _KEY_RE.match(part):
                raise UsageError(f"--delete {part!r} is not a Proxmox config key.")
            if part in values:
                raise UsageError(f"--delete {part}: {part!r} is also set to a value; pick one.")
            if part not in removed:
                removed.append(part)
    if not values and not removed:
        raise UsageError("Nothing to change: give KEY=VALUE pairs or --delete KEY.")
    if "tags" in values:
        values["tags"] = tags_value([values["tags"]], "tags=") or ""
    for key in MIB_KEYS:
        # `memory=2G` as --memory takes it; anything else (2048, PVE's `current=2048`) goes as written.
        if key in values and re.fullmatch(r"\s*\d+(\.\d+)?\s*[KMGTP](i?B)?\s*", values[key], re.I):
            values[key] = str(parse_mib(values[key], f"{key}="))
    return values, removed


@dataclass(frozen=True)
class Resize:
    """A resize request: grow by `size` (relative) or to `size` bytes."""

    disk: str
    size: int
    relative: bool

    def target_size(self, current: int) -> int:
        """Return the size the disk will have."""
        return current + self.size if self.relative else self.size

    def pve_value(self) -> str:
        """Return PVE's size argument: +10G or 40G."""
        return ("+" if self.relative else "") + format_size(self.size)


def parse_resize(disk: str, size: str, kind: str) -> Resize:
    """Validate `resize GUEST DISK +SIZE|SIZE`.

    Raises:
        UsageError: not a disk key of this kind, or not a positive size.
    """
    if not is_disk_key(kind, disk):
        example = "scsi0" if kind == "vm" else "rootfs or mp0"
        raise UsageError(
            f"DISK {disk!r} is not a disk of a {'VM' if kind == 'vm' else 'container'} (e.g. {example})."
        )
    relative = size.startswith("+")
    text = size[1:] if relative else size
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        text += "G"
    try:
        amount = parse_size(text)
    except ValueError:
        raise UsageError(f"SIZE {size!r} is not a size: write +10G to grow by 10 GiB or 40G for a total.")
    if amount <= 0:
        raise UsageError(f"SIZE {size!r} must be larger than zero.")
    return Resize(disk=disk, size=amount, relative=relative)


def check_snapshot_name(name: str) -> str:
    """Return a valid snapshot name (PVE: a letter, then letters, digits, '_' and '-'; at most 40)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]{1,39}", name) or name in ("current", "vzdump"):
        raise UsageError(
            f"NAME {name!r} is not a valid snapshot name: start with a letter, use letters, "
            "digits, '_' and '-' (2 to 40 characters; not 'current')."
        )
    return name

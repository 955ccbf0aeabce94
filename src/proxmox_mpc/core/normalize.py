"""Normalise Proxmox config values so that equal meaning compares equal (no phantom changes).

Proxmox rewrites what it is given: it lower-cases and sorts tags, writes `agent: 1` as well as
`agent: enabled=1`, spells sizes in its own units, drops defaults, reorders property strings, adds
the MAC address it generated and `type=veth` to container NICs, and URL-encodes SSH keys. Every
comparison pmpc makes goes through `canonical()` and `equivalent()` here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from proxmox_mpc.core.models import split_tags
from proxmox_mpc.core.pveconfig import QEMU_NIC_MODELS, SIZE_UNITS, format_size, parse_size

# Keys pmpc never compares, imports or sends: identity PVE generates, runtime state, secrets.
VOLATILE_KEYS = frozenset(
    {
        "digest",
        "lock",
        "meta",
        "vmgenid",
        "smbios1",
        "parent",
        "snaptime",
        "vmstate",
        "runningcpu",
        "runningmachine",
        "running-nets-host-mtu",
        "pending",
        "cipassword",
        "lxc",
    }
)
# Booleans, as PVE accepts them (1/0, yes/no, on/off, true/false).
BOOL_KEYS = frozenset(
    {
        "onboot",
        "protection",
        "template",
        "numa",
        "acpi",
        "kvm",
        "tablet",
        "localtime",
        "reboot",
        "freeze",
        "unprivileged",
        "console",
        "debug",
        "ciupgrade",
        "keephugepages",
        "autostart",
    }
)
INT_KEYS = frozenset(
    {
        "cores",
        "sockets",
        "vcpus",
        "swap",
        "balloon",
        "shares",
        "cpuunits",
        "tty",
        "migrate_downtime",
        "migrate_speed",
        "cpulimit",
    }
)
# Values PVE assumes when a key is absent (qemu-server and pve-container schema defaults).
QEMU_DEFAULTS: dict[str, str] = {
    "sockets": "1",
    "cores": "1",
    "memory": "512",
    "onboot": "0",
    "protection": "0",
    "template": "0",
    "numa": "0",
    "acpi": "1",
    "kvm": "1",
    "tablet": "1",
    "agent": "enabled=0",
    "ostype": "other",
    "localtime": "0",
    "freeze": "0",
    "reboot": "1",
    "cpuunits": "100",
    "ciupgrade": "1",
}
LXC_DEFAULTS: dict[str, str] = {
    "memory": "512",
    "swap": "512",
    "onboot": "0",
    "protection": "0",
    "template": "0",
    "unprivileged": "0",
    "console": "1",
    "tty": "2",
    "cmode": "tty",
    "arch": "amd64",
    "debug": "0",
    "cpuunits": "100",
}
_TRUE = {"1", "yes", "on", "true"}
_FALSE = {"0", "no", "off", "false", ""}
QEMU_DISK_RE = re.compile(r"^(scsi\d+|virtio\d+|sata\d+|ide\d+|efidisk0|tpmstate0)\Z")
LXC_MOUNT_RE = re.compile(r"^(rootfs|mp\d+)\Z")
NET_RE = re.compile(r"^net\d+$")
IPCONFIG_RE = re.compile(r"^ipconfig\d+$")
# A new disk as PVE's create syntax writes it: STORAGE:SIZE_IN_GIB.
NEW_VOLUME_RE = re.compile(r"^(?P<storage>[A-Za-z][A-Za-z0-9\-_.]*):(?P<gib>\d+(?:\.\d+)?)(?P<unit>[KMGT]?)$")
CLOUDINIT_KEYS = frozenset(
    {"ciuser", "sshkeys", "nameserver", "searchdomain", "citype", "ciupgrade", "cicustom"}
)
GIB = 1024**3


def bool_text(value: Any) -> str:
    """Return "1" or "0" for any of PVE's spellings of a boolean; other text unchanged."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip().lower()
    if text in _TRUE:
        return "1"
    if text in _FALSE:
        return "0"
    return str(value).strip()


def int_text(value: Any) -> str:
    """Return an integer's canonical text (PVE may send numbers as strings or floats)."""
    text = str(value).strip()
    try:
        return str(int(text))  # exact, however large
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number == int(number) else str(number)


def split_props(text: Any) -> tuple[str | None, dict[str, str]]:
    """Return (bare first part or None, {key: value}) of a property string."""
    first: str | None = None
    props: dict[str, str] = {}
    for index, part in enumerate(str(text).split(",")):
        if part == "":
            continue
        key, sep, value = part.partition("=")
        if sep:
            props[key.strip()] = value.strip()
        elif index == 0:
            first = part.strip()
        else:
            props[part.strip()] = ""
    return first, props


def join_props(first: str | None, props: Mapping[str, Any]) -> str:
    """Join a bare first part and sorted key=value pairs into a property string."""
    parts = [first] if first else []
    parts += [f"{k}={props[k]}" for k in sorted(props) if props[k] is not None]
    return ",".join(parts)


def gib_text(size: int) -> str:
    """Return a byte count as PVE's create syntax wants it: GiB, exactly (32, 0.5, 0.00390625)."""
    value = Decimal(size) / Decimal(GIB)
    text = format(value.normalize(), "f")
    return text


def canonical_size(value: Any) -> str:
    """Return a size in PVE's shortest exact spelling (32G, 512M)."""
    return format_size(parse_size(value))


def is_disk_key(kind: str, key: str) -> bool:
    """Return True for a key that holds a disk or mount point of a guest of `kind` (vm|ct)."""
    return bool(QEMU_DISK_RE.match(key) if kind == "vm" else LXC_MOUNT_RE.match(key))


def is_cdrom(value: Any) -> bool:
    """Return True for a drive value that is a CD-ROM (ISO, cloud-init or none)."""
    first, props = split_props(value)
    return props.get("media") == "cdrom" or first in ("none", "cdrom") or is_cloudinit_drive(value)


def is_cloudinit_drive(value: Any) -> bool:
    """Return True for the cloud-init drive (`local-lvm:cloudinit`, `local-lvm:vm-100-cloudinit`)."""
    first, _ = split_props(value)
    text = str(first or "")
    return text == "cloudinit" or (text.endswith("cloudinit") and ":" in text)


def split_volume(volume: str) -> tuple[str | None, str]:
    """Return (storage, volume name) of `storage:name`; (None, text) for a path or a keyword."""
    if volume.startswith("/") or ":" not in volume:
        return None, volume
    storage, _, name = volume.partition(":")
    return storage, name


def parse_disk(value: Any) -> dict[str, str]:
    """Return a disk (or container mount) as {storage, size, volume, ...options}, sizes canonical.

    Both PVE's stored form (`local-lvm:vm-101-disk-0,size=32G`) and its create form
    (`local-lvm:32`) are understood.
    """
    first, props = split_props(value)
    if first is None:
        first = props.pop("file", props.pop("volume", ""))
    result: dict[str, str] = {}
    match = NEW_VOLUME_RE.match(first or "")
    if match:
        result["storage"] = match.group("storage")
        unit = SIZE_UNITS[match.group("unit")] if match.group("unit") else GIB
        result["size"] = format_size(int(Decimal(match.group("gib")) * unit))
    else:
        storage, name = split_volume(first or "")
        if storage is None:
            result["source"] = name
        else:
            result["storage"] = storage
            result["volume"] = name
    for key, val in props.items():
        if key == "size":
            try:
                result["size"] = canonical_size(val)
            except ValueError:
                result["size"] = val
        elif key == "media" and val == "disk":
            continue
        else:
            result["opt:" + key] = val
    return result


def _canonical_qemu_net(value: Any) -> dict[str, str]:
    first, props = split_props(value)
    result: dict[str, str] = {}
    if first and "=" not in first:
        props = {first: "", **props}
    for key, val in props.items():
        if key in QEMU_NIC_MODELS:
            result["model"] = key
            if val:
                result["macaddr"] = val.upper()
        elif key == "model":
            result["model"] = val
        elif key == "macaddr":
            result["macaddr"] = val.upper()
        elif key in ("firewall", "link_down"):
            result[key] = bool_text(val)
        else:
            result[key] = val
    if result.get("firewall") == "0":
        result.pop("firewall")
    if result.get("link_down") == "0":
        result.pop("link_down")
    return result


def _canonical_lxc_net(value: Any) -> dict[str, str]:
    _, props = split_props(value)
    result: dict[str, str] = {}
    for key, val in props.items():
        if key == "hwaddr":
            result[key] = val.upper()
        elif key in ("firewall", "link_down", "host-managed"):
            if bool_text(val) == "1":
                result[key] = "1"
        elif key == "type" and val == "veth":
            continue
        else:
            result[key] = val
    return result


def _canonical_mapping(first_key: str, value: Any, booleans: bool = False) -> dict[str, str]:
    first, props = split_props(value)
    if first is not None:
        props = {first_key: first, **props}
    if booleans:
        return {k: bool_text(v) if v.lower() in _TRUE | _FALSE and v else v for k, v in props.items()}
    return props


def encode_ssh_keys(text: str) -> str:
    """Return SSH public keys as PVE's `sshkeys` wants them: URL-encoded (spaces as %20), newline-ended."""
    return quote(text.strip() + "\n", safe="")


def decode_ssh_keys(value: Any) -> list[str]:
    """Return the SSH keys of PVE's URL-encoded `sshkeys` (one key a line)."""
    text = unquote(str(value)) if "%" in str(value) else str(value)
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_tag_text(value: Any) -> list[str]:
    """Return tags as PVE stores them: lower-cased, unique and sorted."""
    return split_tags(value)


Canon = Any  # a str, or a dict of str for structured values


def canonical(kind: str, key: str, value: Any) -> Canon:
    """Return the comparable form of one config value of a `kind` (vm|ct) guest (do not mutate it)."""
    if value is None:
        return None
    if isinstance(value, str | int | float):
        return _canonical_cached(kind, key, value)
    return _canonical(kind, key, value)


@lru_cache(maxsize=65536)
def _canonical_cached(kind: str, key: str, value: str | int | float) -> Canon:
    return _canonical(kind, key, value)


def _canonical(kind: str, key: str, value: Any) -> Canon:
    if key == "tags":
        return ";".join(split_tag_text(value))
    if key in BOOL_KEYS:
        return bool_text(value)
    if key in INT_KEYS:
        return int_text(value)
    if key == "memory":
        first, props = split_props(value)
        return int_text(props.get("current", first or ""))
    if key == "agent":
        agent = _canonical_mapping(
            "enabled", bool_text(value) if isinstance(value, bool | int) else value, True
        )
        agent.setdefault("enabled", "0")
        return agent
    if key == "sshkeys":
        return "\n".join(decode_ssh_keys(value))
    if key == "description":
        return str(value).rstrip("\n")
    if key in ("name", "hostname", "ciuser", "nameserver", "searchdomain", "cpu", "ostype", "arch"):
        return str(value).strip()
    if NET_RE.match(key):
        return _canonical_qemu_net(value) if kind == "vm" else _canonical_lxc_net(value)
    if IPCONFIG_RE.match(key):
        return _canonical_mapping("ip", value)
    if is_disk_key(kind, key):
        if kind == "vm" and is_cloudinit_drive(value):
            storage, _ = split_volume(str(split_props(value)[0]))
            return {"cloudinit": "1", "storage": storage or ""}
        if kind == "vm" and is_cdrom(value):
            first, props = split_props(value)
            return {"cdrom": first or "", **{k: v for k, v in props.items() if k != "media"}}
        disk = parse_disk(value)
        disk.pop("volume", None)
        return disk
    text = str(value)
    if "=" in text and "\n" not in text and " " not in text.split("=", 1)[0]:
        first, props = split_props(text)
        if "" not in props and all(props.values()):
            return {"": first or "", **props}
    return int_text(text) if re.fullmatch(r"-?\d+(\.0+)?", text.strip()) else text.strip()


def disk_delta(kind: str, key: str, new: Any, old: Any) -> str:
    """Classify a disk change: grow, shrink, move (other storage), options, or none."""
    want = canonical(kind, key, new)
    have = canonical(kind, key, old)
    if not isinstance(want, dict) or not isinstance(have, dict):
        return "options"
    if want.get("cloudinit") or have.get("cloudinit") or "cdrom" in want or "cdrom" in have:
        return "options"
    if want.get("storage") != have.get("storage") or want.get("source") != have.get("source"):
        return "move"
    grew = False
    if "size" in want and "size" in have and want["size"] != have["size"]:
        if parse_size(want["size"]) < parse_size(have["size"]):
            return "shrink"
        grew = True
    rest_want = {k: v for k, v in want.items() if k != "size"}
    rest_have = {k: v for k, v in have.items() if k not in ("size",)}
    if rest_want != rest_have:
        return "options"
    return "grow" if grew else "none"


def default_for(kind: str, key: str) -> Any:
    """Return the canonical value PVE assumes for an absent key (None when it has no default)."""
    defaults = QEMU_DEFAULTS if kind == "vm" else LXC_DEFAULTS
    if key in defaults:
        return canonical(kind, key, defaults[key])
    if key == "tags":
        return ""
    return None


def equivalent(kind: str, key: str, desired: Any, observed: Any) -> bool:
    """Return True when applying `desired` over `observed` would change nothing.

    Missing values count as PVE's default; a generated MAC address, an unknown disk size, or the
    storage of a cloud-init drive the manifest did not name never make a difference.
    """
    if (
        desired is not None
        and observed is not None
        and type(desired) is type(observed)
        and desired == observed
    ):
        return True
    want = canonical(kind, key, desired)
    have = canonical(kind, key, observed)
    if want is None:
        want = default_for(kind, key)
    if have is None:
        have = default_for(kind, key)
    if isinstance(want, dict) and isinstance(have, dict):
        have = dict(have)
        for generated in ("macaddr", "hwaddr"):
            if generated not in want:
                have.pop(generated, None)
        if "size" in want and "size" not in have:
            want = {k: v for k, v in want.items() if k != "size"}
        if want.get("cloudinit") and not want.get("storage"):
            have.pop("storage", None)
            want = {k: v for k, v in want.items() if k != "storage"}
    return bool(want == have)


def render(kind: str, key: str, value: Any) -> str | None:
    """Return a value as a plan shows it: PVE's syntax, canonical order (disks as storage:size)."""
    canon = canonical(kind, key, value)
    if canon is None:
        return None
    if not isinstance(canon, dict):
        return str(canon)
    if NET_RE.match(key) and kind == "vm":
        model = canon.get("model", "")
        mac = canon.get("macaddr")
        head = f"{model}={mac}" if mac else model
        rest = {k: v for k, v in canon.items() if k not in ("model", "macaddr")}
        return join_props(head or None, rest)
    if key == "agent":
        return join_props(None, canon)
    if IPCONFIG_RE.match(key):
        return join_props(None, canon)
    if is_disk_key(kind, key):
        if canon.get("cloudinit"):
            return f"{canon['storage']}:cloudinit" if canon.get("storage") else "cloudinit"
        if "cdrom" in canon:
            return join_props(
                canon["cdrom"], {**{k: v for k, v in canon.items() if k != "cdrom"}, "media": "cdrom"}
            )
        # storage:SIZE (a disk whose size PVE did not write shows as `storage:`), or the host path.
        head = canon["source"] if "source" in canon else f"{canon.get('storage', '')}:{canon.get('size', '')}"
        rest = {k.removeprefix("opt:"): v for k, v in canon.items() if k.startswith("opt:")}
        if "source" in canon and "size" in canon:
            rest["size"] = canon["size"]
        return join_props(head, rest)
    if "" in canon:
        return join_props(canon[""] or None, {k: v for k, v in canon.items() if k != ""})
    return join_props(None, canon)


def normalize_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Return every comparable key of a PVE config in canonical form (volatile keys dropped)."""
    return {k: canonical(kind, k, v) for k, v in config.items() if k not in VOLATILE_KEYS and v is not None}

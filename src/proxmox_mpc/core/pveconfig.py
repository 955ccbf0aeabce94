"""Proxmox config values: property strings, sizes, and device keys (pure helpers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$", re.I)
DISK_PREFIXES = ("scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused")
QEMU_NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er", "ne2k_isa",
                   "ne2k_pci", "pcnet", "e1000-82540em", "e1000-82544gc", "e1000-82545em")
_DEVICE_RE = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate|unused|net|mp|rootfs|usb|hostpci|serial)(\d*)$")


def parse_size(text: Any) -> int:
    """Return bytes for `32G`, `512M`, `1.5T`, `1024` (bytes), as Proxmox writes sizes.

    Raises:
        ValueError: the text is not a size.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (write e.g. 32G, 512M)")
    number, unit = match.groups()
    return int(float(number) * SIZE_UNITS[unit.upper()])


def format_size(size: int) -> str:
    """Return the shortest exact Proxmox size text for bytes: 34359738368 -> 32G."""
    for unit in ("T", "G", "M", "K"):
        factor = SIZE_UNITS[unit]
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def parse_property_string(text: str, default_key: str | None = None) -> dict[str, str]:
    """Split `virtio=BC:24:..,bridge=vmbr0,tag=20` into a dict.

    A leading part without `=` is stored under `default_key` (e.g. the volume of a disk,
    `local-lvm:vm-101-disk-0,size=32G`).
    """
    result: dict[str, str] = {}
    for index, part in enumerate(p for p in str(text).split(",") if p != ""):
        key, sep, value = part.partition("=")
        if not sep:
            if index == 0 and default_key:
                result[default_key] = key
            else:
                result[key] = ""
            continue
        result[key.strip()] = value.strip()
    return result


def format_property_string(values: Mapping[str, Any], default_key: str | None = None) -> str:
    """Join a dict back into a property string; `default_key`'s value goes first, bare."""
    parts = []
    if default_key and default_key in values and values[default_key] is not None:
        parts.append(str(values[default_key]))
    for key, value in values.items():
        if key == default_key or value is None:
            continue
        parts.append(f"{key}={_bool_text(value)}")
    return ",".join(parts)


def _bool_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def device_key(key: str) -> tuple[str, int] | None:
    """Return (`scsi`, 0) for `scsi0`; None for a key that is not a numbered device."""
    match = _DEVICE_RE.match(key)
    if not match:
        return None
    prefix, number = match.groups()
    return prefix, int(number) if number else 0


def is_disk_key(key: str) -> bool:
    """Return True for a QEMU disk slot key (scsi0, virtio1, sata0, ide2, efidisk0, tpmstate0)."""
    parsed = device_key(key)
    return parsed is not None and parsed[0] in DISK_PREFIXES and parsed[0] != "unused"


def is_cdrom(value: str) -> bool:
    """Return True for a drive value that is a CD-ROM (ISO, cloud-init or none)."""
    return "media=cdrom" in str(value) or str(value).split(",")[0] in ("none", "cdrom")


def parse_nic(value: str) -> dict[str, str]:
    """Parse a QEMU `netN` value into model, macaddr and options (model=MAC is PVE's own shorthand)."""
    props = parse_property_string(value)
    for model in list(props):
        if model in QEMU_NIC_MODELS:
            mac = props.pop(model)
            return {"model": model, "macaddr": mac, **props}
    return props

"""Proxmox config values: property strings and sizes (pure helpers)."""

from __future__ import annotations

import math
import re
from typing import Any

SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*\Z", re.I)
QEMU_NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er", "ne2k_isa",
                   "ne2k_pci", "pcnet", "e1000-82540em", "e1000-82544gc", "e1000-82545em")


def parse_size(text: Any) -> int:
    """Return bytes for `32G`, `512M`, `1.5T`, `1024` (bytes), as Proxmox writes sizes.

    Raises:
        ValueError: the text is not a size.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ValueError(f"not a size: {text!r} (write e.g. 32G, 512M)")
        return int(text)
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (write e.g. 32G, 512M)")
    number, unit = match.groups()
    factor = SIZE_UNITS[unit.upper()]
    # Exact integer arithmetic: a float would print 99999999999999999999T as 100000000000000000000T.
    whole, _, fraction = number.partition(".")
    if not fraction:
        return int(whole) * factor
    return int(whole) * factor + int(fraction) * factor // 10 ** len(fraction)


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


def agent_enabled(value: Any) -> bool:
    """Return whether a VM's `agent` option turns the guest agent on (`1`, `enabled=1,fstrim_cloned_disks=1`)."""
    if value is None:
        return False
    props = parse_property_string(str(value), default_key="enabled")
    return props.get("enabled", "0").strip().lower() in ("1", "true", "yes", "on")

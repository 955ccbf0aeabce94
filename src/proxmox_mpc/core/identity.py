"""The one vocabulary for what a guest is: its manifest `kind` and its CLI prefix.

pmpc speaks of a guest as `VM`/`CT` in manifests and `vm`/`ct` in addresses (`vm/101`); PVE's own
`qemu`/`lxc` appears only at the API edge, through `api_type` (pmpc -> PVE) and `guest_kind`
(PVE -> pmpc). Nothing else converts between the spellings.
"""

from __future__ import annotations

from typing import Literal, cast

GuestKind = Literal["vm", "ct"]
ApiType = Literal["qemu", "lxc"]
ManifestKind = Literal["VM", "CT"]

GUEST_KINDS: tuple[GuestKind, ...] = ("vm", "ct")
_API_TYPE: dict[str, ApiType] = {"vm": "qemu", "ct": "lxc"}
_FROM_API: dict[str, GuestKind] = {"qemu": "vm", "lxc": "ct"}


def api_type(kind: str) -> ApiType:
    """Return PVE's path word for a guest kind: `vm` -> `qemu`, `ct` -> `lxc` (also from `VM`/`CT`)."""
    try:
        return _API_TYPE[kind.lower()]
    except KeyError:
        raise ValueError(f"not a guest kind: {kind!r}") from None


def guest_kind(api_word: str) -> GuestKind:
    """Return pmpc's kind for PVE's `qemu`/`lxc` (a /cluster/resources `type`, a path word)."""
    try:
        return _FROM_API[api_word]
    except KeyError:
        raise ValueError(f"not a guest type: {api_word!r}") from None


def is_api_guest_type(api_word: object) -> bool:
    """Tell whether a /cluster/resources `type` is a guest (`qemu` or `lxc`)."""
    return api_word in _FROM_API


def manifest_kind(kind: str) -> ManifestKind:
    """Return the manifest spelling of a guest kind: `vm` -> `VM`."""
    if kind.lower() not in _API_TYPE:
        raise ValueError(f"not a guest kind: {kind!r}")
    return cast(ManifestKind, kind.upper())


def prefix(kind: str) -> GuestKind:
    """Return the address prefix of a guest kind: `VM` -> `vm` (`vm/101`)."""
    if kind.lower() not in _API_TYPE:
        raise ValueError(f"not a guest kind: {kind!r}")
    return cast(GuestKind, kind.lower())

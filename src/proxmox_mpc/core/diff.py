"""Compare manifests with observed guests and build the Plan (pure: no I/O, same input, same plan)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.identity import prefix
from proxmox_mpc.core.manifest import (
    AnyManifest,
    CtManifest,
    ignores_change,
    managed_keys,
    manifest_to_config,
)
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.plan import (
    CLONE_FIELD,
    NODE_FIELD,
    OSTEMPLATE_FIELD,
    POOL_FIELD,
    SSH_KEYS_FIELD,
    STATE_FIELD,
    Change,
    FieldChange,
    PendingReboot,
    Plan,
    make_plan,
)
from proxmox_mpc.errors import ManifestError

# What a running guest takes at once; anything else waits for its next start (PVE's hotplug defaults:
# qemu-server hotplug=network,disk,usb; LXC's FASTPLUG options and live cgroup limits).
QEMU_HOT = frozenset({"name", "description", "onboot", "tags", "protection", "startup", "hookscript"})
LXC_HOT = frozenset(
    {
        "description",
        "onboot",
        "startup",
        "protection",
        "hostname",
        "hookscript",
        "cores",
        "tags",
        "cpulimit",
        "cpuunits",
        "memory",
        "swap",
    }
)


def _slot_key(key: str) -> tuple[int, str, int]:
    match = re.fullmatch(r"(\D+)(\d+)", key)
    group = (
        2
        if key in (NODE_FIELD, POOL_FIELD, STATE_FIELD)
        else 1
        if key in (CLONE_FIELD, OSTEMPLATE_FIELD)
        else 0
    )
    if match:
        return (group, match.group(1), int(match.group(2)))
    return (group, key, -1)


def _needs_reboot(kind: str, key: str, old: Any, new: Any, running: bool) -> bool:
    if not running:
        return False
    if key in nz.VOLATILE_KEYS:
        return False
    if kind == "vm":
        if key in QEMU_HOT or nz.NET_RE.match(key):
            return False
        # Disks hotplug (a new disk, a bigger disk); changing an existing disk's options does not.
        if nz.QEMU_DISK_RE.match(key):
            return old is not None and new is not None and nz.disk_delta(kind, key, new, old) != "grow"
        return True
    if key in LXC_HOT or nz.NET_RE.match(key):
        return False
    if re.fullmatch(r"mp\d+|rootfs", key):
        return old is not None and new is not None and nz.disk_delta(kind, key, new, old) != "grow"
    return True


def _carry_generated(kind: str, key: str, desired: Any, observed: Any) -> Any:
    """Keep the MAC address PVE generated when the manifest names none (a bridge change keeps the MAC)."""
    if desired is None or observed is None or not nz.NET_RE.match(key):
        return desired
    want = nz.canonical(kind, key, desired)
    have = nz.canonical(kind, key, observed)
    if not isinstance(want, dict) or not isinstance(have, dict):
        return desired
    field = "macaddr" if kind == "vm" else "hwaddr"
    if field in want or field not in have:
        return desired
    if kind == "vm":
        rest = {k: v for k, v in want.items() if k not in ("model", "macaddr")}
        return nz.join_props(f"{want.get('model', 'virtio')}={have[field]}", rest)
    return nz.join_props(None, {**want, field: have[field]})


def _clone_text(manifest: AnyManifest) -> str | None:
    clone = manifest.spec.clone
    if clone is None:
        return None
    props: dict[str, Any] = {"full": int(clone.full)}
    if clone.storage:
        props["storage"] = clone.storage
    return nz.join_props(f"from={clone.source}", props)


def _create_fields(manifest: AnyManifest, observed: ObservedGuest | None = None) -> list[FieldChange]:
    kind = prefix(manifest.kind)
    desired = manifest_to_config(manifest)
    old_config = observed.config if observed is not None else {}
    fields = []
    for key, value in desired.items():
        if value is None or value == "":
            continue
        fields.append(
            FieldChange(
                name=key,
                old=nz.render(kind, key, old_config.get(key)) if observed is not None else None,
                new=nz.render(kind, key, value),
            )
        )
    spec = manifest.spec
    clone = _clone_text(manifest)
    if clone:
        fields.append(FieldChange(name=CLONE_FIELD, new=clone))
    if isinstance(manifest, CtManifest):
        if manifest.spec.ostemplate:
            fields.append(FieldChange(name=OSTEMPLATE_FIELD, new=manifest.spec.ostemplate))
        if manifest.spec.ssh_keys:
            fields.append(FieldChange(name=SSH_KEYS_FIELD, new="\n".join(manifest.spec.ssh_keys)))
    if spec.pool:
        fields.append(FieldChange(name=POOL_FIELD, old=observed.pool if observed else None, new=spec.pool))
    if spec.state in ("running", "stopped") and not spec.template:
        fields.append(
            FieldChange(name=STATE_FIELD, old=observed.status if observed else None, new=spec.state)
        )
    return sorted(fields, key=lambda f: _slot_key(f.name))


def forces_replacement(kind: str, item: FieldChange) -> bool:
    """Return True when changing this field cannot be done in place: the guest must be destroyed and created.

    PVE fixes these at create time: a template cannot become a VM again, a container's `unprivileged`
    cannot change, and a disk cannot shrink or move to another storage (or source) through a config write.
    """
    if item.name == "template":
        return item.old == "1" and item.new in ("0", None)
    if item.name == "unprivileged":
        return kind == "ct" and nz.bool_text(item.old or "0") != nz.bool_text(item.new or "0")
    return (
        item.old is not None
        and item.new is not None
        and nz.is_disk_key(kind, item.name)
        and nz.disk_delta(kind, item.name, item.new, item.old) in ("shrink", "move")
    )


def _update_fields(manifest: AnyManifest, guest: ObservedGuest) -> list[FieldChange]:
    kind = guest.kind
    desired = manifest_to_config(manifest)
    observed = guest.config
    running = guest.status == "running" and not guest.template
    fields = []
    for key in managed_keys(manifest, observed, desired):
        want = desired.get(key)
        have = observed.get(key)
        if nz.equivalent(kind, key, want, have):
            continue
        want = _carry_generated(kind, key, want, have)
        # An empty value (tags: []) is no value: delete the key rather than send "".
        new_text = nz.render(kind, key, want) or None
        old_text = nz.render(kind, key, have)
        reboot = _needs_reboot(kind, key, old_text, new_text, running)
        fields.append(FieldChange(name=key, old=old_text, new=new_text, needs_reboot=reboot))
    spec = manifest.spec
    if manifest.node != guest.node:
        fields.append(FieldChange(name=NODE_FIELD, old=guest.node, new=manifest.node))
    if spec.pool is not None and spec.pool != (guest.pool or ""):
        fields.append(FieldChange(name=POOL_FIELD, old=guest.pool, new=spec.pool or None))
    template = spec.template if spec.template is not None else guest.template
    if spec.state in ("running", "stopped") and not template and _power_state(guest.status) != spec.state:
        fields.append(FieldChange(name=STATE_FIELD, old=guest.status, new=spec.state))
    return sorted(fields, key=lambda f: _slot_key(f.name))


def _power_state(status: str) -> str:
    # A paused or suspended guest is not stopped; `state: running` leaves it as it is.
    return "stopped" if status == "stopped" else "running"


def diff_guest(manifest: AnyManifest, guest: ObservedGuest | None) -> Change | None:
    """Return the change that makes `guest` (None: absent) match `manifest`, or None when none is needed."""
    kind = prefix(manifest.kind)
    address = manifest.address
    if manifest.spec.state == "absent":
        if guest is None:
            return None
        return Change(
            address=address,
            kind=guest.kind,
            vmid=guest.vmid,
            node=guest.node,
            action="delete",  # type: ignore[arg-type]
            fields=[FieldChange(name=STATE_FIELD, old=guest.status, new="absent")],
            digest=guest.digest,
        )
    if guest is None:
        return Change(
            address=address,
            kind=kind,
            vmid=manifest.vmid,
            node=manifest.node,  # type: ignore[arg-type]
            action="create",
            fields=_create_fields(manifest),
        )
    if kind != guest.kind:
        return Change(
            address=address,
            kind=kind,
            vmid=guest.vmid,
            node=manifest.node,
            action="replace",  # type: ignore[arg-type]
            fields=_create_fields(manifest, guest),
            digest=guest.digest,
        )
    fields = [f for f in _update_fields(manifest, guest) if not ignores_change(manifest, f.name)]
    if not fields:
        return None
    forcing = {f.name for f in fields if forces_replacement(guest.kind, f)}
    if forcing:
        return Change(
            address=address,
            kind=kind,
            vmid=guest.vmid,
            node=manifest.node,
            action="replace",  # type: ignore[arg-type]
            fields=[
                f.model_copy(update={"forces_replacement": True}) if f.name in forcing else f
                for f in _create_fields(manifest, guest)
            ],
            digest=guest.digest,
        )
    action = "power" if all(f.name == STATE_FIELD for f in fields) else "update"
    return Change(
        address=address,
        kind=kind,
        vmid=guest.vmid,
        node=guest.node,
        action=action,  # type: ignore[arg-type]
        fields=fields,
        digest=guest.digest,
    )


def match_guests(
    manifests: Sequence[AnyManifest], observed: Iterable[ObservedGuest]
) -> tuple[list[tuple[AnyManifest, ObservedGuest | None]], list[ObservedGuest]]:
    """Pair each manifest with its guest (by VMID, else by kind and name); return the other guests too.

    Raises:
        ManifestError: two manifests claim one guest, or a name matches several guests.
    """
    by_vmid: dict[int, ObservedGuest] = {}
    by_name: dict[tuple[str, str], list[ObservedGuest]] = {}
    for seen in observed:
        by_vmid[seen.vmid] = seen
        by_name.setdefault((seen.kind, seen.name), []).append(seen)
    pairs: list[tuple[AnyManifest, ObservedGuest | None]] = []
    claimed: dict[int, str] = {}
    for manifest in manifests:
        guest: ObservedGuest | None
        if manifest.vmid is not None:
            guest = by_vmid.get(manifest.vmid)
        else:
            found = by_name.get((prefix(manifest.kind), manifest.name), [])
            if len(found) > 1:
                refs = ", ".join(sorted(g.ref for g in found))
                raise ManifestError(
                    f"{manifest.address}: name {manifest.name!r} matches several guests ({refs}); "
                    "give the manifest a vmid."
                )
            guest = found[0] if found else None
        if guest is not None:
            if guest.vmid in claimed:
                raise ManifestError(
                    f"{manifest.address} and {claimed[guest.vmid]} both describe {guest.ref}."
                )
            claimed[guest.vmid] = manifest.address
        pairs.append((manifest, guest))
    rest = [g for g in by_vmid.values() if g.vmid not in claimed]
    return pairs, sorted(rest, key=lambda g: g.vmid)


# A diff made before the plan was built (while the other guests were still being read), by id() of its
# manifest: the manifest, the guest and the config object it compared, and the change (None: none needed).
EarlyDiff = tuple[AnyManifest, ObservedGuest, dict[str, Any], Change | None]
EarlyDiffs = Mapping[int, EarlyDiff]


def build_plan(
    manifests: Sequence[AnyManifest],
    observed: Iterable[ObservedGuest],
    *,
    context: str | None = None,
    workspace: str | None = None,
    created_at: datetime | None = None,
    early: EarlyDiffs | None = None,
) -> Plan:
    """Compare manifests with observed guests and return the plan; guests without a manifest are unmanaged.

    `early`: diffs already made; one is used only for the very manifest, guest and config it compared.

    Raises:
        ManifestError: manifests and guests cannot be paired unambiguously.
    """
    pairs, rest = match_guests(manifests, observed)
    changes = [c for c in (_diff_pair(m, g, early) for m, g in pairs) if c is not None]
    unmanaged = [f"{g.ref} ({g.name})" for g in rest]
    return make_plan(
        changes,
        context=context,
        workspace=workspace,
        created_at=created_at,
        unmanaged=unmanaged,
        pending_reboot=pending_reboots(pairs, changes),
    )


def _diff_pair(manifest: AnyManifest, guest: ObservedGuest | None, early: EarlyDiffs | None) -> Change | None:
    if early and guest is not None:
        made = early.get(id(manifest))
        if made is not None and made[0] is manifest and made[1] is guest and made[2] is guest.config:
            return made[3]
    return diff_guest(manifest, guest)


def pending_reboots(
    pairs: Sequence[tuple[AnyManifest, ObservedGuest | None]], changes: Sequence[Change]
) -> list[PendingReboot]:
    """Return, per guest, the managed keys whose wanted value is set but pending (counted as applied)."""
    changed = {c.address: {f.name for f in c.fields} for c in changes}
    found = []
    for manifest, guest in pairs:
        if guest is None or not guest.pending or prefix(manifest.kind) != guest.kind:
            continue
        if manifest.spec.state == "absent":
            continue
        owned = managed_keys(manifest, guest.config)
        skip = changed.get(manifest.address, set())
        keys = sorted(k for k in guest.pending if k in owned and k not in skip and not ignores_change(manifest, k))
        if keys:
            found.append(PendingReboot(address=manifest.address, vmid=guest.vmid, fields=keys))
    return found

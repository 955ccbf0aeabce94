"""Pure request builders for guests: from a plan change (or a verb's values) to the requests PVE is sent.

Nothing here reads the cluster: a caller that needs the guest's current config reads it first and
passes it in. `apply` (a plan's changes) and the guest verbs (`vm create`, `clone`, `set`, ...) build
their requests here, so the same intent always sends the same bytes. `kind` is pmpc's `vm`/`ct`;
PVE's `qemu`/`lxc` appears only in the paths built here, through `api_type`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.identity import api_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.plan import OSTEMPLATE_FIELD, POOL_FIELD, PSEUDO_FIELDS, SSH_KEYS_FIELD, Change, FieldChange
from proxmox_mpc.errors import ManifestError, UsageError

# Delete a guest with its disks, also those its config no longer references.
PURGE_PARAMS: dict[str, Any] = {"purge": 1, "destroy-unreferenced-disks": 1}


def clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return request parameters without the unset ones (None), booleans as PVE's 1/0."""
    return {k: (int(v) if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


def guest_base(node: str, kind: str, vmid: int) -> str:
    """Return a guest's API path: `/nodes/pve1/qemu/101` for `vm` 101 on pve1."""
    return f"/nodes/{node}/{api_type(kind)}/{vmid}"


# ----------------------------------------------------------------------------- values of a plan's fields


def new_disk_value(kind: str, key: str, shown: str) -> str:
    """Return PVE's create syntax (`local-lvm:32,ssd=1`) for a disk a plan shows as `local-lvm:32G,ssd=1`."""
    canon = nz.canonical(kind, key, shown)
    if not isinstance(canon, dict) or "storage" not in canon or "size" not in canon:
        return shown
    options = {k.removeprefix("opt:"): v for k, v in canon.items() if k.startswith("opt:")}
    return nz.join_props(f"{canon['storage']}:{nz.gib_text(nz.parse_size(canon['size']))}", options)


def is_volume_disk(kind: str, key: str, value: str | None) -> bool:
    """Return True for a disk on a storage volume (not a CD-ROM, cloud-init drive or bind mount)."""
    if not nz.is_disk_key(kind, key) or value is None:
        return False
    canon = nz.canonical(kind, key, value)
    return (
        isinstance(canon, dict) and "storage" in canon and not canon.get("cloudinit") and "cdrom" not in canon
    )


def first_storage(kind: str, values: Mapping[str, Any]) -> str | None:
    """Return the storage of the first volume disk (by key), where a cloud-init drive goes."""
    for key in sorted(values):
        value = values[key]
        if is_volume_disk(kind, key, value):
            canon = nz.canonical(kind, key, value)
            return str(canon["storage"])
    return None


def cloudinit_value(shown: str, storage: str | None) -> str:
    """Return PVE's value for a cloud-init drive: a plan's bare `cloudinit` goes on `storage`.

    Raises:
        UsageError: the drive needs a storage and none is known.
    """
    if shown == "cloudinit":
        if not storage:
            raise UsageError("The cloud-init drive needs a storage: give cloud_init.storage in the manifest.")
        return f"{storage}:cloudinit"
    return shown


def _field_value(kind: str, key: str, value: str, storage: str | None) -> str:
    """Return what to send for a key set on a new guest (or a new disk): create syntax, encoded keys."""
    if key == "sshkeys":
        return nz.encode_ssh_keys(value)
    if nz.is_disk_key(kind, key) and nz.is_cloudinit_drive(value):
        return cloudinit_value(value, storage)
    if is_volume_disk(kind, key, value):
        return new_disk_value(kind, key, value)
    return value


class ConfigUpdate(Model):
    """The requests one config change needs: keys to set, keys to delete, disks to grow."""

    params: dict[str, Any] = Field(default_factory=dict)
    deletes: list[str] = Field(default_factory=list)
    resizes: list[tuple[str, str]] = Field(default_factory=list)


def _kept_volume(kind: str, key: str, want: dict[str, Any], have_value: Any) -> str:
    """Return a disk's value with the wanted options on the volume it has (options change, volume stays)."""
    have = nz.parse_disk(have_value)
    options = {k.removeprefix("opt:"): v for k, v in want.items() if k.startswith("opt:")}
    volume = f"{have.get('storage')}:{have.get('volume')}" if "volume" in have else have.get("source", "")
    if "size" in have:
        options["size"] = have["size"]
    return nz.join_props(volume, options)


def _disk_update(update: ConfigUpdate, kind: str, item: FieldChange, current: Mapping[str, Any]) -> None:
    key = item.name
    assert item.new is not None
    if item.old is None or key not in current:
        update.params[key] = new_disk_value(kind, key, item.new)
        return
    delta = nz.disk_delta(kind, key, item.new, item.old)
    want = nz.canonical(kind, key, item.new)
    if delta in ("grow",) or (
        delta == "options"
        and want.get("size") != nz.canonical(kind, key, current[key]).get("size")
        and "size" in want
    ):
        update.resizes.append((key, str(want["size"])))
    if delta == "options":
        update.params[key] = _kept_volume(kind, key, want, current[key])


def config_update(
    kind: str, fields: Sequence[FieldChange], current: Mapping[str, Any]
) -> ConfigUpdate:
    """Turn a change's config fields into set/delete/resize requests, using the guest's current config."""
    update = ConfigUpdate()
    storage = first_storage(kind, current)
    for item in fields:
        key = item.name
        if key in PSEUDO_FIELDS or key in ("template",):
            continue
        if item.new is None:
            update.deletes.append(key)
        elif is_volume_disk(kind, key, item.new):
            _disk_update(update, kind, item, current)
        else:
            update.params[key] = _field_value(kind, key, item.new, storage)
    return update


def create_params(change: Change) -> dict[str, Any]:
    """Return the parameters of the create request of a change (disks in PVE's create syntax)."""
    params: dict[str, Any] = {}
    fields = {f.name: f for f in change.fields}
    values = {f.name: f.new for f in change.fields if f.new is not None and f.name not in PSEUDO_FIELDS}
    storage = first_storage(change.kind, values)
    for key, value in values.items():
        if key != "template":
            params[key] = _field_value(change.kind, key, value, storage)
    if POOL_FIELD in fields and fields[POOL_FIELD].new:
        params["pool"] = fields[POOL_FIELD].new
    if change.kind == "ct":
        if OSTEMPLATE_FIELD in fields:
            params["ostemplate"] = fields[OSTEMPLATE_FIELD].new
        if SSH_KEYS_FIELD in fields and fields[SSH_KEYS_FIELD].new:
            params["ssh-public-keys"] = fields[SSH_KEYS_FIELD].new
    return params


def family_of(kind: str, key: str, value: Any) -> str | None:
    """Return the authoritative family of a key (disk, net, mp) or None."""
    if nz.NET_RE.match(key):
        return "net"
    if kind == "vm" and nz.QEMU_DISK_RE.match(key) and not nz.is_cdrom(value):
        return "disk"
    if kind == "ct" and key.startswith("mp") and key[2:].isdigit():
        return "mp"
    return None


def after_clone_fields(change: Change, current: Mapping[str, Any]) -> list[FieldChange]:
    """Return the config changes that turn a fresh clone into what a create change asks for."""
    wanted = [
        f
        for f in change.fields
        if f.name not in PSEUDO_FIELDS
        and f.name not in ("name", "hostname", "template")
        and f.new is not None
    ]
    families = {family_of(change.kind, f.name, f.new) for f in wanted} - {None}
    fields: list[FieldChange] = []
    for item in wanted:
        have = current.get(item.name)
        if nz.equivalent(change.kind, item.name, item.new, have):
            continue
        fields.append(FieldChange(name=item.name, old=nz.render(change.kind, item.name, have), new=item.new))
    names = {f.name for f in wanted}
    for key, value in current.items():
        if key not in names and family_of(change.kind, key, value) in families:
            fields.append(FieldChange(name=key, old=nz.render(change.kind, key, value), new=None))
    return fields


# ----------------------------------------------------------------------------- requests


def create_request(kind: str, node: str, params: Mapping[str, Any]) -> PlannedRequest:
    """Return POST /nodes/{node}/{qemu|lxc} with the create parameters (the VMID among them)."""
    return PlannedRequest(method="POST", path=f"/nodes/{node}/{api_type(kind)}", params=dict(params))


def change_create_request(change: Change, vmid: int) -> PlannedRequest:
    """Return the create request of a plan's change, as guest `vmid`.

    Raises:
        ManifestError: a container without an ostemplate (nothing to create it from).
    """
    params = create_params(change)
    if change.kind == "ct" and "ostemplate" not in params:
        raise ManifestError(f"{change.address}: creating a container needs spec.ostemplate (or spec.clone).")
    params["vmid"] = vmid
    return create_request(change.kind, change.node, params)


def clone_request(kind: str, node: str, vmid: int, params: Mapping[str, Any]) -> PlannedRequest:
    """Return POST .../clone of the source guest, with the clone parameters (`newid` among them)."""
    return PlannedRequest(method="POST", path=guest_base(node, kind, vmid) + "/clone", params=dict(params))


def change_clone_params(change: Change, vmid: int, spec: Mapping[str, str], source_node: str) -> dict[str, Any]:
    """Return the clone parameters of a plan's create from `spec.clone` (`from=..,full=..,storage=..`)."""
    fields = {f.name: f for f in change.fields}
    params: dict[str, Any] = {"newid": vmid, "full": int(spec.get("full", "1") == "1")}
    name_key = "hostname" if change.kind == "ct" else "name"
    if name_key in fields and fields[name_key].new:
        params[name_key] = fields[name_key].new
    if change.node != source_node:
        params["target"] = change.node
    if spec.get("storage"):
        params["storage"] = spec["storage"]
    if POOL_FIELD in fields and fields[POOL_FIELD].new:
        params["pool"] = fields[POOL_FIELD].new
    return params


def template_request(kind: str, node: str, vmid: int) -> PlannedRequest:
    """Return the request that turns a guest into a template."""
    return PlannedRequest(method="POST", path=guest_base(node, kind, vmid) + "/template")


def config_requests(
    kind: str, node: str, vmid: int, update: ConfigUpdate, digest: str | None
) -> list[tuple[str, PlannedRequest]]:
    """Return (step, request) for a config update: the config write (with the digest read), then resizes."""
    base = guest_base(node, kind, vmid)
    requests: list[tuple[str, PlannedRequest]] = []
    if update.params or update.deletes:
        params: dict[str, Any] = dict(update.params)
        if update.deletes:
            params["delete"] = ",".join(update.deletes)
        if digest:
            params["digest"] = digest
        # qemu's POST /config runs as a task (waited for); lxc's PUT /config answers at once.
        method = "POST" if kind == "vm" else "PUT"
        requests.append(("config", PlannedRequest(method=method, path=base + "/config", params=params)))
    for disk, size in update.resizes:
        request = PlannedRequest(method="PUT", path=base + "/resize", params={"disk": disk, "size": size})
        requests.append((f"resize {disk}", request))
    return requests


def pool_request(vmid: int, old: str | None, new: str | None) -> PlannedRequest | None:
    """Return the request that moves a guest into pool `new` (or out of `old`), None when neither is set."""
    if new:
        return PlannedRequest(method="PUT", path=f"/pools/{new}", params={"vms": str(vmid), "allow-move": 1})
    if old:
        return PlannedRequest(method="PUT", path=f"/pools/{old}", params={"vms": str(vmid), "delete": 1})
    return None


def migrate_request(
    kind: str,
    node: str,
    vmid: int,
    target: str,
    *,
    online: bool,
    with_local_disks: bool = False,
    restart_timeout: int | None = None,
) -> PlannedRequest:
    """Return the migration of a guest to `target`: a VM live when `online`, a running container restarted."""
    params: dict[str, Any] = {"target": target}
    if kind == "vm":
        params["online"] = 1 if online else None
        params["with-local-disks"] = 1 if with_local_disks else None
    elif online:
        # Containers cannot move live: a restart migration stops, moves and starts them.
        params["restart"] = 1
        params["timeout"] = restart_timeout
    return PlannedRequest(method="POST", path=guest_base(node, kind, vmid) + "/migrate", params=clean_params(params))


def power_request(kind: str, node: str, vmid: int, verb: str, **params: Any) -> PlannedRequest:
    """Return POST .../status/{verb} (start, stop, shutdown, reboot, suspend, resume) with its parameters."""
    return PlannedRequest(
        method="POST", path=guest_base(node, kind, vmid) + f"/status/{verb}", params=clean_params(params)
    )


def delete_request(kind: str, node: str, vmid: int, *, purge: bool) -> PlannedRequest:
    """Return the request that deletes a guest (with `purge`: its disks and its mentions in jobs and pools)."""
    params = dict(PURGE_PARAMS) if purge else {}
    return PlannedRequest(method="DELETE", path=guest_base(node, kind, vmid), params=params)

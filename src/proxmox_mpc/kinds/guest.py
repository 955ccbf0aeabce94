"""What VM and CT share as kinds: their machinery stays in core/ (manifest, normalize, diff) and the guest path.

A guest kind answers the registry's questions by delegating: its model is core.manifest's, its diff is
core.diff's `diff_guest`, its manifest comes from `manifest_from_config`. The guest path (observe,
the apply executor) drives VMIDs, nodes, tasks and power; the generic pipeline only orders guests
against the resources they reference (a guest's `spec.pool` names a Pool).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from proxmox_mpc.core import guest_requests
from proxmox_mpc.core.diff import diff_guest
from proxmox_mpc.core.identity import api_type
from proxmox_mpc.core.manifest import AnyManifest, manifest_from_config
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.normalize import is_disk_key, split_volume
from proxmox_mpc.core.plan import POOL_FIELD, Change
from proxmox_mpc.kinds.base import Kind, Reference

POOL_PREFIX = "pool"
STORAGE_PREFIX = "storage"


class GuestKind(Kind):
    """A VM or a container."""

    guest = True
    # Fixed at create time: changing them destroys and creates the guest (a disk that shrinks or moves
    # to another storage too: core.diff.forces_replacement decides per value).
    replace_fields: ClassVar[frozenset[str]] = frozenset({"template"})
    # The request builders (create, clone, config, resize, pool, migrate, power, delete): pure, in core;
    # the guest executor (services/apply) calls them with what it reads (VMIDs, current configs, nodes).
    request_builders: ClassVar[ModuleType] = guest_requests
    # The kinds a guest's manifest references and is a member of (its pool): a guest deleted by a plan goes
    # before such a resource the plan deletes too (PVE refuses to delete a pool with members).
    member_of: ClassVar[tuple[str, ...]] = (POOL_PREFIX,)

    @property
    def api_type(self) -> str:
        """Return PVE's word for this kind (`qemu`, `lxc`): the API edge only."""
        return api_type(self.prefix)

    def diff(self, manifest: AnyManifest, observed: ObservedGuest | None) -> Change | None:
        """Return the change that makes a guest (None: absent) match its manifest, or None."""
        return diff_guest(manifest, observed)

    def to_manifest(self, guest: ObservedGuest) -> AnyManifest:
        """Return the manifest `sync --import` writes for a guest."""
        state = None if guest.template else ("stopped" if guest.status == "stopped" else "running")
        return manifest_from_config(
            self.prefix.upper(),
            guest.name,
            guest.node,
            guest.vmid,
            guest.config,
            state=state,
            pool=guest.pool,
            template=guest.template or None,
        )

    def references(self, manifest: Any) -> list[Reference]:
        pool = manifest.spec.pool
        return [Reference(("spec", "pool"), f"{POOL_PREFIX}/{pool}", POOL_PREFIX)] if pool else []

    def change_references(self, change: Change) -> list[str]:
        item = change.field(POOL_FIELD)
        found = [] if item is None else [f"{POOL_PREFIX}/{name}" for name in (item.new, item.old) if name]
        # A disk on a storage the same plan defines: the definition is made first.
        for field in change.fields:
            if is_disk_key(self.prefix, field.name) and field.new:
                storage = split_volume(field.new.split(",")[0])[0]
                if storage:
                    found.append(f"{STORAGE_PREFIX}/{storage}")
        return found

    def import_id(self, node: str, vmid: int) -> str:
        """Return the id `terraform import` takes for a guest (the bpg provider's NODE/VMID)."""
        return self.terraform.import_id.format(node=node, vmid=vmid)

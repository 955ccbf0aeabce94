"""Protection: which guests and resources a plan may delete or replace (pure).

pmpc never destroys what it cannot rebuild by accident: a guest (or a pool, ...) it adopted (imported, or
described by a hand-written manifest, but not created by pmpc) is protected unless the manifest says
`lifecycle: {allow_destroy: true}` or the command names it with `--allow-destroy`; a manifest with
`lifecycle: {prevent_destroy: true}` protects its resource from everything, as terraform's does.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from proxmox_mpc.core.plan import Change

# What pmpc created: (kind, vmid) of a guest, the address of a resource of another kind (`pool/prod`).
Created = Collection[tuple[str, int] | str]


def allowed_by_flag(change: Change, allowed: Collection[str]) -> bool:
    """Return True when `--allow-destroy` names the change's guest (`vm/101` or `vm/web-1`)."""
    return change.address in allowed or (change.vmid is not None and change.ref in allowed)


def protection_problem(
    change: Change,
    manifest: Any | None,
    created: Created,
    allowed: Collection[str],
) -> str | None:
    """Return why a delete or replace may not go ahead (None: it may); `manifest` is of the change's kind."""
    if change.action not in ("delete", "replace") or (change.guest and change.vmid is None):
        return None
    verb = "deletes" if change.action == "delete" else "replaces"
    where = f"{change.address} ({change.ref})" if change.guest else change.address
    lifecycle = manifest.lifecycle if manifest is not None else None
    if lifecycle is not None and lifecycle.prevent_destroy:
        return (
            f"the plan {verb} {where}, but its manifest says lifecycle.prevent_destroy: remove that "
            "first if it really is to go"
        )
    if ((change.kind, change.vmid) if change.guest else change.address) in created:
        return None
    if lifecycle is not None and lifecycle.allow_destroy:
        return None
    if allowed_by_flag(change, allowed):
        return None
    return (
        f"the plan {verb} {where}, which pmpc did not create (it was imported or adopted): add "
        f"`lifecycle: {{allow_destroy: true}}` to its manifest, or pass --allow-destroy {change.address}"
    )

"""The plan document: what `pmpc plan` found to do and `pmpc apply` will do (stable, versioned JSON).

```
{"format_version": "1.1", "created_at": ISO-8601 UTC, "context": str|null, "workspace": str|null,
 "changes": [{"address": "vm/web-1", "kind": "vm"|"ct"|"pool"|..., "vmid": int|null, "node": str|null,
              "action": "create"|"update"|"replace"|"delete"|"power",
              "fields": [{"name", "old", "new", "needs_reboot", ["forces_replacement": true]}],
              "digest": str|null, ["backup": STORAGE], ["replaced_in_run": RUN]}],
 "summary": {"add", "change", "replace", "destroy", "power"}, ["pending_reboot": [...]]}
```
Field values are Proxmox config values in canonical form (disks as `storage:size,options`); the
pseudo-fields `state`, `pool`, `node`, `clone`, `ostemplate` and `ssh_keys` carry what is not config.
A change of a non-guest kind (`pool/prod`) has no vmid and no node; its fields are the kind's own.
Keys in brackets appear only when they say something (1.1 added them; a 1.0 reader ignores nothing
it knew): `forces_replacement` on the fields that force a replace, `backup` on a delete or replace
that takes a vzdump first, `replaced_in_run` on a create of a guest an interrupted replace deleted,
and `pending_reboot` for guests whose wanted values wait for their next start.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_serializer

from proxmox_mpc.core.identity import GUEST_KINDS, api_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import UtcTime
from proxmox_mpc.errors import ManifestError

FORMAT_VERSION = "1.1"
Action = Literal["create", "update", "replace", "delete", "power"]
ACTIONS: tuple[str, ...] = ("create", "update", "replace", "delete", "power")
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "power": "~"}
# Pseudo-fields: plan entries that are not Proxmox config keys.
STATE_FIELD = "state"
POOL_FIELD = "pool"
NODE_FIELD = "node"
CLONE_FIELD = "clone"
OSTEMPLATE_FIELD = "ostemplate"
SSH_KEYS_FIELD = "ssh_keys"
PSEUDO_FIELDS = frozenset(
    {STATE_FIELD, POOL_FIELD, NODE_FIELD, CLONE_FIELD, OSTEMPLATE_FIELD, SSH_KEYS_FIELD}
)


class FieldChange(Model):
    """One field of a guest that changes: `memory: 2048 -> 4096`."""

    model_config = ConfigDict(frozen=True)

    name: str
    old: str | None = None
    new: str | None = None
    needs_reboot: bool = False
    forces_replacement: bool = False

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.forces_replacement:
            data.pop("forces_replacement", None)
        return data


class Change(Model):
    """Everything that changes about one resource (a guest, a pool, ...)."""

    address: str
    kind: str  # the address prefix of a registered kind: vm, ct, pool, ...
    vmid: int | None = None
    # A guest's node; empty for kinds that live on no node (written as null in the plan document).
    node: str = ""
    action: Action
    fields: list[FieldChange] = Field(default_factory=list)
    digest: str | None = None
    # The storage a vzdump goes to before the delete (delete and replace only).
    backup: str | None = None
    # The apply run whose replace deleted this guest and never created it again (a create only).
    replaced_in_run: int | None = None

    @field_validator("node", mode="before")
    @classmethod
    def _no_node(cls, value: Any) -> Any:
        return "" if value is None else value

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("backup", "replaced_in_run"):
            if data.get(key) is None:
                data.pop(key, None)
        if data.get("node") == "":
            data["node"] = None
        return data

    @property
    def needs_reboot(self) -> bool:
        """Return True when some change takes effect only at the guest's next (re)start."""
        return any(f.needs_reboot for f in self.fields)

    @property
    def type(self) -> str:
        """Return the Proxmox guest type of a guest's change (qemu or lxc); another kind's prefix otherwise."""
        return api_type(self.kind) if self.guest else self.kind

    @property
    def guest(self) -> bool:
        """Return True for a change of a VM or a container (driven by the guest path)."""
        return self.kind in GUEST_KINDS

    def field(self, name: str) -> FieldChange | None:
        """Return the change of one field, or None."""
        for item in self.fields:
            if item.name == name:
                return item
        return None

    @property
    def ref(self) -> str:
        """Return `vm/101`, or the address while the VMID is not known yet."""
        return f"{self.kind}/{self.vmid}" if self.vmid is not None else self.address


class PendingReboot(Model):
    """A guest whose wanted values are set but wait for its next start (they count as applied)."""

    address: str
    vmid: int
    fields: list[str] = Field(default_factory=list)


class Summary(Model):
    """How many guests each kind of action touches."""

    add: int = 0
    change: int = 0
    replace: int = 0
    destroy: int = 0
    power: int = 0


class Plan(Model):
    """A plan: the changes, in address order, and their summary."""

    format_version: str = FORMAT_VERSION
    created_at: UtcTime = Field(default_factory=lambda: datetime.now(timezone.utc))
    context: str | None = None
    workspace: str | None = None
    changes: list[Change] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    pending_reboot: list[PendingReboot] = Field(default_factory=list)
    # Guests without a manifest, listed in the text view, never changed; not part of the JSON document.
    unmanaged: list[str] = Field(default_factory=list, exclude=True)

    @property
    def empty(self) -> bool:
        """Return True when applying would change nothing."""
        return not self.changes

    def to_document(self) -> dict[str, Any]:
        """Return the JSON plan document."""
        data = self.model_dump(mode="json")
        if not data.get("pending_reboot"):
            data.pop("pending_reboot", None)
        return data


def summarize(changes: list[Change]) -> Summary:
    """Count the changes by action (add = create, change = update, destroy = delete)."""
    summary = Summary()
    for change in changes:
        if change.action == "create":
            summary.add += 1
        elif change.action == "update":
            summary.change += 1
        elif change.action == "replace":
            summary.replace += 1
        elif change.action == "delete":
            summary.destroy += 1
        else:
            summary.power += 1
    return summary


def make_plan(
    changes: list[Change],
    *,
    context: str | None = None,
    workspace: str | None = None,
    created_at: datetime | None = None,
    unmanaged: list[str] | None = None,
    pending_reboot: list[PendingReboot] | None = None,
) -> Plan:
    """Build a plan with its changes sorted by address and counted."""
    ordered = sorted(changes, key=lambda c: (c.address, c.vmid or 0))
    return Plan(
        created_at=created_at or datetime.now(timezone.utc),
        context=context,
        workspace=workspace,
        changes=ordered,
        summary=summarize(ordered),
        unmanaged=sorted(unmanaged or []),
        pending_reboot=sorted(pending_reboot or [], key=lambda p: p.address),
    )


def load_plan(data: Any, source: str = "the plan file") -> Plan:
    """Read a plan document (as parsed from JSON).

    Raises:
        ManifestError: the document is not a pmpc plan, or of a format this version cannot read.
    """
    from pydantic import ValidationError

    if not isinstance(data, dict) or "format_version" not in data:
        raise ManifestError(f"{source} is not a pmpc plan document (no format_version).")
    major = str(data["format_version"]).split(".")[0]
    if major != FORMAT_VERSION.split(".")[0]:
        raise ManifestError(
            f"{source} has plan format {data['format_version']}; this pmpc reads {FORMAT_VERSION}."
        )
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ManifestError(f"{source} is not a valid plan: {where}: {first.get('msg')}.") from exc

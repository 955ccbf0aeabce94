"""BackupJob: a scheduled vzdump job (`/cluster/backup`), `resources/backup-jobs/ID.yaml`, `backupjob/ID`.

```yaml
kind: BackupJob
name: nightly
spec:
  schedule: "02:30"              # a PVE calendar event
  vmids: [101, 102]              # or pool: prod, or all: true (with exclude: [103])
  storage: local
  mode: snapshot
  retention: {keep-last: 3, keep-weekly: 2}
```
The selection (`vmids`, `pool` or `all`) is managed as a whole: switching from a pool to a list clears
the pool. Any other field left out is left as it is; an empty value (`comment: ""`, `exclude: []`)
clears it. The guests it names (by VMID, a VM or a container), its pool and its storage are
references: validate checks them and apply makes them first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.calendar import check_calendar_event
from proxmox_mpc.core.plan import Change
from proxmox_mpc.core.retention import KEEP_KEYS as KEEP
from proxmox_mpc.kinds.base import (
    CONFIG_ID,
    AnsibleMapping,
    ApiWrite,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    blank_equal,
    check_name,
    guest_reference,
    item_requests,
    text,
)

PATH = "/cluster/backup"
# Manifest (and stored) field -> PVE's parameter, where they differ.
PARAMS = {
    "vmids": "vmid",
    "notes_template": "notes-template",
    "notification_mode": "notification-mode",
    "retention": "prune-backups",
}
SELECTION = ("vmids", "pool", "all")


def _vmid_list(value: Any) -> str:
    """Return a VMID list as PVE writes it, in order: `101,102`."""
    items = value if isinstance(value, list | tuple) else re.split(r"[,;\s]+", str(value or ""))
    return ",".join(str(v) for v in sorted({int(v) for v in items if str(v).strip()}))


def _word_list(value: Any) -> str:
    items = value if isinstance(value, list | tuple) else re.split(r"[,;\s]+", str(value or ""))
    return ",".join(str(v).strip() for v in items if str(v).strip())


def retention_text(keep: Mapping[str, Any] | str | None) -> str | None:
    """Return prune-backups as PVE writes it, keys sorted: `keep-daily=7,keep-last=3` (None: not set)."""
    if keep is None:
        return None
    pairs = dict(p.split("=", 1) for p in keep.split(",") if "=" in p) if isinstance(keep, str) else dict(keep)
    return ",".join(f"{k}={text(v)}" for k, v in sorted(pairs.items()))


def _retention_map(value: str | None) -> dict[str, int] | None:
    if not value:
        return None
    return {k: int(v) for k, v in (p.split("=", 1) for p in value.split(",") if "=" in p)}


def _flag(value: Any, default: bool) -> bool:
    return default if value is None or value == "" else str(value) not in ("0", "false", "False")


class BackupJobSpec(ResourceSpec):
    """What a backup job should be (a field left out is left as it is)."""

    schedule: str | None = None
    vmids: list[int] | None = None
    pool: str | None = None
    all: bool | None = None
    exclude: list[int] | None = None
    storage: str | None = None
    mode: Literal["snapshot", "suspend", "stop"] | None = None
    compress: Literal["0", "1", "gzip", "lzo", "zstd"] | None = None
    enabled: bool | None = None
    node: str | None = None
    notes_template: str | None = Field(None, max_length=1024)
    mailto: list[str] | None = None
    mailnotification: Literal["always", "failure"] | None = None
    notification_mode: Literal["auto", "legacy-sendmail", "notification-system"] | None = None
    retention: dict[str, int] | None = None
    comment: str | None = Field(None, max_length=4096)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else check_calendar_event(value)

    @field_validator("compress", mode="before")
    @classmethod
    def _compress(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("vmids", "exclude")
    @classmethod
    def _vmids(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 100 <= v <= 999999999 for v in value):
            raise ValueError("a VMID is a number from 100 to 999999999")
        return value

    @field_validator("retention")
    @classmethod
    def _keep(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for key, count in (value or {}).items():
            if key not in KEEP:
                raise ValueError(f"{key!r} is not a retention option: use {', '.join(KEEP)}")
            if count < 0 or (key == "keep-all" and count > 1):
                raise ValueError(f"{key}: a count of 0 or more (keep-all: 0 or 1)")
        return value

    @model_validator(mode="after")
    def _one_selection(self) -> BackupJobSpec:
        if self.state == "absent":
            return self
        chosen = [name for name in SELECTION if getattr(self, name) not in (None, False, [])]
        if len(chosen) != 1:
            raise ValueError("a backup job selects its guests by exactly one of vmids, pool or all: true")
        if self.exclude and chosen[0] == "vmids":
            raise ValueError("exclude goes with all: true or pool, not with a vmids list")
        return self


class BackupJobManifest(ResourceManifest):
    """A BackupJob manifest: its name is the job id."""

    prefix: ClassVar[str] = "backupjob"
    kind: Literal["BackupJob"] = "BackupJob"
    spec: BackupJobSpec = Field(default_factory=BackupJobSpec)

    @field_validator("name")
    @classmethod
    def _job_id(cls, value: str) -> str:
        return check_name(CONFIG_ID, value, "a backup job id: a letter, then letters, digits, - and _")

    @model_validator(mode="after")
    def _schedule_given(self) -> BackupJobManifest:
        if not self.absent and self.spec.schedule is None:
            raise ValueError("spec.schedule is required: a PVE calendar event such as `02:30` or `sat 02:00`")
        return self


class BackupJobKind(ResourceKind):
    """Scheduled backup jobs."""

    name = "BackupJob"
    prefix = "backupjob"
    folder = "backup-jobs"
    model = BackupJobManifest
    reads = (PATH,)
    writes = (PATH, PATH + "/{id}")
    terraform = TerraformMapping("proxmox_backup_job", import_id="{id}")
    # community.proxmox has no module that creates a backup job (proxmox_backup_schedule only adds a
    # guest to an existing one): the playbook calls the API itself.
    ansible = AnsibleMapping("ansible.builtin.uri")
    columns = ("id", "schedule", "selection", "storage", "mode", "enabled", "comment")
    example: ClassVar[dict[str, Any]] = {
        "kind": "BackupJob",
        "name": "nightly",
        "spec": {
            "schedule": "02:30",
            "vmids": [101, 102],
            "storage": "local",
            "mode": "snapshot",
            "compress": "zstd",
            "retention": {"keep-last": 3, "keep-weekly": 2},
            "comment": "Nightly backups",
        },
    }

    # ------------------------------------------------------------------ references

    def references(self, manifest: Any) -> list[Reference]:
        spec = manifest.spec
        found = [guest_reference(("spec", "vmids", i), vmid) for i, vmid in enumerate(spec.vmids or [])]
        if spec.pool:
            found.append(Reference(("spec", "pool"), f"pool/{spec.pool}", "pool"))
        if spec.storage:
            # Judged when a Storage kind lists the storages; otherwise left to PVE.
            found.append(Reference(("spec", "storage"), f"storage/{spec.storage}", "storage"))
        return found

    def change_references(self, change: Change) -> list[str]:
        found: list[str] = []
        for item in change.fields:
            for value in (item.new, item.old):
                if not value:
                    continue
                if item.name == "vmids":
                    found += [f"guest/{v}" for v in value.split(",")]
                elif item.name in ("pool", "storage"):
                    found.append(f"{item.name}/{value}")
        return found

    # ------------------------------------------------------------------ reading

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        ident = item.get("id")
        if not ident or item.get("type", "vzdump") != "vzdump":
            return None
        data = {
            "schedule": item.get("schedule") or None,
            "vmids": _vmid_list(item.get("vmid")) or None,
            "pool": item.get("pool") or None,
            "all": _flag(item.get("all"), False),
            "exclude": _vmid_list(item.get("exclude")) or None,
            "storage": item.get("storage") or None,
            "mode": item.get("mode") or "snapshot",
            "compress": str(item["compress"]) if item.get("compress") not in (None, "") else None,
            "enabled": _flag(item.get("enabled"), True),
            "node": item.get("node") or None,
            "notes_template": item.get("notes-template") or None,
            "mailto": _word_list(item.get("mailto")) or None,
            "mailnotification": item.get("mailnotification") or None,
            "notification_mode": item.get("notification-mode") or None,
            "retention": retention_text(item.get("prune-backups")) or None,
            "comment": item.get("comment") or None,
        }
        return Resource(kind=self.prefix, id=str(ident), data=data)

    def to_manifest(self, resource: Resource) -> BackupJobManifest:
        data = resource.data
        spec = BackupJobSpec(
            schedule=data.get("schedule"),
            vmids=[int(v) for v in data["vmids"].split(",")] if data.get("vmids") else None,
            pool=data.get("pool"),
            all=True if data.get("all") else None,
            exclude=[int(v) for v in data["exclude"].split(",")] if data.get("exclude") else None,
            storage=data.get("storage"),
            mode=data.get("mode"),
            compress=data.get("compress"),
            enabled=False if data.get("enabled") is False else None,
            node=data.get("node"),
            notes_template=data.get("notes_template"),
            mailto=data["mailto"].split(",") if data.get("mailto") else None,
            mailnotification=data.get("mailnotification"),
            notification_mode=data.get("notification_mode"),
            retention=_retention_map(data.get("retention")),
            comment=data.get("comment"),
        )
        return BackupJobManifest(name=resource.id, spec=spec)

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, BackupJobManifest)
        spec = manifest.spec
        want: dict[str, Any] = {
            "schedule": spec.schedule,
            # The selection is one choice: the two left out are cleared.
            "vmids": _vmid_list(spec.vmids) if spec.vmids else "",
            "pool": spec.pool or "",
            "all": bool(spec.all),
            "exclude": _vmid_list(spec.exclude) if spec.exclude is not None else ("" if spec.vmids else None),
            "storage": spec.storage,
            "mode": spec.mode,
            "compress": spec.compress,
            "enabled": spec.enabled,
            "node": spec.node,
            "notes_template": spec.notes_template,
            "mailto": _word_list(spec.mailto) if spec.mailto is not None else None,
            "mailnotification": spec.mailnotification,
            "notification_mode": spec.notification_mode,
            "retention": retention_text(spec.retention),
            "comment": spec.comment,
        }
        return want

    def diff(self, manifest: ResourceManifest, observed: Resource | None) -> Change | None:
        change = super().diff(manifest, observed)
        if change is not None and change.action == "create":
            # A new job has nothing to clear: the selection left out is not worth a line.
            kept = [f for f in change.fields if f.new not in ("", None) and (f.name, f.new) != ("all", "0")]
            change = change.model_copy(update={"fields": kept})
        return change

    def same(self, key: str, want: Any, have: Any) -> bool:
        return blank_equal(want, have)

    # ------------------------------------------------------------------ writing

    def requests(self, change: Change) -> list[PlannedRequest]:
        return item_requests(change, PATH, "id", PARAMS)

    # ------------------------------------------------------------------ generators

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, BackupJobManifest)
        spec = manifest.spec
        return [
            ("id", manifest.name),
            ("schedule", spec.schedule),
            ("storage", spec.storage),
            ("vmid", [str(v) for v in spec.vmids] if spec.vmids else None),
            ("pool", spec.pool),
            ("all", spec.all),
            ("mode", spec.mode),
            ("compress", spec.compress),
            ("enabled", spec.enabled),
            ("node", spec.node),
            ("notes_template", spec.notes_template),
            ("mailto", spec.mailto),
            ("mailnotification", spec.mailnotification),
            ("prune_backups", {k: str(v) for k, v in spec.retention.items()} if spec.retention else None),
        ]

    def terraform_unmapped(self, manifest: ResourceManifest) -> list[str]:
        # bpg 0.111's proxmox_backup_job has no attribute for these.
        assert isinstance(manifest, BackupJobManifest)
        spec = manifest.spec
        return [n for n in ("exclude", "notification_mode", "comment") if getattr(spec, n) not in (None, [])]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, BackupJobManifest)
        create = self.diff(manifest, None)
        assert create is not None
        body = dict(self.requests(create)[0].params)
        body.pop("id")
        return [("api", ApiWrite(collection=PATH, key="id", ident=manifest.name, body=body))]

    # ------------------------------------------------------------------ listing

    def row(self, resource: Resource) -> dict[str, Any]:
        data = resource.data
        if data.get("all"):
            selection = "all" + (f" except {data['exclude']}" if data.get("exclude") else "")
        elif data.get("pool"):
            selection = f"pool {data['pool']}" + (f" except {data['exclude']}" if data.get("exclude") else "")
        else:
            selection = data.get("vmids") or ""
        return {"id": resource.id, **data, "selection": selection}


KIND = BackupJobKind()

"""Backups (vzdump): the request that takes one, the volume it wrote, and a backup volume as pmpc lists it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from proxmox_mpc.core.identity import ApiType, api_type, guest_kind, is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import UtcTime, to_int
from proxmox_mpc.errors import UsageError

MODES = ("snapshot", "suspend", "stop")
# pmpc's --compress names -> PVE's `compress` values ("0" is none).
COMPRESS = {"zstd": "zstd", "lzo": "lzo", "gzip": "gzip", "none": "0"}
# How vzdump names what it is writing, in its task log (a file, or a Proxmox Backup Server snapshot).
_ARCHIVE_FILE = re.compile(r"creating vzdump archive '([^']+)'")
_ARCHIVE_PBS = re.compile(r"creating Proxmox Backup Server archive '([^']+)'")
# backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst, and PBS's backup/vm/101/2026-12-06T03:54:36Z.
_FILE_NAME = re.compile(r"vzdump-(qemu|lxc|openvz)-(\d+)-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)")
_PBS_NAME = re.compile(r"(?:^|/)(vm|ct)/(\d+)/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


@dataclass(frozen=True)
class BackupOptions:
    """How to back a guest up: where to, in which mode, compressed how, with which notes."""

    storage: str
    mode: str = "snapshot"
    compress: str = "zstd"
    notes: str | None = None
    protected: bool = False

    def check(self) -> None:
        """Reject a mode or compression PVE does not know.

        Raises:
            UsageError: the message names the flag.
        """
        if self.mode not in MODES:
            raise UsageError(f"--mode {self.mode}: use one of {', '.join(MODES)}.")
        if self.compress not in COMPRESS:
            raise UsageError(f"--compress {self.compress}: use one of {', '.join(COMPRESS)}.")
        if not self.storage:
            raise UsageError("--storage is required: name the storage that keeps backups.")


def vzdump_params(vmid: int, options: BackupOptions) -> dict[str, Any]:
    """Return the parameters of POST /nodes/{node}/vzdump that back up one guest."""
    params: dict[str, Any] = {
        "vmid": str(vmid),
        "storage": options.storage,
        "mode": options.mode,
        "compress": COMPRESS[options.compress],
    }
    if options.notes:
        # PVE expands {{guestname}}, {{vmid}}... in the template; plain text stays as it is.
        params["notes-template"] = options.notes
    if options.protected:
        params["protected"] = 1
    return params


def volid_from_log(lines: Iterable[str], storage: str) -> str | None:
    """Return the volume id a vzdump task wrote, as its log names it, or None when it names none."""
    for line in lines:
        found = _ARCHIVE_FILE.search(line)
        if found:
            return f"{storage}:backup/{found.group(1).rsplit('/', 1)[-1]}"
        found = _ARCHIVE_PBS.search(line)
        if found:
            return f"{storage}:backup/{found.group(1)}"
    return None


def parse_backup_name(volid: str) -> tuple[ApiType | None, int | None, datetime | None]:
    """Return (guest type, VMID, time) that a backup's volume name encodes; None for what it does not."""
    volname = volid.partition(":")[2] or volid
    found = _FILE_NAME.search(volname)
    if found:
        gtype: ApiType = "qemu" if found.group(1) == "qemu" else "lxc"  # openvz archives restore as containers
        year, month, day, hour, minute, second = (int(g) for g in found.groups()[2:])
        return gtype, int(found.group(2)), datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    found = _PBS_NAME.search(volname)
    if found:
        when = datetime.strptime(found.group(3), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return api_type(found.group(1)), int(found.group(2)), when
    return None, None, None


def check_volid(volid: str) -> str:
    """Return a backup volume id (`STORAGE:backup/...`), trimmed.

    Raises:
        UsageError: the text is not a volume id of a backup.
    """
    text = volid.strip()
    storage, colon, volname = text.partition(":")
    if not colon or not storage or not volname:
        raise UsageError(f"{volid!r} is not a volume id: give STORAGE:backup/FILE as `pmpc backup list` shows it.")
    return text


class BackupVolume(Model):
    """One backup on a storage, as `pmpc backup list` shows it."""

    kind: Literal["backup"] = "backup"
    volid: str
    storage: str
    node: str
    guest: str | None = None
    vmid: int | None = None
    type: ApiType | None = None
    backup_time: UtcTime | None = None
    size: int = 0
    format: str = ""
    notes: str = ""
    protected: bool = False

    @classmethod
    def from_api(cls, node: str, storage: str, raw: dict[str, Any]) -> BackupVolume:
        """Build from an entry of GET /nodes/{node}/storage/{storage}/content?content=backup."""
        volid = str(raw.get("volid") or "")
        gtype, vmid, when = parse_backup_name(volid)
        subtype = raw.get("subtype")
        if is_api_guest_type(subtype):
            gtype = subtype
        vmid = to_int(raw.get("vmid"), 0) or vmid
        ctime = to_int(raw.get("ctime"))
        if ctime:
            when = datetime.fromtimestamp(ctime, tz=timezone.utc)
        return cls(
            volid=volid,
            storage=storage,
            node=node,
            guest=f"{guest_kind(gtype)}/{vmid}" if gtype and vmid else None,
            vmid=vmid or None,
            type=gtype,
            backup_time=when,
            size=to_int(raw.get("size")),
            format=str(raw.get("format") or ""),
            notes=str(raw.get("notes") or ""),
            protected=bool(to_int(raw.get("protected"))),
        )

"""`pmpc vm|ct backup` and `restore`: vzdump archives of guests, and guests back from them."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._run import confirmer
from proxmox_mpc.commands.guest.verbs import (
    CONCURRENCY,
    SELECTOR,
    TARGETS,
    WAIT_FIRST,
    Param,
    Verb,
    selector_of,
    with_progress,
)
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.output.printers import check_format

BackupStorageOpt = Annotated[
    str,
    typer.Option(
        "--storage", help="Storage to write the backup to.", metavar="STORAGE", autocompletion=_complete.of("storages")
    ),
]
ModeOpt = Annotated[
    str, typer.Option("--mode", help="snapshot (no downtime), suspend or stop.", metavar="snapshot|suspend|stop")
]
CompressOpt = Annotated[
    str, typer.Option("--compress", help="zstd, lzo, gzip or none.", metavar="zstd|lzo|gzip|none")
]
NotesOpt = Annotated[
    str | None,
    typer.Option("--notes", help="Notes kept with the backup ({{guestname}}, {{vmid}} expand).", metavar="TEXT"),
]
ProtectedOpt = Annotated[bool, typer.Option("--protected", help="Protect the backup from pruning and deletion.")]
VolidArg = Annotated[
    str, typer.Argument(help="Backup volume id, as `pmpc backup list` shows it.", metavar="VOLID")
]
RestoreVmidOpt = Annotated[int, typer.Option("--vmid", min=100, help="VMID to restore to.", metavar="ID")]
RestoreNodeOpt = Annotated[
    str | None,
    typer.Option(
        "--node",
        help="Node to restore on (default: the guest's, else the backup's).",
        metavar="NODE",
        autocompletion=_complete.of("nodes"),
    ),
]
RestoreStorageOpt = Annotated[
    str | None, typer.Option("--storage", help="Storage for the restored disks.", metavar="STORAGE")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite the guest that has this VMID.")]
UniqueOpt = Annotated[bool, typer.Option("--unique", help="Give the restored guest new MAC addresses.")]


def backup(
    app_ctx: AppContext,
    kind: GuestKind,
    *,
    storage: str,
    targets: list[str] | None,
    selector: list[str] | None,
    mode: str,
    compress: str,
    notes: str | None,
    protected: bool,
    timeout: float,
    wait: bool,
    concurrency: int | None,
    dry_run: bool,
    yes: bool,
    output: str,
) -> None:
    check_format(output)
    from proxmox_mpc.core.backups import BackupOptions
    from proxmox_mpc.services import backup as backups

    options = BackupOptions(storage=storage, mode=mode, compress=compress, notes=notes, protected=protected)
    options.check()
    sel = selector_of(selector)
    with_progress(
        app_ctx,
        kind,
        output,
        lambda progress: backups.backup_guests(
            app_ctx,
            kind,
            list(targets or []),
            sel,
            options,
            timeout=timeout,
            wait=wait,
            dry_run=dry_run,
            confirm=confirmer(app_ctx, yes, output),
            concurrency=concurrency,
            progress=progress,
        ),
        waited=wait,
    )


def restore(
    app_ctx: AppContext,
    kind: GuestKind,
    *,
    volid: str,
    vmid: int,
    node: str | None,
    storage: str | None,
    force: bool,
    unique: bool,
    timeout: float,
    wait: bool,
    dry_run: bool,
    yes: bool,
    output: str,
) -> None:
    check_format(output)
    from proxmox_mpc.services import backup as backups

    options = backups.RestoreOptions(vmid=vmid, node=node, storage=storage, force=force, unique=unique)
    with_progress(
        app_ctx,
        kind,
        output,
        lambda progress: backups.restore_backup(
            app_ctx,
            kind,
            volid,
            options,
            timeout=timeout,
            wait=wait,
            dry_run=dry_run,
            confirm=confirmer(app_ctx, yes, output),
            progress=progress,
        ),
        waited=wait,
    )


VERBS = (
    Verb(
        "backup",
        "Back up {plural} with vzdump (each on its node) and print the volume each backup went to.\n\n"
        "Example: pmpc {prefix} backup web-1 --storage local   |   "
        "pmpc {prefix} backup -l tag=prod --storage pbs --notes 'before upgrade' -y",
        (
            Param("storage", BackupStorageOpt),
            TARGETS,
            SELECTOR,
            Param("mode", ModeOpt, "snapshot"),
            Param("compress", CompressOpt, "zstd"),
            Param("notes", NotesOpt, None),
            Param("protected", ProtectedOpt, False),
            *WAIT_FIRST,
        ),
        backup,
    ),
    Verb(
        "restore",
        "Restore a backup to a VMID; overwriting an existing {noun} needs --force (and confirms with its name).\n\n"
        "Example: pmpc {prefix} restore {example} --vmid 150 --unique",
        (
            Param("volid", VolidArg),
            Param("vmid", RestoreVmidOpt),
            Param("node", RestoreNodeOpt, None),
            Param("storage", RestoreStorageOpt, None),
            Param("force", ForceOpt, False),
            Param("unique", UniqueOpt, False),
            *(p for p in WAIT_FIRST if p is not CONCURRENCY),
        ),
        restore,
        example={
            "vm": "local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst",
            "ct": "local:backup/vzdump-lxc-201-2026_12_06-03_54_36.tar.zst",
        },
    ),
)

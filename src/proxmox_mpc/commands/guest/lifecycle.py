"""`pmpc vm|ct delete`, `set`, `resize` and `migrate`: change what a guest is, or where it runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands.guest.verbs import (
    BATCH,
    GUEST,
    SELECTOR,
    TARGETS,
    WRITE,
    Param,
    Verb,
    batch_verb,
    run_batch,
)
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind

PurgeOpt = Annotated[
    bool,
    typer.Option(
        "--purge", help="Also remove it from backup jobs, HA and replication, and destroy unreferenced disks."
    ),
]
ItemsArg = Annotated[
    list[str] | None,
    typer.Argument(help="GUEST... then KEY=VALUE...", metavar="GUEST... KEY=VALUE...", autocompletion=_complete.guests),
]
DeleteKeyOpt = Annotated[
    list[str] | None, typer.Option("--delete", help="Remove this config key (repeatable).", metavar="KEY")
]
DiskArg = Annotated[
    str, typer.Argument(help="Disk: scsi0, virtio1... (VM) or rootfs, mp0 (container).", metavar="DISK")
]
SizeArg = Annotated[
    str, typer.Argument(help="+SIZE to grow by, SIZE for the new total (grows only).", metavar="SIZE")
]
TargetNodeOpt = Annotated[
    str, typer.Option("--target", help="Node to move to.", metavar="NODE", autocompletion=_complete.of("nodes"))
]
OnlineOpt = Annotated[
    bool | None,
    typer.Option("--online/--offline", help="Live migration (default: when running; containers restart)."),
]
LocalDisksOpt = Annotated[bool, typer.Option("--with-local-disks", help="Migrate local disks too (VMs).")]


def set_(
    app_ctx: AppContext, kind: GuestKind, *, items: list[str] | None, delete_keys: list[str] | None, **values: Any
) -> None:
    from proxmox_mpc.core.guest_params import set_params

    targets = [i for i in items or [] if "=" not in i]
    changes, deletes = set_params([i for i in items or [] if "=" in i], delete_keys or [])
    run_batch(app_ctx, kind, "set", targets, values.pop("selector"), values=changes, deletes=deletes, **values)


def resize(app_ctx: AppContext, kind: GuestKind, *, guest: str, disk: str, size: str, **values: Any) -> None:
    from proxmox_mpc.core.guest_params import parse_resize

    spec = parse_resize(disk, size, kind)
    run_batch(app_ctx, kind, "resize", [guest], None, resize=spec, **values)


def migrate(app_ctx: AppContext, kind: GuestKind, *, target: str, targets: list[str] | None, **values: Any) -> None:
    run_batch(app_ctx, kind, "migrate", targets, values.pop("selector"), target_node=target, **values)


VERBS = (
    batch_verb(
        "delete",
        "Delete stopped {plural} (protected ones are refused).\n\n"
        "Example: pmpc {prefix} delete {example} --purge -y",
        Param("purge", PurgeOpt, False),
        example={"vm": "db-1", "ct": "cache-1"},
    ),
    Verb(
        "set",
        "Change config keys of {plural}; a change made by someone else since pmpc read the config is refused "
        "(exit 7); memory, swap and balloon take sizes (4G) as --memory does.\n\n"
        "Example: pmpc {prefix} set web-1 memory=4G cores=4 --delete description -y",
        (Param("items", ItemsArg, None), SELECTOR, Param("delete_keys", DeleteKeyOpt, None), *BATCH),
        set_,
    ),
    Verb(
        "resize",
        "Grow a disk of a {noun} (never shrinks).\n\nExample: pmpc {prefix} resize {example} -y",
        (GUEST, Param("disk", DiskArg), Param("size", SizeArg), *WRITE),
        resize,
        example={"vm": "web-1 scsi0 +10G", "ct": "dns-1 rootfs 16G"},
    ),
    Verb(
        "migrate",
        "Move {plural} to another node.\n\nExample: pmpc {prefix} migrate {example} --target pve2 -y",
        (
            Param("target", TargetNodeOpt),
            TARGETS,
            SELECTOR,
            Param("online", OnlineOpt, None),
            Param("with_local_disks", LocalDisksOpt, False),
            *BATCH,
        ),
        migrate,
        example={"vm": "web-1", "ct": "dns-1"},
    ),
)

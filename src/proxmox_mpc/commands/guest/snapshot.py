"""`pmpc vm|ct snapshot list|create|rollback|delete`: the snapshot subgroup of a guest group."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import NoHeadersOpt, OutputOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.commands.guest.verbs import BATCH, GUEST, SELECTOR, WRITE, Param, Verb, run_batch
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.printers import check_format

SnapArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="GUEST... then the snapshot NAME.", metavar="GUEST... NAME", autocompletion=_complete.guests_then_snapshots
    ),
]
SnapNameArg = Annotated[
    str, typer.Argument(help="Snapshot name.", metavar="NAME", autocompletion=_complete.snapshots)
]
DescriptionOpt = Annotated[str | None, typer.Option("--description", help="Snapshot description.", metavar="TEXT")]
VmstateOpt = Annotated[bool, typer.Option("--vmstate", help="Include the RAM of a running VM.")]
SNAP_ARGS = Param("args", SnapArgs, None)


def list_(app_ctx: AppContext, kind: GuestKind, *, guest: str, output: str, no_headers: bool) -> None:
    check_format(output)
    from proxmox_mpc.output.columns import SNAPSHOT_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.services import guests

    snaps = run(guests.list_snapshots(app_ctx, kind, guest))
    print_list(
        app_ctx.out,
        app_ctx.err,
        snaps,
        fmt=output,
        columns=SNAPSHOT_COLUMNS,
        plural="snapshots",
        headers=not no_headers,
        name_of=lambda r: f"snapshot/{r['name']}",
    )


def on_many(action: str) -> Any:
    """Return the action of a snapshot verb on GUEST... NAME (the last word is the snapshot's name)."""

    def act(app_ctx: AppContext, kind: GuestKind, *, args: list[str] | None, **values: Any) -> None:
        from proxmox_mpc.core.guest_params import check_snapshot_name

        if not args:
            raise UsageError("Give the snapshot NAME (after the guests).")
        *targets, name = args
        snapshot = check_snapshot_name(name)
        run_batch(app_ctx, kind, action, targets, values.pop("selector"), snapshot=snapshot, **values)

    return act


def rollback(app_ctx: AppContext, kind: GuestKind, *, guest: str, name: str, **values: Any) -> None:
    from proxmox_mpc.core.guest_params import check_snapshot_name

    run_batch(app_ctx, kind, "snapshot-rollback", [guest], None, snapshot=check_snapshot_name(name), **values)


VERBS = (
    Verb(
        "list",
        "List the snapshots of a {noun}.\n\nExample: pmpc {prefix} snapshot list web-1",
        (GUEST, Param("output", OutputOpt, "table"), Param("no_headers", NoHeadersOpt, False)),
        list_,
    ),
    Verb(
        "create",
        "Snapshot {plural} (an existing snapshot of that name is left alone).\n\n"
        "Example: pmpc {prefix} snapshot create -l tag=web before-upgrade -y",
        (
            SNAP_ARGS,
            SELECTOR,
            Param("description", DescriptionOpt, None),
            Param("vmstate", VmstateOpt, False),
            *BATCH,
        ),
        on_many("snapshot-create"),
    ),
    Verb(
        "rollback",
        "Roll a {noun} back to a snapshot (its current state is lost).\n\n"
        "Example: pmpc {prefix} snapshot rollback web-1 before-upgrade -y",
        (GUEST, Param("name", SnapNameArg), *WRITE),
        rollback,
    ),
    Verb(
        "delete",
        "Delete a snapshot of {plural} (a missing one is left alone).\n\n"
        "Example: pmpc {prefix} snapshot delete web-1 web-2 before-upgrade -y",
        (SNAP_ARGS, SELECTOR, *BATCH),
        on_many("snapshot-delete"),
    ),
)

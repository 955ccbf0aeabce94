"""Day-2 guest verbs of `pmpc vm|ct`: backup, restore, unlock and (VMs) exec; `make_guest_app` registers them."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import (
    DEFAULT_TIMEOUT,
    ConcurrencyOpt,
    DocumentOutputOpt,
    DryRunOpt,
    ResultOutputOpt,
    SelectorOpt,
    TimeoutOpt,
    WaitOpt,
    YesOpt,
)
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.models import KIND_PREFIX
from proxmox_mpc.output.printers import check_format

NOUN = {"qemu": "VM", "lxc": "container"}
PLURAL = {"qemu": "VMs", "lxc": "containers"}

TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="VMIDs or names (or use -l).", metavar="GUEST...", show_default=False, autocompletion=_complete.guests
    ),
]
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
UnlockForceOpt = Annotated[
    bool, typer.Option("--force", help="Clear the lock even while the task holding it still runs.")
]
ExecGuestArg = Annotated[
    str, typer.Argument(help="VMID or name.", metavar="GUEST", autocompletion=_complete.guests)
]
CommandArgs = Annotated[
    list[str] | None,
    typer.Argument(help="The command and its arguments, after --.", metavar="-- CMD ARGS...", show_default=False),
]
ExecTimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0, help="Seconds to wait for the command (and the agent).", metavar="SECONDS"),
]
UniqueOpt = Annotated[bool, typer.Option("--unique", help="Give the restored guest new MAC addresses.")]


def register(app: typer.Typer, kind: Literal["qemu", "lxc"]) -> None:
    """Add the day-2 verbs to a `vm` or `ct` group."""
    from proxmox_mpc.commands.guest import _finish  # late: guest.py calls this while it loads
    prefix = KIND_PREFIX[kind]
    plural = PLURAL[kind]

    @app.command()
    def backup(
        ctx: typer.Context,
        storage: BackupStorageOpt,
        targets: TargetsArg = None,
        selector: SelectorOpt = None,
        mode: ModeOpt = "snapshot",
        compress: CompressOpt = "zstd",
        notes: NotesOpt = None,
        protected: ProtectedOpt = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        wait: WaitOpt = True,
        concurrency: ConcurrencyOpt = None,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.core.backups import BackupOptions
        from proxmox_mpc.core.selectors import parse_selector
        from proxmox_mpc.output.progress import make_progress
        from proxmox_mpc.services import backup as backups

        options = BackupOptions(storage=storage, mode=mode, compress=compress, notes=notes, protected=protected)
        options.check()
        sel = parse_selector(selector) if selector is not None else None
        with make_progress(app_ctx.err, color=app_ctx.color) as progress:
            result = run(
                backups.backup_guests(
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
                )
            )
        _finish(app_ctx, result, kind, output, waited=wait)

    @app.command()
    def restore(
        ctx: typer.Context,
        volid: VolidArg,
        vmid: RestoreVmidOpt,
        node: RestoreNodeOpt = None,
        storage: RestoreStorageOpt = None,
        force: ForceOpt = False,
        unique: UniqueOpt = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        wait: WaitOpt = True,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output.progress import make_progress
        from proxmox_mpc.services import backup as backups

        options = backups.RestoreOptions(vmid=vmid, node=node, storage=storage, force=force, unique=unique)
        with make_progress(app_ctx.err, color=app_ctx.color) as progress:
            result = run(
                backups.restore_backup(
                    app_ctx,
                    kind,
                    volid,
                    options,
                    timeout=timeout,
                    wait=wait,
                    dry_run=dry_run,
                    confirm=confirmer(app_ctx, yes, output),
                    progress=progress,
                )
            )
        _finish(app_ctx, result, kind, output, waited=wait)

    restore.__doc__ = (
        f"Restore a backup to a VMID; overwriting an existing {NOUN[kind]} needs --force "
        "(and confirms with its name).\n\n"
        f"Example: pmpc {prefix} restore local:backup/vzdump-{kind}-{'101' if kind == 'qemu' else '201'}-"
        f"2026_12_06-03_54_36.{'vma' if kind == 'qemu' else 'tar'}.zst --vmid 150 --unique"
    )

    @app.command()
    def unlock(
        ctx: typer.Context,
        targets: TargetsArg = None,
        selector: SelectorOpt = None,
        force: UnlockForceOpt = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        wait: WaitOpt = True,
        concurrency: ConcurrencyOpt = None,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.core.selectors import parse_selector
        from proxmox_mpc.output.progress import make_progress
        from proxmox_mpc.services import locks

        sel = parse_selector(selector) if selector is not None else None
        with make_progress(app_ctx.err, color=app_ctx.color) as progress:
            result = run(
                locks.unlock_guests(
                    app_ctx,
                    kind,
                    list(targets or []),
                    sel,
                    force=force,
                    timeout=timeout,
                    wait=wait,
                    dry_run=dry_run,
                    confirm=confirmer(app_ctx, yes, output),
                    concurrency=concurrency,
                    progress=progress,
                )
            )
        _finish(app_ctx, result, kind, output, waited=wait)

    unlock.__doc__ = (
        f"Clear a stale lock (backup, migrate, snapshot...) of {plural}, as `{'qm' if kind == 'qemu' else 'pct'} "
        "unlock` does; refused while the task holding it still runs, unless --force.\n\n"
        + (
            "Needs the root@pam user (a password login): Proxmox VE allows skiplock for no one else.\n\n"
            if kind == "qemu"
            else "Proxmox VE's API cannot clear a container's lock: for a locked container this says so "
            "and names the `pct unlock` to run on its node.\n\n"
        )
        + f"Example: pmpc {prefix} unlock {'web-1' if kind == 'qemu' else '201'}"
    )

    if kind == "qemu":

        @app.command("exec")
        def exec_(
            ctx: typer.Context,
            guest: ExecGuestArg,
            command: CommandArgs = None,
            timeout: ExecTimeoutOpt = DEFAULT_TIMEOUT,
            output: DocumentOutputOpt = "table",
        ) -> int:
            """Run a command in a VM through the QEMU guest agent; exit with the command's own exit code.

            Output streams to stdout and stderr as the agent hands it over; -o json prints
            {"exit_code", "stdout", "stderr"} instead. pmpc's own failures keep their codes (8: the agent
            or the command did not finish within --timeout).

            Example: pmpc vm exec web-1 -- systemctl is-active nginx   |   pmpc vm exec 101 -o json -- uname -a
            """
            app_ctx: AppContext = ctx.obj
            from proxmox_mpc.output.printers import get_printer
            from proxmox_mpc.services import agent

            def emit(stream: str, text: str) -> None:
                target = app_ctx.out if stream == "stdout" else app_ctx.err
                target.write(text)
                target.flush()

            streaming = output == "table"
            result = run(
                agent.exec_command(
                    app_ctx, guest, list(command or []), timeout=timeout, emit=emit if streaming else None
                )
            )
            if not streaming:
                get_printer(output).print_one(app_ctx.out, result.model_dump(mode="json"))
            return result.exit_code

    backup.__doc__ = (
        f"Back up {plural} with vzdump (each on its node) and print the volume each backup went to.\n\n"
        f"Example: pmpc {prefix} backup web-1 --storage local   |   "
        f"pmpc {prefix} backup -l tag=prod --storage pbs --notes 'before upgrade' -y"
    )


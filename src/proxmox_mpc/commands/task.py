"""`pmpc task list | get | wait | log`."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import DEFAULT_TIMEOUT, NoHeadersOpt, OutputOpt, TimeoutOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import TaskFailedError, UsageError
from proxmox_mpc.output.printers import check_format

app = typer.Typer(help="Follow Proxmox tasks (UPIDs).", no_args_is_help=True)
UpidArg = Annotated[str, typer.Argument(help="Task id (UPID:...).", metavar="UPID")]
UpidsArg = Annotated[list[str] | None, typer.Argument(help="Task ids (UPID:...).", metavar="UPID...")]
NodeOpt = Annotated[
    str | None,
    typer.Option(
        "--node", help="Only this node (default: every online node).", autocompletion=_complete.of("nodes")
    ),
]
VmidOpt = Annotated[int | None, typer.Option("--vmid", help="Only tasks of this guest.")]
ErrorsOpt = Annotated[bool, typer.Option("--errors", help="Only tasks that failed.")]
RunningOpt = Annotated[bool, typer.Option("--running", help="Only tasks still running.")]
TypeOpt = Annotated[str | None, typer.Option("--type", help="Only this task type (qmstart, vzdump...).")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many tasks.")]
FollowOpt = Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the task ends.")]
LogTimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0, help="With --follow: give up after this many seconds (0: never).")
]


def _upid_name(record: dict[str, object]) -> str:
    return str(record.get("upid"))


@app.command("list")
def list_(
    ctx: typer.Context,
    node: NodeOpt = None,
    vmid: VmidOpt = None,
    errors: ErrorsOpt = False,
    running: RunningOpt = False,
    type_filter: TypeOpt = None,
    limit: LimitOpt = 50,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """List recent tasks of the cluster, newest first.

    Example: pmpc task list --errors   |   pmpc task list --vmid 101 -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.columns import TASK_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.services import tasks

    found = run(
        tasks.list_tasks(
            app_ctx,
            node=node,
            vmid=vmid,
            errors_only=errors,
            running=running,
            type_filter=type_filter,
            limit=limit,
        )
    )
    print_list(
        app_ctx.out,
        app_ctx.err,
        found,
        fmt=output,
        columns=TASK_COLUMNS,
        plural="tasks",
        headers=not no_headers,
        name_of=_upid_name,
    )


@app.command()
def get(
    ctx: typer.Context, upid: UpidArg, output: OutputOpt = "table", no_headers: NoHeadersOpt = False
) -> None:
    """Show the status of one task.

    Example: pmpc task get UPID:pve1:0000ABCD:...: -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.columns import TASK_COLUMNS
    from proxmox_mpc.output.printers import print_one
    from proxmox_mpc.services import tasks

    print_one(
        app_ctx.out,
        run(tasks.get_task(app_ctx, upid)),
        fmt=output,
        columns=TASK_COLUMNS,
        headers=not no_headers,
        name_of=_upid_name,
    )


@app.command()
def wait(
    ctx: typer.Context,
    upids: UpidsArg = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """Wait for tasks to end; exit 1 (with the log tail) if one failed, 8 if one is still running.

    Example: pmpc task wait UPID:pve1:...: --timeout 600
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    if not upids:
        raise UsageError("Name at least one task id (UPID).")
    from proxmox_mpc.output.columns import TASK_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.output.progress import make_progress
    from proxmox_mpc.services import tasks

    with make_progress(app_ctx.err, color=app_ctx.color) as progress:
        done = run(tasks.wait_tasks(app_ctx, upids, timeout=timeout, progress=progress))
    print_list(
        app_ctx.out,
        app_ctx.err,
        done.tasks,
        fmt=output,
        columns=TASK_COLUMNS,
        plural="tasks",
        headers=not no_headers,
        name_of=_upid_name,
    )
    for error in done.errors:
        for line in error.log_tail if isinstance(error, TaskFailedError) else []:
            app_ctx.err.write(f"  {line}\n")
    if done.errors:
        raise done.errors[0]


@app.command()
def log(ctx: typer.Context, upid: UpidArg, follow: FollowOpt = False, timeout: LogTimeoutOpt = 0) -> None:
    """Print a task's log; --follow keeps printing until it ends.

    Example: pmpc task log UPID:pve1:...: --follow
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import tasks

    def emit(line: str) -> None:
        app_ctx.out.write(line + "\n")
        app_ctx.out.flush()

    run(tasks.task_log(app_ctx, upid, emit=emit, follow=follow, timeout=timeout))

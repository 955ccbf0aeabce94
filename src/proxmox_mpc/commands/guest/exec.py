"""`pmpc vm exec GUEST -- CMD...`: run a command in a VM through the QEMU guest agent."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands._options import DEFAULT_TIMEOUT, DocumentOutputOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.commands.guest.verbs import GUEST, Param, Verb
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind

CommandArgs = Annotated[
    list[str] | None,
    typer.Argument(help="The command and its arguments, after --.", metavar="-- CMD ARGS...", show_default=False),
]
ExecTimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0, help="Seconds to wait for the command (and the agent).", metavar="SECONDS"),
]


def exec_(app_ctx: AppContext, kind: GuestKind, *, guest: str, command: list[str] | None, timeout: float,
          output: str) -> int:  # fmt: skip
    from proxmox_mpc.output.printers import get_printer
    from proxmox_mpc.services import agent

    def emit(stream: str, text: str) -> None:
        target = app_ctx.out if stream == "stdout" else app_ctx.err
        target.write(text)
        target.flush()

    streaming = output == "table"
    result = run(
        agent.exec_command(app_ctx, guest, list(command or []), timeout=timeout, emit=emit if streaming else None)
    )
    if not streaming:
        get_printer(output).print_one(app_ctx.out, result.model_dump(mode="json"))
    return result.exit_code


VERBS = (
    Verb(
        "exec",
        "Run a command in a VM through the QEMU guest agent; exit with the command's own exit code.\n\n"
        "Output streams to stdout and stderr as the agent hands it over; -o json prints\n"
        '{{"exit_code", "stdout", "stderr"}} instead. pmpc\'s own failures keep their codes (8: the agent\n'
        "or the command did not finish within --timeout).\n\n"
        "Example: pmpc vm exec web-1 -- systemctl is-active nginx   |   pmpc vm exec 101 -o json -- uname -a",
        (
            GUEST,
            Param("command", CommandArgs, None),
            Param("timeout", ExecTimeoutOpt, DEFAULT_TIMEOUT),
            Param("output", DocumentOutputOpt, "table"),
        ),
        exec_,
        kinds=("vm",),
    ),
)

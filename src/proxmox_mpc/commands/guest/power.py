"""`pmpc vm|ct start`, `stop`, `shutdown`, `reboot`, `suspend` and `resume`: power verbs on many guests."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands._options import OutputOpt
from proxmox_mpc.commands.guest.verbs import (
    CONCURRENCY,
    DRY_RUN,
    SELECTOR,
    TARGETS,
    TIMEOUT,
    WAIT,
    YES,
    Param,
    Verb,
    batch_action,
    batch_verb,
)

ForceStopOpt = Annotated[
    bool, typer.Option("--force-stop", help="Stop the guest if it has not shut down in time.")
]
TodiskOpt = Annotated[bool, typer.Option("--todisk", help="Hibernate a VM to disk instead of pausing it.")]


VERBS = (
    batch_verb(
        "start",
        "Start {plural} (already running ones are left alone).\n\n"
        "Example: pmpc {prefix} start web-1 web-2   |   pmpc {prefix} start -l tag=web -y",
    ),
    batch_verb("stop", "Stop {plural} at once (no clean shutdown).\n\nExample: pmpc {prefix} stop -l tag=batch -y"),
    batch_verb(
        "shutdown",
        "Shut {plural} down cleanly; --timeout is also PVE's own, --force-stop stops them after it.\n\n"
        "Example: pmpc {prefix} shutdown web-1 --timeout 120 --force-stop -y",
        Param("force_stop", ForceStopOpt, False),
    ),
    batch_verb("reboot", "Reboot running {plural}.\n\nExample: pmpc {prefix} reboot -l tag=web -y"),
    # A VM's suspend takes every list format (-o): as it always has.
    Verb(
        "suspend",
        "Suspend running VMs: pause them, or with --todisk hibernate them (RAM saved, VM stopped).\n\n"
        "Example: pmpc vm suspend web-1 -y   |   pmpc vm suspend web-1 --todisk -y",
        (
            TARGETS,
            SELECTOR,
            Param("todisk", TodiskOpt, False),
            DRY_RUN,
            YES,
            Param("output", OutputOpt, "table"),
            WAIT,
            TIMEOUT,
            CONCURRENCY,
        ),
        batch_action("suspend"),
        kinds=("vm",),
    ),
    batch_verb("suspend", "Suspend running {plural}.\n\nExample: pmpc {prefix} suspend web-1 -y", kinds=("ct",)),
    batch_verb("resume", "Resume suspended {plural}.\n\nExample: pmpc {prefix} resume web-1 -y"),
)

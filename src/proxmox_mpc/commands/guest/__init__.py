"""`pmpc vm ...` and `pmpc ct ...`: one factory builds both groups from the same verbs, a module per seam.

verbs.py is the factory (a verb is a name, its help, its parameters and one action); show, create, power,
lifecycle, backup, unlock, exec, wait and snapshot each declare their verbs. A verb that only one kind has
says so (`kinds=`); nothing else in here tells a VM from a container.
"""

from __future__ import annotations

import typer

from proxmox_mpc.commands.guest import backup, create, exec, lifecycle, power, show, snapshot, unlock, wait
from proxmox_mpc.commands.guest.verbs import WORDS, add_verbs
from proxmox_mpc.core.identity import GuestKind

# The verbs of a group, in the order its --help lists them (the snapshot subgroup comes last).
VERBS = (
    *show.VERBS,
    *create.VERBS,
    *power.VERBS,
    *lifecycle.VERBS,
    *backup.VERBS,
    *unlock.VERBS,
    *exec.VERBS,
    *wait.VERBS,
)


def make_guest_app(kind: GuestKind) -> typer.Typer:
    """Build the `vm` or the `ct` command group."""
    words = WORDS[kind]
    app = typer.Typer(help=f"Manage {words.title}.", no_args_is_help=True)
    add_verbs(app, kind, VERBS)
    snapshots = typer.Typer(
        help=f"List, create, roll back and delete snapshots of {words.plural}.", no_args_is_help=True
    )
    add_verbs(snapshots, kind, snapshot.VERBS)
    app.add_typer(snapshots, name="snapshot")
    return app


vm_app = make_guest_app("vm")
ct_app = make_guest_app("ct")

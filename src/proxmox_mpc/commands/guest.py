"""`pmpc vm` and `pmpc ct` (being written)."""

import typer

vm_app = typer.Typer(help="Manage QEMU virtual machines.", no_args_is_help=True)
ct_app = typer.Typer(help="Manage LXC containers.", no_args_is_help=True)

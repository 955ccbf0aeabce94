"""`pmpc config` (being written)."""

import typer

app = typer.Typer(help="config commands.", no_args_is_help=True)

"""`pmpc storage` (being written)."""

import typer

app = typer.Typer(help="storage commands.", no_args_is_help=True)

"""`pmpc generate` (being written)."""

import typer

app = typer.Typer(help="generate commands.", no_args_is_help=True)

"""`pmpc task` (being written)."""

import typer

app = typer.Typer(help="task commands.", no_args_is_help=True)

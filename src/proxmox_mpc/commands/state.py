"""`pmpc state` (being written)."""

import typer

app = typer.Typer(help="state commands.", no_args_is_help=True)

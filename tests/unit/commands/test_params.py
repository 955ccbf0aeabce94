"""`takes`: shared parameters join a command's signature after its own, and Typer parses and lists them."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from typer.testing import CliRunner

from proxmox_mpc.commands._params import REQUIRED, Param, takes

CountOpt = Annotated[int, typer.Option("--count", help="How many.", metavar="N")]
LoudOpt = Annotated[bool, typer.Option("--loud", help="Shout.")]
SHARED = (Param("count", CountOpt, 1), Param("loud", LoudOpt, False))


def build(seen: list[dict[str, Any]]) -> typer.Typer:
    app = typer.Typer(add_completion=False, rich_markup_mode=None)

    @app.command()
    @takes(*SHARED)
    def greet(name: Annotated[str, typer.Argument(metavar="NAME")], **values: Any) -> None:
        seen.append({"name": name, **values})

    return app


def test_shared_parameters_follow_the_command_s_own_and_are_keyword_only():
    @takes(*SHARED)
    def command(ctx: typer.Context, first: int = 0, **values: Any) -> None: ...

    params = inspect.signature(command).parameters
    assert list(params) == ["ctx", "first", "count", "loud"]
    assert params["count"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["count"].default == 1
    assert params["ctx"].annotation is typer.Context  # the command's own, resolved from its string annotation


def test_typer_parses_the_shared_flags_and_lists_them_in_order():
    seen: list[dict[str, Any]] = []
    runner = CliRunner()
    result = runner.invoke(build(seen), ["web", "--loud", "--count", "3"])
    assert result.exit_code == 0, result.output
    assert seen == [{"name": "web", "count": 3, "loud": True}]
    help_text = runner.invoke(build(seen), ["--help"]).output
    assert help_text.index("--count N") < help_text.index("--loud")


def test_a_required_shared_parameter_is_required():
    seen: list[dict[str, Any]] = []
    app = typer.Typer(add_completion=False, rich_markup_mode=None)

    @app.command()
    @takes(Param("count", CountOpt))
    def count(**values: Any) -> None:
        seen.append(values)

    assert Param("count", CountOpt).default is REQUIRED
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and "Missing option '--count'" in result.output
    assert seen == []

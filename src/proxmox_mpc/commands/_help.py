"""Human metavars in --help: `GUEST...`, `SECONDS`, `NODE`, never Python types (`<list[str]>`, `<int range>`).

Typer prints a parameter's Python type beside it and appends `...` to a repeated argument's usage even when
its metavar already says so. pmpc's parameters carry metavars; this module makes help show them alone, and a
plain word (TEXT, INTEGER, NUMBER, PATH) where a parameter has none. Importing it installs the rule once.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from typer import core

_WORDS = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "bool": "BOOLEAN", "path": "PATH"}


def plain_metavar(param: Any) -> str:
    """Return a parameter's metavar, or a plain upper-case word for its type (never a Python type)."""
    if param.metavar is not None:
        return str(param.metavar)
    base = param.type_descriptor.annotation
    args = [a for a in get_args(base) if a is not type(None)]
    if get_origin(base) is list or (args and get_origin(args[0]) is list):
        base = get_args(args[0] if get_origin(base) is not list else base)[0]
    name = getattr(base, "__name__", str(base)).lower()
    if param.type_descriptor.is_path:
        name = "path"
    if param.type_descriptor.is_choice:
        return "[" + "|".join(str(c) for c in param.type_descriptor.choices or ()) + "]"
    word = next((w for key, w in _WORDS.items() if key in name), "VALUE")
    return word + ("..." if param.nargs != 1 else "")


def _argument_type(self: Any, ctx: Any) -> str | None:
    return None  # the argument's name (its metavar) says what it takes


def _argument_usage(self: Any) -> str:
    name = str(self.display_name_raw)
    if name.startswith("["):
        return name  # the metavar already says it is optional: `[GUEST]`
    if self.nargs != 1 and not name.rstrip("]").endswith("..."):
        name += "..."
    return f"{{{name}}}" if self.required else f"[{name}]"


def _option_type(self: Any, ctx: Any) -> str | None:
    return plain_metavar(self)


def install() -> None:
    """Make Typer's help show metavars (idempotent)."""
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]


install()

"""`pmpc schema`: the whole command tree as one JSON document, read from the Typer app so it cannot drift."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import EXIT_CODE_MEANINGS, UsageError

SCHEMA_VERSION = 1
TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}


def _type_name(param: Any) -> str:
    described = param.type_descriptor
    if described.is_choice:
        return "choice"
    if described.is_path or described.is_file:
        return "path"
    annotation = described.annotation
    while get_args(annotation):  # list[int] -> int, int | None -> int
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return TYPE_NAMES.get(annotation, "string")


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _choices(param: Any) -> list[Any] | None:
    choices = param.type_descriptor.choices
    return [_plain(c) for c in choices] if choices else None


def _option(param: Any) -> dict[str, Any]:
    flag = bool(getattr(param, "is_flag", False))
    return {
        "name": param.opts[0],
        "aliases": list(param.opts[1:]),
        "negation": param.secondary_opts[0] if param.secondary_opts else None,
        "type": _type_name(param),
        "is_flag": flag,
        "multiple": bool(param.multiple),
        "required": bool(param.required),
        "default": _plain(param.default) if not callable(param.default) else None,
        "choices": _choices(param),
        "min": param.min,
        "max": param.max,
        "env": param.envvar,
        "metavar": param.metavar,
        "help": param.help or "",
    }


def _argument(param: Any) -> dict[str, Any]:
    return {
        "name": param.name,
        "metavar": param.metavar or param.name,
        "type": _type_name(param),
        "multiple": param.nargs == -1,
        "required": bool(param.required),
        "choices": _choices(param),
        "help": param.help or "",
    }


def _command(path: list[str], command: Any) -> dict[str, Any]:
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    options = [_option(p) for p in params if p.param_type_name == "option"]
    names = {o["name"] for o in options} | {a for o in options for a in o["aliases"]}
    doc = (command.help or "").strip()
    return {
        "path": " ".join(path),
        "summary": doc.split("\n")[0],
        "help": doc,
        # SPEC's `*` commands: they all take -y/--yes (and --dry-run).
        "mutating": "--yes" in names,
        "arguments": [_argument(p) for p in params if p.param_type_name == "argument"],
        "options": options,
    }


def walk(ctx: Any, command: Any, path: list[str]) -> list[dict[str, Any]]:
    """Return every leaf command under `command` (loading each group), in the order of `--help`."""
    if hasattr(command, "list_commands") and getattr(command, "commands", None) is not None:
        found: list[dict[str, Any]] = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not getattr(sub, "hidden", False):
                found += walk(ctx, sub, [*path, name])
        return found
    return [_command(path, command)]


def build_schema(ctx: typer.Context) -> dict[str, Any]:
    """Return the schema document of the whole command tree."""
    from proxmox_mpc.config import (
        PMPC_CA_FILE,
        PMPC_CONCURRENCY,
        PMPC_CONFIG,
        PMPC_CONTEXT,
        PMPC_DATABASE_URL,
        PMPC_DEBUG,
        PMPC_FINGERPRINT,
        PMPC_HOST,
        PMPC_PASSWORD,
        PMPC_PORT,
        PMPC_READ_ONLY,
        PMPC_TIMEOUT,
        PMPC_TOKEN_ID,
        PMPC_TOKEN_SECRET,
        PMPC_USER,
        PMPC_VERIFY_TLS,
        PMPC_WORKSPACE,
    )
    from proxmox_mpc.version import describe_version

    root = ctx.find_root()
    environment = [
        PMPC_CONTEXT, PMPC_HOST, PMPC_PORT, PMPC_TOKEN_ID, PMPC_TOKEN_SECRET, PMPC_USER, PMPC_PASSWORD,
        PMPC_VERIFY_TLS, PMPC_CA_FILE, PMPC_FINGERPRINT, PMPC_TIMEOUT, PMPC_CONCURRENCY, PMPC_DATABASE_URL,
        PMPC_WORKSPACE, PMPC_DEBUG, PMPC_CONFIG, PMPC_READ_ONLY, "NO_COLOR",
    ]  # fmt: skip
    global_options = [
        _option(p) for p in root.command.params if p.param_type_name == "option" and not getattr(p, "hidden", False)
    ]
    return {
        "format_version": SCHEMA_VERSION,
        "program": "pmpc",
        "version": describe_version(),
        "exit_codes": [{"code": int(code), "meaning": text} for code, text in EXIT_CODE_MEANINGS.items()],
        "environment": environment,
        "global_options": global_options,
        "commands": walk(root, root.command, []),
    }


def schema(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--output", "-o", help="json or yaml.", metavar="FORMAT")] = "json",
) -> None:
    """Print the whole command tree: commands, arguments, options, types, defaults, exit codes.

    Example: pmpc schema | jq '.commands[] | select(.mutating) | .path'
    """
    app_ctx: AppContext = ctx.obj
    if output not in ("json", "yaml"):
        raise UsageError(f"Unknown output format {output!r} for -o/--output: pmpc schema prints json or yaml.")
    from proxmox_mpc.output.printers import print_one

    print_one(app_ctx.out, build_schema(ctx), fmt=output, columns=())


def register(app: typer.Typer) -> None:
    """Add `schema` to the root app."""
    app.command("schema")(schema)

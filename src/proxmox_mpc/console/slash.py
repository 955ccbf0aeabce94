"""The console's slash commands: a registry of console-only ones, and the commands `/name` routes to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from proxmox_mpc.commands._cmdline import short_help, subcommands

# Slash commands that run the CLI command of the same name (`/status` is `pmpc status`).
ROUTED: tuple[str, ...] = (
    "init",
    "status",
    "sync",
    "apply",
    "plan",
    "validate",
    "destroy",
    "test",
    "debug",
    "health",
    "logs",
    "report-issue",
)


# Characters of a command's help shown after its name (keeps /help within 110 columns).
HELP_WIDTH = 80


class ExitConsole(Exception):
    """Raised by /exit to leave the loop."""


@dataclass
class Session:
    """What console-only handlers may use: where to write, and how to run a pmpc command line."""

    out: TextIO
    err: TextIO
    run_line: Callable[[list[str]], int]
    root: Callable[[], Any]
    last_exit: int = 0
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SlashCommand:
    """A console-only command: its name, aliases, one-line help and handler(session, args)."""

    name: str
    help: str
    handler: Callable[[Session, list[str]], None]
    aliases: tuple[str, ...] = ()


def _exit(_session: Session, _args: list[str]) -> None:
    raise ExitConsole()


def _help(session: Session, args: list[str]) -> None:
    if args:
        session.last_exit = session.run_line([*(a.lstrip("/") for a in args), "--help"])
        return
    session.out.write(render_help(session.root()))


def _clear(session: Session, _args: list[str]) -> None:
    session.out.write("\x1b[2J\x1b[H")


REGISTRY: tuple[SlashCommand, ...] = (
    SlashCommand("help", "List commands; `/help CMD` shows a command's help.", _help, aliases=("?",)),
    SlashCommand("exit", "Leave the console (Ctrl-D does too).", _exit, aliases=("quit", "q")),
    SlashCommand("clear", "Clear the screen.", _clear),
)


def find(name: str) -> SlashCommand | None:
    """Return the console-only command called `name` (or one of its aliases)."""
    for command in REGISTRY:
        if name == command.name or name in command.aliases:
            return command
    return None


def slash_names() -> list[str]:
    """Return every name that may follow `/`: console-only commands, their aliases and the routed ones."""
    names = (
        [c.name for c in REGISTRY] + [a for c in REGISTRY for a in c.aliases if a.isalpha()] + list(ROUTED)
    )
    return sorted(set(names))


def render_help(root: Any) -> str:
    """Build /help from the registry and the Typer tree."""
    commands = subcommands(root)
    lines = ["Console commands:"]
    for command in REGISTRY:
        names = "/" + command.name + "".join(f", /{a}" for a in command.aliases)
        lines.append(f"  {names:<22} {command.help}")
    lines += ["", "Slash commands (each runs the pmpc command of the same name):"]
    for name in ROUTED:
        sub = commands.get(name)
        text = short_help(sub, HELP_WIDTH) if sub is not None else "not available in this pmpc"
        lines.append(f"  /{name:<21} {text}")
    lines += ["", "Every pmpc command works too, without `pmpc` (e.g. `vm list -o json`):"]
    for name, sub in commands.items():
        if getattr(sub, "hidden", False) or name in ROUTED or name == "console":
            continue
        suffix = " ..." if subcommands(sub) else ""
        lines.append(f"  {name + suffix:<22} {short_help(sub, HELP_WIDTH)}")
    lines += [
        "",
        "Tab completes commands, flags and names; Up/Down browse history; Ctrl-C cancels a running command;",
        "Ctrl-D exits.",
        "",
    ]
    return "\n".join(lines)

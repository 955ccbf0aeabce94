"""The command line before Click sees it: global options anywhere, completion of a partial line, the tree.

Both the shell's <TAB> and the console's completer go through `complete_line`, so they offer the same
commands, flags, flag values and live names (the parameters' own completion callbacks, see _complete.py);
the console's /help reads the same command tree through `subcommands` and `short_help`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from proxmox_mpc.errors import UsageError

# Global options: accepted anywhere on the line (SPEC: `pmpc vm list --context prod`), so they are moved in
# front of the command before Click parses it. Option -> whether it takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--context": True,
    "--workspace": True,
    "--debug": False,
    "--insecure": False,
    "--no-color": False,
    "--profile": True,
}


def hoist_global_options(args: Sequence[str], *, lenient: bool = False) -> list[str]:
    """Return the command line with every global option (and its value) moved before the command.

    Everything after `--` is left alone (it belongs to another program, as in `vm exec GUEST -- CMD`).
    A value-taking global option at the very end is a usage error, or with `lenient` (completion: its
    value is being typed) moved to the end of the global options with nothing after it.

    Raises:
        UsageError: a global option that takes a value ends the line.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, has_value, _ = arg.partition("=")
        takes_value = GLOBAL_OPTIONS.get(name)
        if takes_value is None or (has_value and not takes_value):
            rest.append(arg)
        elif takes_value and not has_value:
            if i + 1 >= len(args):
                if lenient:
                    return [*front, arg]
                raise UsageError(f"Option {name!r} requires a value.")
            front.extend(args[i : i + 2])
            i += 1
        else:
            front.append(arg)
        i += 1
    return front + rest


def complete_line(root: Any, args: list[str], incomplete: str, obj: Any = None) -> list[tuple[str, str]]:
    """Return (value, help) completions of `incomplete` after the words `args`, as the shell would get them.

    `obj` becomes the root context's obj: the console passes its name cache there.
    """
    from typer._completion_classes import BashComplete

    # Only get_completions() is used, which every shell's class shares: the words are already split.
    completer = BashComplete(root, {"obj": obj} if obj is not None else {}, "pmpc", "_PMPC_COMPLETE")
    items = completer.get_completions(hoist_global_options(args, lenient=True), incomplete)
    return [(str(item.value), item.help or "") for item in items]


def subcommands(command: Any) -> Mapping[str, Any]:
    """Return a group's subcommands by name (empty for a plain command): Typer keeps them in `commands`."""
    found = getattr(command, "commands", None)
    # The mapping itself, not a copy: pmpc's root loads each command only when it is looked up.
    return found if isinstance(found, Mapping) else {}


def short_help(command: Any, limit: int = 60) -> str:
    """Return the first line of a command's help."""
    getter = getattr(command, "get_short_help_str", None)
    if getter is not None:
        return str(getter(limit))
    return (getattr(command, "help", None) or "").strip().split("\n")[0][:limit]

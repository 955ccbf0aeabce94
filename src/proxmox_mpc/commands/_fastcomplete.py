"""A shell <TAB> answered without typer, click or pydantic: the command tree comes from a cached table.

Importing typer and building the command group costs most of a completion's time, so a bash, zsh or fish
<TAB> (`_PMPC_COMPLETE=complete_bash`, `complete_zsh` or `complete_fish`) first tries `answer()`: it walks
the words of the line through the completion table, a description of the command tree derived from the
Typer app by `build_table()` (so it cannot drift), cached in the user's cache directory under the package
version and a fingerprint of the command modules. The help text zsh and fish show beside a command or
option is stored already rendered by Typer's own zsh/fish item formatting (done when the table is built),
so rich is not imported either. The names come from the state store through services.completion (SQLite,
standard library).

The walk follows Click's completion rules (`_resolve_context` and `_resolve_incomplete`) for what the table
describes exactly: known commands, known options, one-value options, arguments of one or any number of
values. Anything else (quotes, `--`, an unknown word, an eager option, a parameter the table marks "slow",
another shell such as PowerShell) returns None and the caller takes the Click path, which writes the table
when it is missing or stale. tests/integration/test_fast_completion.py compares both paths on a table of lines.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COMPLETE_VAR = "_PMPC_COMPLETE"
TABLE_FORMAT = 3
SHELLS = ("bash", "zsh", "fish")
# The modules whose code shapes the command tree: their sizes and times make the fingerprint.
_PACKAGE = Path(__file__).resolve().parent.parent
_SHAPING = ("cli.py", "__init__.py", "commands")

Node = dict[str, Any]
# Option callbacks that only check a value (Click runs them during completion too, and ignores their errors).
PURE_CALLBACKS = ("output_option.<locals>.check",)


# ----------------------------------------------------------------------------- the table


def is_completion_run(complete_var: str | None = None) -> bool:
    """Return whether this run answers a shell <TAB> (Typer calls the completion hook on every run)."""
    return bool(os.environ.get(complete_var or COMPLETE_VAR))


def help_width(environ: Mapping[str, str] | None = None) -> int:
    """Return the width rich wraps the zsh/fish help text at in this run (Typer's console, rich's rules)."""
    env = os.environ if environ is None else environ
    fixed, columns, lines = env.get("TERMINAL_WIDTH"), env.get("COLUMNS", ""), env.get("LINES", "")
    width = int(fixed) if fixed else int(columns) if columns.isdigit() else None
    if env.get("TERM", "").lower() in ("dumb", "unknown") and _on_terminal(env) and not (width and lines.isdigit()):
        return 80
    if width is not None:
        return width
    for descriptor in (0, 1, 2):
        try:
            return os.get_terminal_size(descriptor).columns or 80
        except (OSError, ValueError):
            continue
    return 80


def _on_terminal(env: Mapping[str, str]) -> bool:
    if env.get("_TYPER_FORCE_DISABLE_TERMINAL"):
        return False
    if env.get("GITHUB_ACTIONS") or env.get("FORCE_COLOR") or env.get("PY_COLORS"):
        return True
    if env.get("TTY_COMPATIBLE") in ("0", "1"):
        return env["TTY_COMPATIBLE"] == "1"
    if "FORCE_COLOR" in env:
        return False
    return os.isatty(1)


def fingerprint(environ: Mapping[str, str] | None = None) -> str:
    """Return the package version, a digest of the command modules' names, sizes and times, and the help
    width (rich wraps the help text zsh and fish show at the terminal's width)."""
    from importlib.util import find_spec

    from proxmox_mpc import __version__

    digest = hashlib.sha256()
    files: list[Path] = []
    for entry in _SHAPING:
        path = _PACKAGE / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    # Typer's own rules shape what Click offers: an upgrade of it (a rewritten file) makes a new table.
    typer = find_spec("typer")
    if typer is not None and typer.origin:
        files.append(Path(typer.origin))
    for file in files:
        st = file.stat()
        digest.update(f"{file}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{__version__}-{digest.hexdigest()[:16]}-w{help_width(environ)}"


def table_path() -> Path:
    """Return where the completion table is cached (the per-user cache directory)."""
    from proxmox_mpc.locations import user_cache_dir

    return user_cache_dir() / "completion-table.json"


def load_table(environ: Mapping[str, str] | None = None) -> Node | None:
    """Return the cached table when it matches the installed code and the help width, else None."""
    try:
        data = json.loads(table_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
        return None
    if data.get("fingerprint") != fingerprint(environ):
        return None
    tree = data.get("tree")
    return tree if isinstance(tree, dict) else None


def save_table(root: Any) -> None:
    """Write the table of the Click command `root` when the cached one is missing or stale (never raises)."""
    try:
        if load_table() is not None:
            return
        from proxmox_mpc.safeio.files import write_file

        document = {"format": TABLE_FORMAT, "fingerprint": fingerprint(), "tree": build_table(root)}
        path = table_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, json.dumps(document, separators=(",", ":")))
    except Exception:  # completion must never break the prompt: the Click path answers anyway
        return


def build_table(command: Any, ctx: Any = None) -> Node:
    """Describe a Click command (and, for a group, every subcommand) as the fast path walks it."""
    from typer._click import Context
    from typer.core import TyperArgument, TyperGroup, TyperOption

    if ctx is None:
        ctx = Context(command, info_name="pmpc", resilient_parsing=True, **command.context_settings)
    node: Node = {"options": [], "arguments": []}
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption):
            node["options"].append(_option(param))
        elif isinstance(param, TyperArgument):
            node["arguments"].append({"nargs": param.nargs, "complete": _completer(param)})
        else:
            raise TypeError(f"{type(param).__name__} is neither a Typer option nor argument")
    if isinstance(command, TyperGroup):
        listed, commands = [], {}
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None:
                continue
            sub_ctx = Context(sub, info_name=name, parent=ctx, resilient_parsing=True, **sub.context_settings)
            commands[name] = build_table(sub, sub_ctx)
            if not sub.hidden:
                listed.append([name, _rendered_help(sub.get_short_help_str())])
        node["commands"] = commands
        node["listed"] = listed
        node["chain"] = bool(getattr(command, "chain", False))
    return node


def _option(param: Any) -> Node:
    plain = (
        not param.is_eager
        and (param.callback is None or _unwrap(param.callback).__qualname__ in PURE_CALLBACKS)
        and not getattr(param, "_flag_needs_value", False)
        and not param.prompt
        and (param.is_flag or param.count or param.nargs == 1)
    )
    return {
        "opts": list(param.opts),
        "secondary": list(param.secondary_opts),
        "flag": bool(param.is_flag or param.count),
        "multiple": bool(param.multiple),
        "hidden": bool(param.hidden),
        "plain": plain,
        "complete": _completer(param),
        "help": _rendered_help(param.help),
    }


def _rendered_help(text: str | None) -> Node | None:
    """Return `text` as Typer's zsh and fish completion print it beside a value (None: no help shown)."""
    if not text:
        return None
    from typer._click.shell_completion import CompletionItem
    from typer._completion_classes import FishComplete, ZshComplete

    # An empty value isolates the help part of Typer's own item formatting: "":"<help>" and \t<help>.
    item = CompletionItem("", help=text)
    zsh = ZshComplete.format_completion(None, item)  # type: ignore[arg-type]
    fish = FishComplete.format_completion(None, item)  # type: ignore[arg-type]
    if not (zsh.startswith('"":"') and zsh.endswith('"') and fish.startswith("\t")):
        raise ValueError("Typer's completion item format changed")
    return {"zsh": zsh[4:-1], "fish": fish[1:]}


def _completer(param: Any) -> list[Any]:
    """Return how the fast path completes a parameter's value: ["slow"] when it cannot tell."""
    custom = param._custom_shell_complete
    if custom is not None:
        return _known_callback(_unwrap(custom))
    desc = param.type_descriptor
    if desc.is_choice and desc.choices is not None:
        from typer.core import choice_as_str

        return ["choice", [choice_as_str(c) for c in desc.choices], bool(desc.case_sensitive)]
    if desc.is_file:
        return ["echo"]
    return ["none"]


def _unwrap(function: Any) -> Any:
    """Return the function a Typer wrapper calls (autocompletion and callback wrappers keep it)."""
    while True:
        cells = _cells(function)
        if hasattr(function, "__wrapped__"):
            function = function.__wrapped__
        elif callable(cells.get("autocompletion")):
            function = cells["autocompletion"]
        else:
            return function


def _cells(function: Any) -> dict[str, Any]:
    code = getattr(function, "__code__", None)
    if code is None:
        return {}
    return {var: cell.cell_contents for var, cell in zip(code.co_freevars, function.__closure__ or (), strict=True)}


def _known_callback(function: Any) -> list[Any]:
    from proxmox_mpc.commands import _complete

    name = getattr(function, "__qualname__", "")
    cells = _cells(function)
    if function is _complete.guests:
        return ["guests"]
    if function is _complete.statuses:
        return ["statuses"]
    if function is _complete.snapshots:
        return ["snapshots"]
    if function is _complete.guests_then_snapshots:
        return ["guests+snapshots"]
    if name == "of.<locals>.complete" and function.__module__ == _complete.__name__:
        return ["names", cells["key"]]
    if name == "selector.<locals>.complete" and function.__module__ == _complete.__name__:
        return ["selector", cells["kind"]]
    if name == "output_option.<locals>.complete" and function.__module__ == "proxmox_mpc.commands._options":
        return ["fixed", list(cells["offered"])]
    if name == "_complete_contexts" and function.__module__ == "proxmox_mpc.cli":
        return ["names", "contexts"]
    return ["slow"]


# ----------------------------------------------------------------------------- the walk


class _Fallback(Exception):
    """The line holds something the table cannot answer exactly: take the Click path."""


Item = tuple[str, Node | None]  # a value offered and its rendered help (None: none shown)


def answer(environ: Mapping[str, str] | None = None) -> tuple[str | None, int] | None:
    """Return what the completion of the line prints (None: nothing) and its exit status, as Typer's
    bash/zsh/fish completion would, or None to take the Click path."""
    env = os.environ if environ is None else environ
    shell = env.get(COMPLETE_VAR, "").removeprefix("complete_")
    if shell not in SHELLS:
        return None
    line = env.get("COMP_WORDS" if shell == "bash" else "_TYPER_COMPLETE_ARGS", "")
    # Click splits the words as shlex does: quotes, escapes and other blanks are left to it.
    if any(c in "'\"\\" or (c.isspace() and c not in " \t\r\n") for c in line):
        return None
    words = line.split()
    if shell == "bash":
        try:
            cword = int(env.get("COMP_CWORD", ""))
        except ValueError:
            return None
        args = words[1:cword]
        incomplete = words[cword] if cword < len(words) else ""
    else:  # Typer's zsh and fish rule: the last word is the incomplete one unless the line ends with a space
        args = words[1:]
        incomplete = args.pop() if args and not line.endswith(" ") else ""
    tree = load_table(env)
    if tree is None:
        return None
    try:
        items = complete(tree, args, incomplete)
    except _Fallback:
        return None
    return _format(shell, items, env.get("_TYPER_COMPLETE_FISH_ACTION", ""))


def _format(shell: str, items: list[Item], fish_action: str) -> tuple[str | None, int]:
    """Print the items as Typer's completion classes of `shell` do (typer/_completion_classes.py)."""
    if shell == "bash":
        return "\n".join(value for value, _ in items), 0
    if shell == "zsh":
        if not items:
            return "_files", 0
        lines = [f'"{_zsh_escape(v)}":"{h["zsh"]}"' if h else f'"{_zsh_escape(v)}"' for v, h in items]
        return "_arguments '*: :((" + "\n".join(lines) + "))'", 0
    if fish_action == "is-args":
        return None, 0 if items else 1  # files are offered only when no value is
    if fish_action == "get-args" and items:
        return "\n".join(f"{v}\t{h['fish']}" if h else v for v, h in items), 0
    return "", 0


def _zsh_escape(value: str) -> str:
    return (
        value.replace('"', '""').replace("'", "''").replace("$", "\\$").replace("`", "\\`").replace(":", r"\\:")
    )


def complete(tree: Node, args: list[str], incomplete: str) -> list[Item]:
    """Return the values Click would offer for `incomplete` after `args` (global options anywhere)."""
    from proxmox_mpc.commands._cmdline import hoist_global_options

    args = hoist_global_options(args, lenient=True)
    node, path, used, positionals, workspace = _resolve(tree, args)
    line = _Line(path, workspace, positionals)
    if incomplete == "=":
        incomplete = ""
    elif "=" in incomplete and incomplete.startswith("-"):
        name, _, incomplete = incomplete.partition("=")
        args = [*args, name]
    if incomplete.startswith("-"):
        return _command_items(node, used, incomplete)
    if args and args[-1].startswith("-"):
        for option in node["options"]:
            if not option["flag"] and args[-1] in option["opts"]:
                return [(v, None) for v in _values(option["complete"], line, incomplete)]
    argument = _incomplete_argument(node, len(positionals))
    if argument is not None:
        return [(v, None) for v in _values(argument["complete"], line, incomplete)]
    return _command_items(node, used, incomplete)


def _resolve(tree: Node, args: list[str]) -> tuple[Node, list[str], set[int], list[str], str | None]:
    """Follow the words through the tree: the command reached, its path, its options given, its positional
    words and the root's --workspace."""
    node: Node = tree
    path: list[str] = []
    used: set[int] = set()
    positionals: list[str] = []
    workspace: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or arg == "-":
            raise _Fallback
        if arg.startswith("-"):
            name, eq, value = arg.partition("=")
            index, option = _find_option(node, name)
            if not option["plain"] or (eq and (option["flag"] or not name.startswith("--"))):
                raise _Fallback
            used.add(index)
            if not option["flag"] and not eq:
                if i + 1 >= len(args):
                    break  # its value is the word being completed
                if args[i + 1].startswith("-"):
                    raise _Fallback
                value = args[i + 1]
                i += 1
            if node is tree and name == "--workspace":
                workspace = value
        elif "commands" in node:
            if node.get("chain") or arg not in node["commands"]:
                raise _Fallback
            node, path, used, positionals = node["commands"][arg], [*path, arg], set(), []
        else:
            positionals.append(arg)
        i += 1
    return node, path, used, positionals, workspace


def _find_option(node: Node, name: str) -> tuple[int, Node]:
    for index, option in enumerate(node["options"]):
        if name in option["opts"] or name in option["secondary"]:
            return index, option
    raise _Fallback


def _incomplete_argument(node: Node, positionals: int) -> Node | None:
    """Return the first argument that can still take a value (Click's `_is_incomplete_argument`)."""
    for index, argument in enumerate(node["arguments"]):
        nargs = argument["nargs"]
        if nargs == -1:
            if index != len(node["arguments"]) - 1:
                raise _Fallback  # values shared with later arguments: Click's unpacking decides
            return argument
        if nargs != 1:
            raise _Fallback
        if positionals <= index:
            return argument
    if positionals > len(node["arguments"]):
        raise _Fallback  # extra words on a command: Click's parser decides what they mean
    return None


def _command_items(node: Node, used: set[int], incomplete: str) -> list[Item]:
    """Subcommands of a group, then (for a non-alphanumeric start) the options not given yet."""
    out: list[Item] = [(name, rendered) for name, rendered in node.get("listed", ()) if name.startswith(incomplete)]
    if incomplete and not incomplete[0].isalnum():
        for index, option in enumerate(node["options"]):
            if option["hidden"] or (not option["multiple"] and index in used):
                continue
            names = [*option["opts"], *option["secondary"]]
            out.extend((n, option["help"]) for n in names if n.startswith(incomplete))
    return out


def _values(spec: list[Any], line: _Line, incomplete: str) -> list[str]:
    kind = spec[0]
    if kind == "none":
        return []
    if kind == "echo":
        return [incomplete]
    if kind == "fixed":
        return [c for c in spec[1] if c.startswith(incomplete)]
    if kind == "choice":
        _, choices, case_sensitive = spec
        if case_sensitive:
            return [c for c in choices if c.startswith(incomplete)]
        return [c for c in choices if c.lower().startswith(incomplete.lower())]
    if kind == "statuses":
        from proxmox_mpc.commands._complete import STATUS_VALUES

        return [s for s in STATUS_VALUES if s.startswith(incomplete)]
    names = _Names(line.path, line.workspace)
    return [v for v in _named(kind, spec, names, line, incomplete) if v.startswith(incomplete)]


def _named(kind: str, spec: list[Any], names: _Names, line: _Line, incomplete: str) -> list[str]:
    if kind in ("snapshots", "guests+snapshots"):
        from proxmox_mpc.commands._complete import snapshots_of

        offered = snapshots_of(names.group, line.positionals, incomplete, names.get)
        return offered + (_named("guests", spec, names, line, incomplete) if kind != "snapshots" else [])
    if kind == "names":
        return [n for n in names.get(spec[1]) if n.startswith(incomplete)]
    if kind == "guests":
        return [n for n in names.get(names.group) if n.startswith(incomplete)]
    if kind == "selector":
        from proxmox_mpc.commands._complete import selector_terms

        return selector_terms(incomplete, spec[1] or names.group, names.get)
    raise _Fallback


class _Line:
    """What the words of the line say beyond the command reached: its path, --workspace, positional words."""

    def __init__(self, path: list[str], workspace: str | None, positionals: list[str]) -> None:
        self.path, self.workspace, self.positionals = path, workspace, positionals


class _Names:
    """Names of the state store (and contexts) for the line: what commands/_complete.names() returns."""

    def __init__(self, path: list[str], workspace: str | None) -> None:
        self.group = next((p for p in reversed(path) if p in ("vm", "ct")), "guests")
        self.workspace = workspace
        self._cache: Any = None

    def get(self, key: str) -> list[str]:
        from proxmox_mpc.services.completion import NameCache, context_names, database_url_for_completion, load_names

        if key == "contexts":
            return context_names()
        if self._cache is None:
            if not database_url_for_completion(self.workspace).startswith("sqlite"):
                raise _Fallback  # another database is read through SQLAlchemy: the Click path does it
            self._cache = NameCache(lambda: load_names(workspace=self.workspace))
        return list(self._cache.get(key))

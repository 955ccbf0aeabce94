"""Tab completion: commands and flags from the click tree, and live names cached from the state store."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from proxmox_mpc.console.slash import slash_names

OUTPUT_FORMATS = ("table", "wide", "json", "yaml", "name", "custom-columns=")
SELECTOR_KEYS = ("tag=", "tag!=", "name=", "pool=", "node=", "status=", "template=")
# Which cached names complete an option's value.
OPTION_VALUES = {
    "--node": "nodes",
    "--target": "nodes",
    "--storage": "storages",
    "--guest": "guests",
    "-g": "guests",
    "--tag": "tags",
    "--pool": "pools",
}
# Which cached names complete the positional arguments of a command group.
POSITIONAL = {
    "vm": "vm",
    "ct": "ct",
    "node": "nodes",
    "storage": "storages",
    "state": "guests",
    "destroy": "guests",
}
SELECTOR_VALUES = {"tag": "tags", "name": "guests", "pool": "pools", "node": "nodes"}
STATUS_VALUES = ("running", "stopped", "paused")


class NameCache:
    """Names for completion (vm, ct, guests, nodes, storages, tags, pools), loaded on first use."""

    def __init__(self, load: Callable[[], dict[str, list[str]]]) -> None:
        self._load = load
        self._data: dict[str, list[str]] | None = None

    def get(self, key: str) -> list[str]:
        """Return the names of one kind (empty when the state store has none)."""
        if self._data is None:
            try:
                self._data = self._load()
            except Exception:  # completion must never break the prompt
                self._data = {}
        return self._data.get(key, [])

    def invalidate(self) -> None:
        """Forget the names (after a command that may have changed them, such as sync)."""
        self._data = None


def split_line(text: str) -> tuple[list[str], str]:
    """Split the text before the cursor into finished words and the word being typed."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
        if text.count('"') % 2 or text.count("'") % 2:
            # The open quote belongs to the word being typed.
            words = shlex.split(text + ('"' if text.count('"') % 2 else "'"))
    if not text or text[-1].isspace():
        return words, ""
    return words[:-1], words[-1] if words else ""


def subcommands(command: Any) -> Mapping[str, Any]:
    """Return a group's subcommands by name (empty for a plain command): Typer keeps them in `commands`."""
    found = getattr(command, "commands", None)
    # The mapping itself, not a copy: pmpc's root loads each command only when it is looked up.
    return found if isinstance(found, Mapping) else {}


def options(command: Any) -> list[Any]:
    """Return a command's options (not its arguments)."""
    return [p for p in getattr(command, "params", []) if getattr(p, "param_type_name", "") == "option"]


def _takes_value(command: Any, word: str) -> bool:
    for param in options(command):
        if word in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return False


def _option(command: Any, word: str) -> Any | None:
    return next((p for p in options(command) if word in p.opts), None)


def resolve(root: Any, words: list[str]) -> tuple[Any, list[str]]:
    """Walk the words down the command tree; return the command reached and its path of names."""
    command = root
    path: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = "=" not in word and _takes_value(command, word)
            continue
        sub = subcommands(command).get(word)
        if sub is not None:
            command = sub
            path.append(word)
    return command, path


def short_help(command: Any, limit: int = 60) -> str:
    """Return the first line of a command's help."""
    getter = getattr(command, "get_short_help_str", None)
    if getter is not None:
        return str(getter(limit))
    return (getattr(command, "help", None) or "").strip().split("\n")[0][:limit]


class PmpcCompleter(Completer):
    """Complete slash commands, commands, subcommands, flags, flag values and guest/node/storage names."""

    def __init__(self, root: Callable[[], Any], names: NameCache) -> None:
        self._root = root
        self.names = names

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        before, current = split_line(document.text_before_cursor)
        for text, meta in self.candidates(before, current):
            if text.startswith(current) and text != current:
                yield Completion(text, start_position=-len(current), display_meta=meta)

    def candidates(self, before: list[str], current: str) -> Iterable[tuple[str, str]]:
        """Return (completion, description) pairs for the word being typed."""
        if not before and current.startswith("/"):
            return [("/" + name, "") for name in slash_names()]
        root = self._root()
        words = [before[0].lstrip("/"), *before[1:]] if before else []
        command, path = resolve(root, words)
        last = before[-1] if before else ""
        if last.startswith("-") and "=" not in last and _takes_value(command, last):
            kind = path[0] if path and path[0] in ("vm", "ct") else "guests"
            return [(v, "") for v in self.option_values(command, last, current, kind)]
        if current.startswith("-"):
            return [
                (opt, _help_of(param))
                for param in options(command)
                if not param.hidden
                for opt in (*param.opts, *param.secondary_opts)
            ]
        subs = subcommands(command)
        if subs:
            return [
                (name, short_help(sub)) for name, sub in subs.items() if not getattr(sub, "hidden", False)
            ]
        source = POSITIONAL.get(path[0]) if path else None
        takes_arguments = any(getattr(p, "param_type_name", "") == "argument" for p in command.params)
        if source and takes_arguments:
            return [(name, source) for name in self.names.get(source)]
        return []

    def option_values(self, command: Any, option_word: str, current: str, kind: str = "guests") -> list[str]:
        """Return the values an option may take: formats, choices, selector terms or cached names."""
        if option_word in ("-o", "--output"):
            return list(OUTPUT_FORMATS)
        if option_word in ("-l", "--selector"):
            return self.selector_values(current, kind)
        if option_word == "--status":
            return list(STATUS_VALUES)
        if option_word in OPTION_VALUES:
            return self.names.get(OPTION_VALUES[option_word])
        option = _option(command, option_word)
        choices = getattr(getattr(option, "type", None), "choices", None)
        return [str(c) for c in choices] if choices else []

    def selector_values(self, current: str, kind: str = "guests") -> list[str]:
        """Complete one term of a selector (`tag=web,name=w` completes the part after the last comma)."""
        head, comma, term = current.rpartition(",")
        prefix = head + comma
        key, eq, _value = term.partition("=")
        if not eq:
            return [prefix + k for k in SELECTOR_KEYS]
        bare = key.rstrip("!")
        if bare == "status":
            values: list[str] = list(STATUS_VALUES)
        elif bare == "template":
            values = ["true", "false"]
        elif bare == "name":
            values = [n for n in self.names.get(kind) if not n.isdigit()]
        else:
            values = self.names.get(SELECTOR_VALUES.get(bare, ""))
        return [f"{prefix}{key}={v}" for v in values]


def _help_of(param: Any) -> str:
    text = (param.help or "").strip()
    return text.split(". ")[0][:60]

"""Tab completion: commands and flags from the click tree, and live names cached from the state store."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from proxmox_mpc.console.slash import slash_names

if TYPE_CHECKING:
    import click

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


def _takes_value(command: click.Command, word: str) -> bool:
    import click

    for param in command.params:
        if isinstance(param, click.Option) and word in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return False


def _option(command: click.Command, word: str) -> click.Option | None:
    import click

    for param in command.params:
        if isinstance(param, click.Option) and word in param.opts:
            return param
    return None


def resolve(root: click.Group, words: list[str]) -> tuple[click.Command, list[str]]:
    """Walk the words down the command tree; return the command reached and its path of names."""
    import click

    ctx = click.Context(root, info_name="pmpc")
    command: click.Command = root
    path: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = "=" not in word and _takes_value(command, word)
            continue
        if isinstance(command, click.Group):
            sub = command.get_command(ctx, word)
            if sub is not None:
                command = sub
                path.append(word)
                continue
    return command, path


class PmpcCompleter(Completer):
    """Complete slash commands, commands, subcommands, flags, flag values and guest/node/storage names."""

    def __init__(self, root: Callable[[], click.Group], names: NameCache) -> None:
        self._root = root
        self.names = names

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        before, current = split_line(document.text_before_cursor)
        for text, meta in self.candidates(before, current):
            if text.startswith(current) and text != current:
                yield Completion(text, start_position=-len(current), display_meta=meta)

    def candidates(self, before: list[str], current: str) -> Iterable[tuple[str, str]]:
        """Return (completion, description) pairs for the word being typed."""
        import click

        if not before and current.startswith("/"):
            return [("/" + name, "") for name in slash_names()]
        root = self._root()
        words = [before[0].lstrip("/"), *before[1:]] if before else []
        command, path = resolve(root, words)
        if (
            before
            and before[-1].startswith("-")
            and "=" not in before[-1]
            and _takes_value(command, before[-1])
        ):
            return [(v, "") for v in self.option_values(command, before[-1], current)]
        if current.startswith("-"):
            return [
                (opt, _help_of(param))
                for param in command.params
                if isinstance(param, click.Option)
                for opt in (*param.opts, *param.secondary_opts)
                if not param.hidden
            ]
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=command.name)
            subs = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
            return [
                (name, sub.get_short_help_str(60)) for name, sub in subs if sub is not None and not sub.hidden
            ]
        source = POSITIONAL.get(path[0]) if path else None
        if source and any(isinstance(p, click.Argument) for p in command.params):
            return [(name, source) for name in self.names.get(source)]
        return []

    def option_values(self, command: click.Command, option_word: str, current: str) -> list[str]:
        """Return the values an option may take: formats, choices, selector terms or cached names."""
        import click

        if option_word in ("-o", "--output"):
            return list(OUTPUT_FORMATS)
        if option_word in ("-l", "--selector"):
            return self.selector_values(current)
        if option_word == "--status":
            return list(STATUS_VALUES)
        if option_word in OPTION_VALUES:
            return self.names.get(OPTION_VALUES[option_word])
        option = _option(command, option_word)
        if option is not None and isinstance(option.type, click.Choice):
            return [str(c) for c in option.type.choices]
        return []

    def selector_values(self, current: str) -> list[str]:
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
        else:
            values = self.names.get(SELECTOR_VALUES.get(bare, ""))
        return [f"{prefix}{key}={v}" for v in values]


def _help_of(param: click.Option) -> str:
    text = (param.help or "").strip()
    return text.split(". ")[0][:60]

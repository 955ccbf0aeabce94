"""Tab completion in the console: slash commands, then the shell's own completion source.

Everything after the first word goes through commands._cmdline.complete_line, the code a shell <TAB> runs:
the same commands, flags, flag values and live names (from the state store, through the name cache).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from proxmox_mpc.commands._cmdline import complete_line
from proxmox_mpc.console.slash import slash_names
from proxmox_mpc.services.completion import NameCache

__all__ = ["NameCache", "PmpcCompleter", "split_line"]


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


class PmpcCompleter(Completer):
    """Complete slash commands, commands, subcommands, flags, flag values and live names."""

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
        words = [before[0].lstrip("/"), *before[1:]] if before else []
        try:
            return complete_line(self._root(), words, current, obj=self.names)
        except Exception:  # a half-typed line must never break the prompt
            return []

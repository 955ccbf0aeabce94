"""AppContext: settings, output streams, format and interactivity, built once per invocation."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pydantic-settings is imported only when settings are loaded: keeps `pmpc --help` fast
    from proxmox_mpc.config import Settings

# A function that asks the user a yes/no question on stderr and returns the answer.
Prompter = Callable[[str], bool]


def _stream_is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _default_prompt(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


# What the last command run read and made (see AppContext.keep_until_exit).
_LAST_RUN: list[Any] = []


@dataclass
class AppContext:
    """What every command needs about this invocation; commands reach settings only through it."""

    loader: Callable[[], Settings]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    workspace: Path | None = None
    debug: bool = False
    insecure: bool = False
    no_color: bool = False
    stdin_tty: bool | None = None
    output: str = "table"
    prompt: Prompter = _default_prompt
    # Set by the console: commands run inside the REPL (history, no nested console).
    in_console: bool = False
    # Context-selection flags as given on the command line (to rebuild settings in the console).
    flags: dict[str, Any] = field(default_factory=dict)

    _settings: Settings | None = None
    _insecure_warned: bool = False

    @property
    def settings(self) -> Settings:
        """Return the settings, loaded on first use (a broken config fails only the commands using it).

        Insecure TLS is never silent: the first load warns once on stderr when verification is off.
        """
        if self._settings is None:
            self._settings = self.loader()
            if not self._insecure_warned:
                from proxmox_mpc.config import insecure_warning

                message = insecure_warning(self._settings, self.insecure)
                if message is not None:
                    self._insecure_warned = True
                    self.warn(message)
        return self._settings

    def keep_until_exit(self, *objects: Any) -> None:
        """Keep what a command read and made until the process ends, which frees nothing (cli.leave): freeing
        10,000 guests object by object costs tens of milliseconds. A later run in the same process replaces
        what the last one kept, so nothing accumulates; in the console nothing is kept."""
        _LAST_RUN[:] = () if self.in_console else objects

    def reload(self) -> None:
        """Forget the loaded settings (after `config use-context` in the console, say)."""
        self._settings = None

    @property
    def interactive(self) -> bool:
        """Return True when a person can answer a prompt (stdin and stderr are terminals)."""
        stdin_tty = _stream_is_tty(sys.stdin) if self.stdin_tty is None else self.stdin_tty
        return stdin_tty and _stream_is_tty(self.err)

    @property
    def color(self) -> bool:
        """Return True when stderr may carry colour and animation."""
        return not self.no_color and _stream_is_tty(self.err)

    def warn(self, message: str) -> None:
        """Write a warning line on stderr."""
        self.err.write(f"pmpc: warning: {message}\n")
        self.err.flush()

    def info(self, message: str) -> None:
        """Write an informational line on stderr."""
        self.err.write(message + "\n")
        self.err.flush()

"""Terminal colour for text on stdout: only on a terminal, never with NO_COLOR or --no-color."""

from __future__ import annotations

import re
from typing import TextIO

RESET = "\x1b[0m"
# terraform's palette: create green, update yellow, destroy red, replace magenta; headlines bold.
SYMBOL_COLOURS = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "-/+": "\x1b[35m"}
BOLD = "\x1b[1m"
_SYMBOL = re.compile(r"^(\s*)(-/\+|\+|~|-)(?=\s)", re.M)
_HEADLINE = re.compile(r"^(\s*# .*|Plan: .*)$", re.M)


def wants_colour(stream: TextIO, *, no_color: bool) -> bool:
    """Return True when text written to the stream may carry colour: a terminal, colour not refused."""
    isatty = getattr(stream, "isatty", None)
    try:
        return not no_color and bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def paint_plan(text: str) -> str:
    """Colour a rendered plan's `+ ~ - -/+` marks at line starts and make its headlines bold."""
    text = _HEADLINE.sub(lambda m: f"{BOLD}{m.group(1)}{RESET}", text)
    return _SYMBOL.sub(lambda m: f"{m.group(1)}{SYMBOL_COLOURS[m.group(2)]}{m.group(2)}{RESET}", text)

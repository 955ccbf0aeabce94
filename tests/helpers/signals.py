"""Children that tests stop with Ctrl-C must be able to receive it."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """Give a child process the default Ctrl-C handling (preexec_fn).

    A test run started in the background by a non-interactive shell inherits SIGINT ignored, and so would
    every child it starts: a Ctrl-C sent to them would then do nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)

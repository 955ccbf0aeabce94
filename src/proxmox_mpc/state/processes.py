"""Whether a process recorded in the store (a lock holder, an apply run) still runs on this host."""

from __future__ import annotations

import os
import socket


def process_start(pid: int) -> str | None:
    """Return when a process started (clock ticks since boot, from /proc), to tell a reused pid apart."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def process_gone(pid: int | None, host: str | None, started: str | None) -> bool:
    """Return True when a process recorded as (pid, host, start time) ran on this host and no longer runs.

    Without a start time only the pid is checked (a reused pid counts as still running).
    """
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    if started is None:
        return False
    now = process_start(pid)
    return now is not None and now != started

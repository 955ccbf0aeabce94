"""`--profile FILE` or PMPC_PROFILE=FILE: write a cProfile of the whole run, to send with a bug report.

The target is read from the command line and the environment before anything else is imported (the
settings are not loaded yet, and must not be for `pmpc --help`), so the profile covers the command's
imports as well as its work. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

PMPC_PROFILE = "PMPC_PROFILE"
PROFILE_OPTION = "--profile"


def profile_target(argv: Sequence[str]) -> str | None:
    """Return where to write a profile: `--profile FILE` anywhere before `--`, else $PMPC_PROFILE."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == PROFILE_OPTION and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(PROFILE_OPTION + "="):
            return arg.split("=", 1)[1] or None
    return os.environ.get(PMPC_PROFILE) or None


@contextlib.contextmanager
def profiled(target: str | None, err: TextIO | None = None) -> Iterator[None]:
    """Profile the block when `target` is set, then write the stats there (a note on stderr)."""
    if not target:
        yield
        return
    import cProfile

    stream: TextIO = err if err is not None else sys.stderr
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        path = Path(target).expanduser()
        try:
            write_stats(profiler, path)
        except OSError as exc:
            stream.write(f"pmpc: warning: the profile could not be written to {path}: {exc.strerror or exc}.\n")
        else:
            stream.write(f"pmpc: profile written to {path} (read it with `python -m pstats {path}`).\n")


def write_stats(profiler: object, path: Path) -> None:
    """Write a profiler's stats in pstats' format, through a temporary and a rename (no symlink followed)."""
    import marshal

    profiler.create_stats()  # type: ignore[attr-defined]
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as handle:
            marshal.dump(profiler.stats, handle)  # type: ignore[attr-defined]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

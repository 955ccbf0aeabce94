"""cli.leave(): the process ends with its exit code, its exit handlers run and its output is flushed, and a
thread still at work is waited for (then the exit is the ordinary one).
A command collects cyclic garbage rarely; the console, which runs for hours, more often."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def buffered() -> dict[str, str]:
    """The environment with the standard streams buffered, as a pipe makes them without PYTHONUNBUFFERED."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=buffered(),
    )


def test_exit_code_handlers_and_buffered_output_survive() -> None:
    done = run_python(
        """
        import atexit, logging, sys
        from proxmox_mpc.cli import leave
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout.write("buffered, not yet flushed")
        leave(3)
        """
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, not yet flushed"
    assert "handler ran" in done.stderr


def test_a_log_file_handler_is_flushed(tmp_path: Path) -> None:
    log = tmp_path / "pmpc.log"
    done = run_python(
        f"""
        import logging
        from proxmox_mpc.cli import leave
        handler = logging.FileHandler({str(log)!r}, delay=False)
        handler.stream.reconfigure(write_through=False)
        logging.getLogger("t").addHandler(handler)
        logging.getLogger("t").warning("last words")
        leave(0)
        """
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "last words\n"


def test_a_thread_still_at_work_is_waited_for(tmp_path: Path) -> None:
    out = tmp_path / "written-late"
    done = run_python(
        f"""
        import threading, time
        from pathlib import Path
        from proxmox_mpc.cli import leave

        def late():
            time.sleep(0.3)
            Path({str(out)!r}).write_text("done")

        threading.Thread(target=late).start()
        leave(5)
        """
    )
    assert done.returncode == 5, done.stderr
    assert out.read_text() == "done"


def test_a_reader_gone_before_the_flush_is_no_error() -> None:
    code = (
        "import sys; from proxmox_mpc.cli import leave; sys.stdout.write('x' * 100);"
        " print('ready', file=sys.stderr, flush=True); sys.stdin.readline(); leave(0)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=buffered(),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    assert proc.stderr.readline() == b"ready\n"
    proc.stdout.close()  # the reader goes away while the 100 bytes still wait in the buffer
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_a_command_collects_garbage_rarely_and_the_console_more_often(monkeypatch) -> None:
    import gc

    from proxmox_mpc import cli

    done = run_python(
        """
        import atexit, gc, sys
        from proxmox_mpc import cli
        atexit.register(lambda: print(gc.get_threshold()))
        sys.argv = ["pmpc", "--version"]
        cli.main()
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(cli.GC_THRESHOLDS)

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr("proxmox_mpc.console.repl.run", lambda *a, **k: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    try:
        cli.open_console(object())
    finally:
        gc.set_threshold(*before)
    assert seen == [cli.CONSOLE_GC_THRESHOLDS]


def test_a_command_keeps_only_its_last_run_s_objects_until_the_end_and_the_console_none() -> None:
    """What a command read is freed by the process's end, not object by object; a later run in the same
    process replaces it, so nothing accumulates; the console keeps nothing."""
    import gc
    import weakref

    from proxmox_mpc import context
    from proxmox_mpc.config import Settings

    class Read:
        pass

    first, second = Read(), Read()
    gone = weakref.ref(first)
    app_ctx = context.AppContext(loader=Settings)
    app_ctx.keep_until_exit(first, [1, 2])
    assert context._LAST_RUN[0] is first
    del first
    app_ctx.keep_until_exit(second)
    gc.collect()
    assert gone() is None
    assert len(context._LAST_RUN) == 1 and context._LAST_RUN[0] is second
    context.AppContext(loader=Settings, in_console=True).keep_until_exit(Read())
    assert context._LAST_RUN == []

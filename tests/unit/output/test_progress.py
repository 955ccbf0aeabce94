"""Task progress on stderr: plain lines without a terminal, rich only when colour is allowed."""

from __future__ import annotations

import io

from proxmox_mpc.output.progress import PlainProgress, RichProgress, make_progress


def test_plain_progress_is_quiet_for_quick_tasks_then_sparse():
    err = io.StringIO()
    progress = PlainProgress(err)
    progress.begin("vm/101", "qmshutdown")
    progress.update("vm/101", 0.4)
    assert err.getvalue() == ""
    progress.update("vm/101", 2.5)
    progress.update("vm/101", 20.0)
    progress.update("vm/101", 33.0)
    progress.end("vm/101")
    assert err.getvalue() == "vm/101: waiting for qmshutdown (2s)\nvm/101: waiting for qmshutdown (33s)\n"
    assert "\r" not in err.getvalue() and "\x1b" not in err.getvalue()


def test_make_progress_picks_by_colour():
    assert isinstance(make_progress(io.StringIO(), color=False), PlainProgress)
    assert isinstance(make_progress(io.StringIO(), color=True), RichProgress)


def test_rich_progress_starts_and_stops_cleanly():
    err = io.StringIO()
    with make_progress(err, color=True) as progress:
        progress.begin("ct/201", "vzstart")
        progress.update("ct/201", 1.0)
        progress.end("ct/201")
    assert "vzstart" not in err.getvalue()  # transient: nothing left behind

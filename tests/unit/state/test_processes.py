"""Telling whether a process recorded in the store (lock holder, apply run) still runs on this host."""

from __future__ import annotations

import os
import socket

from tests.unit.state.rows import gone_pid

from proxmox_mpc.state.processes import process_gone, process_start


def test_this_process_runs():
    me, host = os.getpid(), socket.gethostname()
    started = process_start(me)
    assert started is not None and started.isdigit()
    assert process_gone(me, host, started) is False
    assert process_gone(me, host, None) is False


def test_an_ended_process_is_gone():
    pid = gone_pid()
    assert process_start(pid) is None
    assert process_gone(pid, socket.gethostname(), None) is True
    assert process_gone(pid, socket.gethostname(), "123") is True


def test_a_reused_pid_is_told_apart_by_its_start_time():
    started = process_start(os.getpid())
    assert started is not None
    assert process_gone(os.getpid(), socket.gethostname(), str(int(started) + 1)) is True


def test_another_host_or_no_pid_is_never_judged_gone():
    assert process_gone(gone_pid(), "some-other-host", None) is False
    assert process_gone(None, socket.gethostname(), None) is False

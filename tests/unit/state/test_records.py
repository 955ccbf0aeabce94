"""The records the store returns: a guest row as pmpc's kind with PVE's type beside it, lock holders."""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from tests.unit.state.rows import T0, gone_pid, guest_row

from proxmox_mpc.state.records import LockInfo, guest_record


@pytest.mark.parametrize(("kind", "api_type", "ref"), [("vm", "qemu", "vm/101"), ("ct", "lxc", "ct/101")])
def test_a_guest_row_becomes_a_record(kind, api_type, ref):
    row = SimpleNamespace(**guest_row(101, kind=kind, tags="Web;prod", cpus=None, memory=None, config=None))
    record = guest_record(row)
    assert (record.kind, record.type, record.ref) == (kind, api_type, ref)
    assert record.tags == ["prod", "web"] and record.cpus == 0.0 and record.memory == 0 and record.config == {}
    assert record.deleted is False


def test_a_row_of_unknown_kind_is_refused():
    with pytest.raises(ValidationError, match="'vm' or 'ct'"):
        guest_record(SimpleNamespace(**guest_row(101, kind="qemu")))


def test_lock_info_describes_its_holder_and_knows_when_it_is_gone():
    here = socket.gethostname()
    info = LockInfo(name="ws", holder="pmpc sync", pid=os.getpid(), host=here, since=T0)
    assert info.describe() == f"pmpc sync (pid {os.getpid()} on {here}) since 2026-01-02 03:04:05 UTC"
    assert info.holder_gone() is False
    assert info.model_copy(update={"pid": gone_pid()}).holder_gone() is True
    assert info.model_copy(update={"pid": gone_pid(), "host": "elsewhere"}).holder_gone() is False

"""The apply journal on SQLite and PostgreSQL: runs, their actions, the guests pmpc created."""

from __future__ import annotations

import pytest
from tests.unit.state.rows import CLUSTER, gone_pid

from proxmox_mpc.state.store import Store


def test_apply_journal(store: Store):
    run_id = store.start_apply_run(CLUSTER, "/srv/infra", "sha256:abc")
    store.journal_action(
        run_id, "vm/101", "update", "ok", "memory: 2048 -> 4096", upid="UPID:pve1:1:2:3:qmconfig"
    )
    store.journal_action(run_id, "vm/102", "start", "failed", "boom")
    store.finish_apply_run(run_id, "partial")
    (run,) = store.apply_runs(CLUSTER)
    assert (run.id, run.workspace, run.plan_digest, run.status) == (
        run_id,
        "/srv/infra",
        "sha256:abc",
        "partial",
    )
    assert run.finished_at is not None and run.finished_at >= run.started_at
    entries = store.journal(run_id)
    assert [(e.address, e.action, e.status, e.upid) for e in entries] == [
        ("vm/101", "update", "ok", "UPID:pve1:1:2:3:qmconfig"),
        ("vm/102", "start", "failed", None),
    ]
    assert store.apply_runs("other:8006") == [] and store.apply_runs(workspace="/srv/infra")[0].id == run_id


def test_guests_pmpc_created_are_kept_by_kind_and_forgotten_once_deleted(store: Store):
    run_id = store.start_apply_run(CLUSTER, None, None)
    store.record_created(CLUSTER, "vm", 101, "web-1", run_id)
    store.record_created(CLUSTER, "ct", 201, "dns", run_id)
    store.record_created(CLUSTER, "vm", 101, "web-1b", None)  # a replace created it again: one row
    assert store.created_guests(CLUSTER) == {("vm", 101), ("ct", 201)}
    store.forget_created(CLUSTER, 101)
    assert store.created_guests(CLUSTER) == {("ct", 201)}
    assert store.created_guests("other:8006") == set()
    store.forget_created("other:8006", 201)  # an unknown cluster: nothing to forget
    assert store.created_guests(CLUSTER) == {("ct", 201)}


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([("replace", "started", None), ("delete", "ok", None)], {"vm/web": 1}),
        ([("replace", "started", None), ("delete", "started", "UPID:pve1:x")], {"vm/web": 1}),
        ([("replace", "started", None), ("delete", "started", None)], {}),
        ([("replace", "started", None), ("delete", "ok", None), ("create", "ok", None)], {}),
        ([("replace", "started", None), ("delete", "ok", None), ("clone", "ok", None)], {}),
        ([("delete", "ok", None)], {}),
    ],
    ids=["deleted", "delete-task-accepted", "delete-not-sent", "created-again", "cloned-again", "plain-delete"],
)
def test_unfinished_replaces(store: Store, steps, expected):
    run_id = store.start_apply_run(CLUSTER, None, None)
    for action, status, upid in steps:
        store.journal_action(run_id, "vm/web", action, status, None, upid=upid)
    assert store.unfinished_replaces(CLUSTER) == {k: run_id for k in expected}
    assert store.unfinished_replaces("other:8006") == {}


def test_a_run_whose_process_is_gone_is_interrupted(store: Store):
    import socket

    from sqlalchemy import text

    run_id = store.start_apply_run(CLUSTER, None, None)
    assert store.apply_runs(CLUSTER)[0].status == "running"  # this process runs it
    with store.transaction() as conn:
        conn.execute(
            text("UPDATE pmpc_apply_runs SET pid = :pid, host = :host WHERE id = :id"),
            {"pid": gone_pid(), "host": socket.gethostname(), "id": run_id},
        )
    assert store.apply_runs(CLUSTER)[0].status == "interrupted"  # seen as such before it is marked
    assert store.mark_interrupted_runs() == [run_id]
    (run,) = store.apply_runs(CLUSTER)
    assert run.status == "interrupted" and run.finished_at is not None
    assert store.mark_interrupted_runs() == []

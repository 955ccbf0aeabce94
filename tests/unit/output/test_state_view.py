"""Rendering of sync reports, drift lines and status (output/state_view.py)."""

from __future__ import annotations

import io

import pytest

from proxmox_mpc.output.state_view import change_line, print_status, print_sync_report, timestamp


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2026-01-02T03:04:05.123456Z", "2026-01-02 03:04:05Z"),
        ("2026-01-02T03:04:05+00:00", "2026-01-02 03:04:05Z"),
        ("2026-01-02T03:04:05Z", "2026-01-02 03:04:05Z"),
    ],
)
def test_timestamp(value, text):
    assert timestamp(value) == text


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"address": "vm/105", "name": "web-3", "change": "add"}, "+ vm/105 (web-3)"),
        ({"address": "ct/201", "name": "dns", "change": "delete"}, "- ct/201 (dns)"),
        (
            {
                "address": "vm/101",
                "name": "web-1",
                "change": "change",
                "field": "config.memory",
                "old": "2048",
                "new": "4096",
            },
            "~ vm/101 (web-1) config.memory: 2048 -> 4096",
        ),
        (
            {
                "address": "vm/101",
                "name": "web-1",
                "change": "change",
                "field": "pool",
                "old": None,
                "new": "prod",
            },
            "~ vm/101 (web-1) pool: - -> prod",
        ),
    ],
)
def test_change_line(change, line):
    assert change_line(change) == line


def test_sync_report_summary_and_dry_run():
    report = {
        "cluster": "pve:8006",
        "cluster_name": "lab",
        "dry_run": True,
        "guests": 2,
        "nodes": 1,
        "storages": 2,
        "added": 1,
        "changed": 0,
        "deleted": 0,
        "requests": 5,
        "seconds": 0.5,
        "changes": [{"address": "vm/1", "name": "a", "change": "add"}],
        "imported": [],
    }
    out = io.StringIO()
    print_sync_report(out, report)
    assert out.getvalue() == (
        "+ vm/1 (a)\nDry run: syncing lab (pve:8006) would record 2 guests, 1 nodes, "
        "2 storages; 1 added, 0 changed, 0 deleted. Nothing was written.\n"
    )


def test_status_lists_problems_and_unknowns():
    out = io.StringIO()
    print_status(
        out,
        {
            "workspace": None,
            "context": "lab",
            "cluster": "pve:8006",
            "database": "sqlite:///x.db",
            "connection": "failed",
            "counts": {},
            "last_sync": None,
            "drift": None,
            "problems": ["Cannot reach https://pve:8006."],
        },
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == "Workspace:  (none: per-user state)"
    assert "Connection: failed" in lines and "Last sync:  never" in lines and "Drift:      unknown" in lines
    assert lines[-1] == "Problem:    Cannot reach https://pve:8006."

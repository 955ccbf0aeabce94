"""A bulk read over a slow link keeps more requests in flight; guest verbs keep their fixed depth.

fakepve's `slow_network` holds every answer for the given time without working on it, as a long link does.
The pipeline's rules themselves (when it deepens, holds and steps back) are tests/unit/api/test_pipeline.py's.
"""

from __future__ import annotations

import re

import pytest

LINK = 0.2  # seconds an answer spends "on the link" (time_scale 1): long beside a busy machine's hiccups


def add_guests(pve, count: int) -> None:
    for i in range(count):
        pve.add_vm(
            3000 + i, f"bulk-{i}", node="pve1", config={"cores": 1, "memory": 512, "net0": "virtio,bridge=vmbr0"}
        )


@pytest.mark.fakepve(time_scale=1)
def test_a_sync_over_a_slow_link_deepens_its_pipeline(cluster, cli):
    # The fixture's 7 guests and 400 more: rounds of 32, 40, 48 ... answers, each about LINK long.
    add_guests(cluster, 400)
    cluster.slow_network(LINK)
    assert cli("init").exit_code == 0
    result = cli("--debug", "sync")
    assert result.exit_code == 0, result.output
    depths = [int(d) for d in re.findall(r"pipeline: (\d+) requests in flight now", result.stderr)]
    assert depths[:2] == [40, 48]  # 32 deep at first (PMPC_CONCURRENCY 8), a step of 8 a round
    assert max(depths) <= 64
    assert "407 guests" in result.stdout


@pytest.mark.parametrize(
    ("concurrency", "bulk", "depths"),
    [
        ("8", True, (32, 64, 64)),
        ("12", True, (48, 64, 64)),
        ("20", True, (80, 80, 80)),  # a deeper start than 64 is the user's choice: it stays as it is
        ("8", False, (16, 16, 16)),  # guest verbs mostly wait on tasks: their depth stays
    ],
)
def test_only_a_bulk_read_s_client_may_deepen_and_only_up_to_64(cluster, monkeypatch, concurrency, bulk, depths):
    from proxmox_mpc.config import load_settings
    from proxmox_mpc.context import AppContext
    from proxmox_mpc.services.connection import connect

    monkeypatch.setenv("PMPC_CONCURRENCY", concurrency)
    api = connect(AppContext(loader=lambda: load_settings({}, None)), bulk=bulk)
    pipeline = api._limit
    assert (pipeline.depth, pipeline.ceiling, api.concurrency) == depths

"""No import circles in the state layer, nor between the state and sync services that sit on it."""

from __future__ import annotations

import grimp
import pytest
from tests.unit.commands.test_import_circles import circles

STATE = "proxmox_mpc.state"
SERVICES = ("proxmox_mpc.services.state", "proxmox_mpc.services.sync", "proxmox_mpc.services.database")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("proxmox_mpc", cache_dir=None)


def test_the_state_layer_and_its_services_have_no_import_circle(graph):
    modules = sorted(m for m in graph.modules if m.startswith(STATE + ".") or m in SERVICES)
    assert "proxmox_mpc.state.locks" in modules and "proxmox_mpc.services.sync" in modules
    assert circles(graph, modules) == []


def test_the_check_would_see_the_old_circle(graph):
    changed = grimp.build_graph("proxmox_mpc", cache_dir=None)
    changed.add_import(importer="proxmox_mpc.services.sync", imported="proxmox_mpc.services.state")
    assert ("proxmox_mpc.services.sync", "proxmox_mpc.services.state", "proxmox_mpc.services.sync") in circles(
        changed, ["proxmox_mpc.services.sync"]
    )

"""No import circles in the upper layers: cli, console and commands import downwards or sideways, never back."""

from __future__ import annotations

import grimp
import pytest

UPPER = ("proxmox_mpc.cli", "proxmox_mpc.console", "proxmox_mpc.commands")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("proxmox_mpc", cache_dir=None)


def circles(graph, modules: list[str]) -> list[tuple[str, ...]]:
    found = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith("proxmox_mpc.") or imported == module:
                continue
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                found.append((module, *back))
    return found


def test_the_upper_layers_have_no_import_circle(graph):
    modules = sorted(m for m in graph.modules if m.startswith(UPPER))
    assert "proxmox_mpc.console.completer" in modules and "proxmox_mpc.commands.guest.verbs" in modules
    assert circles(graph, modules) == []


def test_the_check_would_see_a_circle():
    changed = grimp.build_graph("proxmox_mpc", cache_dir=None)
    changed.add_import(importer="proxmox_mpc.console.slash", imported="proxmox_mpc.console.completer")
    assert ("proxmox_mpc.console.completer", "proxmox_mpc.console.slash", "proxmox_mpc.console.completer") in (
        circles(changed, ["proxmox_mpc.console.completer"])
    )

"""The import contracts CI checks with lint-imports: no module imports upwards, and no package's modules
import each other in a circle. The circle contract is the one in pyproject.toml, checked here too so that
it is known to see a circle when one appears."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module")
def contract() -> AcyclicSiblingsContract:
    configuration.configure()
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    [options] = [c for c in contracts if c["type"] == "acyclic_siblings"]
    assert options["ancestors"] == ["proxmox_mpc"]
    return AcyclicSiblingsContract(name=options["name"], session_options={}, contract_options=options)


def test_no_package_has_an_import_circle(contract: AcyclicSiblingsContract) -> None:
    check = contract.check(grimp.build_graph("proxmox_mpc", cache_dir=None), verbose=False)
    assert check.kept, check.metadata["cycle_breakers_by_package"]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("proxmox_mpc.services.sync", "proxmox_mpc.services.state"),
        ("proxmox_mpc.services.validate", "proxmox_mpc.services.plan"),
        ("proxmox_mpc.console.slash", "proxmox_mpc.console.completer"),
        ("proxmox_mpc.services.manifests", "proxmox_mpc.services.manifest_cache"),
    ],
)
def test_the_contract_sees_the_old_circles(contract: AcyclicSiblingsContract, importer: str, imported: str) -> None:
    graph = grimp.build_graph("proxmox_mpc", cache_dir=None)
    graph.add_import(importer=importer, imported=imported)
    check = contract.check(graph, verbose=False)
    assert not check.kept

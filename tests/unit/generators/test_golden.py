"""Golden files: each generator's output for the fixture cluster, byte for byte.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/unit/generators/test_golden.py`
and review the diff. Files are stored with a `.golden` suffix so that no tool mistakes them for real ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.unit.generators.inputs import fixture_inputs

from proxmox_mpc.generators import ansible, terraform
from proxmox_mpc.generators import tests as tests_generator

GOLDEN = Path(__file__).parents[2] / "golden"
SUFFIX = ".golden"
RENDERERS = {"terraform": terraform.render, "ansible": ansible.render, "tests": tests_generator.render}


def stored(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix()[: -len(SUFFIX)]: path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob(f"*{SUFFIX}"))
    }


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_output_matches_the_golden_files(name):
    rendered = RENDERERS[name](fixture_inputs(terraform_dir="../../terraform"))
    directory = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        for path in directory.rglob(f"*{SUFFIX}"):
            path.unlink()
        for rel, text in rendered.items():
            target = directory / (rel + SUFFIX)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    golden = stored(directory)
    assert sorted(rendered) == sorted(golden)
    for rel, text in rendered.items():
        assert text == golden[rel], f"{name}/{rel} differs from its golden file"


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_regenerating_is_byte_identical(name):
    first = RENDERERS[name](fixture_inputs())
    again = RENDERERS[name](fixture_inputs())
    assert {k: v.encode() for k, v in first.items()} == {k: v.encode() for k, v in again.items()}

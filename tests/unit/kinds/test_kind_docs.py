"""Every non-guest kind has its section in docs/manifests.md, with a YAML example that validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from proxmox_mpc.kinds import registry

DOC = (Path(__file__).resolve().parents[3] / "docs" / "manifests.md").read_text(encoding="utf-8")
KINDS = registry.resource_kinds()


def _section(name: str) -> str:
    found = re.search(rf"^### {name}\n(.*?)(?=^##)", DOC, re.S | re.M)
    assert found is not None, f"docs/manifests.md has no `### {name}` section"
    return found.group(1)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_kind_s_section_has_an_example_that_validates(kind):
    examples = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", _section(kind.name), re.S)]
    mine = [e for e in examples if isinstance(e, dict) and e.get("kind") == kind.name]
    assert mine, f"the {kind.name} section has no YAML example of the kind"
    for example in mine:
        spec = {k: v for k, v in (example.get("spec") or {}).items() if k != "state"}  # `state: absent` is shown
        manifest = kind.model.model_validate({**example, "spec": spec})
        assert manifest.address.startswith(f"{kind.prefix}/")
        assert f"`{kind.prefix}/" in _section(kind.name)  # the section names the address

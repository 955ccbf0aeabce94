"""The kind registry: every kind answers the same questions, and its generator mapping is the real one."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from tests.helpers.ansible import needs_community_proxmox
from tests.helpers.tools import require_binary
from tests.unit.generators.test_ansible import check_options, load, run_tool, tool
from tests.unit.generators.test_terraform import check_body, parsed, resources, schema

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.generators import ansible, terraform
from proxmox_mpc.generators.model import GenerateInputs, resource_spec
from proxmox_mpc.kinds import registry
from proxmox_mpc.kinds.base import Kind, ResourceKind

KINDS = registry.kinds()
RESOURCE_KINDS = registry.resource_kinds()
ids = [k.name for k in KINDS]
resource_ids = [k.name for k in RESOURCE_KINDS]


def test_names_prefixes_and_folders_are_unique_and_the_guests_are_registered():
    assert registry.manifest_kinds()[:3] == ("VM", "CT", "Pool")
    for attribute in ("name", "prefix"):
        values = [getattr(k, attribute) for k in KINDS]
        assert len(values) == len(set(values)), attribute
    # Kinds of one family share a folder (the firewall's: resources/firewall/, HA's: resources/ha/, access
    # control's: resources/access/); no other folder is shared.
    folders = [k.folder for k in KINDS if k.folder not in ("firewall", "ha", "access")]
    assert len(folders) == len(set(folders))
    assert registry.by_name("Pool") is registry.by_prefix("pool") is registry.of_address("pool/prod")
    assert registry.of_address("pool") is None and registry.by_name("Nope") is None
    assert [k.prefix for k in KINDS if k.guest] == ["vm", "ct"]


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_every_kind_declares_model_address_paths_diff_and_generator_mapping(kind: Kind):
    assert isinstance(kind, Kind)
    assert issubclass(kind.model, BaseModel)
    manifest = kind.model.model_validate(kind.example)
    assert manifest.kind == kind.name  # type: ignore[attr-defined]
    assert kind.address("x") == f"{kind.prefix}/x"
    assert manifest.address.startswith(f"{kind.prefix}/")  # type: ignore[attr-defined]
    assert kind.reads and all(p.startswith("/") for p in kind.reads)
    assert kind.writes and all(p.startswith("/") for p in kind.writes)
    assert callable(kind.diff)
    assert kind.terraform.resource_type in schema()["resource_schemas"]
    # A community.proxmox module, or the documented API call where none manages the kind (backup jobs, roles).
    assert kind.ansible.module.startswith("community.proxmox.") or kind.ansible.module == "ansible.builtin.uri"
    change = kind.diff(manifest, None)  # type: ignore[attr-defined]
    assert change is not None and change.action == "create" and change.kind == kind.prefix
    if isinstance(kind, ResourceKind):
        assert all(isinstance(r, PlannedRequest) for r in kind.requests(change))
    else:
        request = kind.request_builders.change_create_request(change, 9999)  # type: ignore[attr-defined]
        assert isinstance(request, PlannedRequest) and request.method == "POST"


# Kinds whose resources are items of one list answer, created by a request that names them as the list
# does (a firewall level spreads over two paths and is never deleted: tests/unit/kinds/test_firewall_policy.py
# covers its round trip; an ACL entry is written as PUT /access/acl roles=... users=...:
# tests/unit/kinds/test_access.py covers its own).
LISTED_KINDS = [k for k in RESOURCE_KINDS if len(k.reads) == 1 and k.prefix != "acl"]


@pytest.mark.parametrize("kind", LISTED_KINDS, ids=[k.name for k in LISTED_KINDS])
def test_a_resource_kind_round_trips_through_its_own_api_shape(kind: ResourceKind):
    manifest = kind.model.model_validate(kind.example)
    create = kind.diff(manifest, None)
    assert create is not None
    requests = kind.requests(create)
    assert requests and all(isinstance(r, PlannedRequest) for r in requests)
    assert all(any(r.path.startswith(w.split("{")[0]) for w in kind.writes) for r in requests)
    # What PVE would list after the create is the manifest again, with nothing to change.
    listed = {k: v for k, v in requests[-1].params.items()}
    listed[_id_key(kind)] = manifest.name
    observed = kind.normalise(listed)
    assert observed is not None and observed.address == manifest.address
    assert kind.diff(manifest, observed) is None
    assert kind.diff(kind.to_manifest(observed), observed) is None
    gone = manifest.model_copy(update={"spec": manifest.spec.model_copy(update={"state": "absent"})})
    delete = kind.diff(gone, observed)
    assert delete is not None and delete.action == "delete"
    assert [r.method for r in kind.requests(delete)] == ["DELETE"]


def _id_key(kind: ResourceKind) -> str:
    # The list answer names a resource by the key its create request takes first.
    create = kind.requests(kind.diff(kind.model.model_validate(kind.example), None))  # type: ignore[arg-type]
    return next(iter(create[-1].params))


def _inputs(kind: ResourceKind, *, exists: bool) -> GenerateInputs:
    manifest = kind.model.model_validate(kind.example)
    return GenerateInputs(resources=[resource_spec(kind, manifest, exists=exists)])


@pytest.mark.parametrize("kind", RESOURCE_KINDS, ids=resource_ids)
def test_terraform_of_every_kind_matches_the_provider_schema_and_imports_what_exists(kind: ResourceKind):
    files = terraform.render(_inputs(kind, exists=True))
    found = resources(parsed(files))
    assert len(found) == 1
    (address, body), = found.items()
    assert address.startswith(kind.terraform.resource_type + ".")
    assert check_body(body, schema()["resource_schemas"][kind.terraform.resource_type]["block"], address) == []
    manifest = kind.model.model_validate(kind.example)
    if kind.terraform.importable:
        assert f'to = {address}\n  id = "{kind.import_id(manifest)}"' in files["imports.tf"]
    else:  # the provider documents no import: the resource says so, and no import block guesses an id
        assert kind.terraform.resource_type not in files["imports.tf"]
        assert "documents no import for this type" in files[f"{kind.folder}.tf"]
    created = terraform.render(_inputs(kind, exists=False))
    assert kind.terraform.resource_type not in created["imports.tf"]


@pytest.mark.parametrize("kind", RESOURCE_KINDS, ids=resource_ids)
def test_terraform_fmt_accepts_every_kind(kind: ResourceKind, tmp_path):
    binary = require_binary("terraform", "`terraform fmt -check` cannot run here")
    for path, text in terraform.render(_inputs(kind, exists=True)).items():
        (tmp_path / path).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [binary, "fmt", "-check", "-diff", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _ansible_doc(module: str) -> dict[str, Any]:
    binary = tool("ansible-doc")
    if binary is None:
        pytest.skip("ansible-doc is not installed (pip install ansible)")
    done = subprocess.run([binary, "-j", module], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[module]["doc"]


@needs_community_proxmox
@pytest.mark.parametrize("kind", RESOURCE_KINDS, ids=resource_ids)
def test_ansible_of_every_kind_uses_real_module_options_before_the_guests(kind: ResourceKind):
    play = load(ansible.render(_inputs(kind, exists=False))["provision.yml"])[0]
    manifest = kind.model.model_validate(kind.example)
    # The kind's task, and any further ones it needs (a security group's rules), before the guests'.
    tasks = play["tasks"][: 1 + len(kind.ansible_more(manifest))]
    for task in tasks:
        module = next(k for k in task if k != "name")
        assert module == kind.ansible.module
        assert check_options(task["name"], _ansible_doc(module)["options"], task[module]) == []


@needs_community_proxmox
@pytest.mark.slow
@pytest.mark.parametrize("kind", RESOURCE_KINDS, ids=resource_ids)
def test_ansible_syntax_check_passes_for_every_kind(kind: ResourceKind, tmp_path):
    for rel, text in ansible.render(_inputs(kind, exists=True)).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    done = run_tool("ansible-playbook", "--syntax-check", "provision.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load((tmp_path / "provision.yml").read_text())[0]["tasks"]


DOCS = Path(__file__).resolve().parents[3] / "docs" / "manifests.md"


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_every_kind_has_a_docs_section_whose_examples_validate(kind: Kind):
    text = DOCS.read_text(encoding="utf-8")
    if kind.guest:
        assert f"### {kind.name} `spec`" in text
        return
    assert f"\n### {kind.name}\n" in text, f"docs/manifests.md has no section for {kind.name}"
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    mine = [b for b in blocks if isinstance(b, dict) and b.get("kind") == kind.name]
    assert mine, f"docs/manifests.md has no example of {kind.name}"
    for block in mine:
        kind.model.model_validate(block)

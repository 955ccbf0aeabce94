"""Generated Terraform: valid names and shapes for the pinned bpg provider, fmt-clean, imports, references."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.tools import require_binary
from tests.unit.generators.inputs import SECRET, fixture_inputs

from proxmox_mpc.errors import ManifestError
from proxmox_mpc.generators import terraform
from proxmox_mpc.generators.model import GuestSpec

hcl2 = pytest.importorskip("hcl2")

SCHEMA_FILE = Path(__file__).parents[2] / "fixtures" / "bpg-proxmox-0.111.1.schema.json"
PROVIDER = "registry.terraform.io/bpg/proxmox"
# Terraform's own meta-arguments are no attribute of a provider's schema.
META_KEYS = {"__is_block__", "__comments__", "__inline_comments__", "depends_on"}
REF = re.compile(r"^\$\{([a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+)\}$")


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["provider_schemas"][PROVIDER]


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def _type_ok(tf_type: Any, value: Any) -> bool:
    if isinstance(value, str) and REF.match(value):
        return True  # a reference: its target is checked separately
    if tf_type == "string":
        return isinstance(value, str) and value.startswith('"') and value.endswith('"')
    if tf_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tf_type == "bool":
        return isinstance(value, bool)
    if isinstance(tf_type, list) and tf_type[0] in ("list", "set"):
        return isinstance(value, list) and all(_type_ok(tf_type[1], v) for v in value)
    if isinstance(tf_type, list) and tf_type[0] == "map":
        return isinstance(value, dict)
    return False


def check_body(body: dict[str, Any], block: dict[str, Any], where: str) -> list[str]:
    """Return every problem of one block body against its schema block."""
    problems = []
    attributes = block.get("attributes", {})
    block_types = block.get("block_types", {})
    for key, value in body.items():
        if key in META_KEYS:
            continue
        here = f"{where}.{key}"
        if _is_block(value):
            if key not in block_types:
                problems.append(
                    f"{here}: not a block of this schema"
                    + (" (it is an attribute)" if key in attributes else "")
                )
                continue
            spec = block_types[key]
            if spec.get("max_items") and len(value) > spec["max_items"]:
                problems.append(f"{here}: {len(value)} blocks, at most {spec['max_items']}")
            for index, item in enumerate(value):
                problems += check_body(item, spec["block"], f"{here}[{index}]")
        else:
            if key not in attributes:
                problems.append(
                    f"{here}: not an attribute of this schema"
                    + (" (it is a block)" if key in block_types else "")
                )
                continue
            spec = attributes[key]
            if not (spec.get("optional") or spec.get("required")):
                problems.append(f"{here}: computed only, cannot be set")
            if not _type_ok(spec.get("type"), value):
                problems.append(f"{here}: {value!r} is not of type {spec.get('type')}")
    for key, spec in attributes.items():
        if spec.get("required") and key not in body:
            problems.append(f"{where}: required attribute {key} is missing")
    for key, spec in block_types.items():
        if spec.get("min_items") and len(body.get(key, [])) < spec["min_items"]:
            problems.append(f"{where}: needs at least {spec['min_items']} {key} block(s)")
    return problems


def parsed(files: dict[str, str]) -> dict[str, Any]:
    return {path: hcl2.loads(text) for path, text in files.items()}


def resources(docs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for doc in docs.values():
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    found[f"{rtype.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return found


def references(value: Any) -> list[str]:
    """Return every reference expression in a parsed body (escaped `$${...}` text is not one)."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    match = REF.match(value) if isinstance(value, str) else None
    return [match.group(1)] if match else []


def test_the_schema_fixture_is_the_pinned_provider():
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert data["x_provenance"]["provider_version"] == "v0.111.1"
    assert len(schema()["resource_schemas"]) == 115
    vm = schema()["resource_schemas"]["proxmox_virtual_environment_vm"]["block"]
    assert "cpu" in vm["block_types"] and "cpu" not in vm["attributes"]


def test_every_resource_block_and_attribute_exists_in_the_provider_schema():
    docs = parsed(terraform.render(fixture_inputs()))
    found = resources(docs)
    assert sorted(found) == [
        "proxmox_virtual_environment_container.cache_1",
        "proxmox_virtual_environment_container.dns_1",
        "proxmox_virtual_environment_container.log_1",
        "proxmox_virtual_environment_vm.app_1",
        "proxmox_virtual_environment_vm.db_1",
        "proxmox_virtual_environment_vm.ubuntu_tmpl",
        "proxmox_virtual_environment_vm.web_1",
    ]
    problems = []
    for address, body in found.items():
        rtype = address.split(".")[0]
        problems += check_body(body, schema()["resource_schemas"][rtype]["block"], address)
    for doc in docs.values():
        for provider in doc.get("provider", []):
            for name, body in provider.items():
                assert name.strip('"') == "proxmox"
                problems += check_body(body, schema()["provider"]["block"], "provider.proxmox")
    assert problems == []


def test_the_checker_catches_wrong_names_and_shapes():
    vm = schema()["resource_schemas"]["proxmox_virtual_environment_vm"]["block"]
    bad = hcl2.loads("""
resource "proxmox_virtual_environment_vm" "x" {
  cpu       = 2
  memory_mb = 512
  tags      = "web"
  agent {
    enabled = "yes"
  }
  agent {
    enabled = true
  }
  disk {
    size = 8
  }
}
""")["resource"][0]['"proxmox_virtual_environment_vm"']['"x"']
    problems = check_body(bad, vm, "x")
    assert any("x.cpu: not an attribute of this schema (it is a block)" in p for p in problems)
    assert any("x.memory_mb: not an attribute" in p for p in problems)
    assert any("x.tags" in p and "not of type" in p for p in problems)
    assert any("x.agent[0].enabled" in p for p in problems)
    assert any("x.agent: 2 blocks, at most 1" in p for p in problems)
    assert any("required attribute interface is missing" in p for p in problems)
    assert any("required attribute node_name is missing" in p for p in problems)


def test_provider_is_pinned_and_credentials_are_sensitive_variables():
    files = terraform.render(fixture_inputs(provider_version="0.100.0"))
    docs = parsed(files)
    required = docs["versions.tf"]["terraform"][0]["required_providers"][0]["proxmox"]
    assert required == {"source": '"bpg/proxmox"', "version": '"0.100.0"'}
    provider = docs["provider.tf"]["provider"][0]['"proxmox"']
    assert provider["api_token"] == "${var.proxmox_api_token}"
    assert provider["endpoint"] == "${var.proxmox_endpoint}"
    assert provider["insecure"] == "${var.proxmox_insecure}"
    variables = {name.strip('"'): body for v in docs["variables.tf"]["variable"] for name, body in v.items()}
    assert variables["proxmox_api_token"]["sensitive"] is True
    assert "default" not in variables["proxmox_api_token"]
    assert variables["proxmox_insecure"]["default"] is False
    assert variables["proxmox_endpoint"]["default"] == '"https://pve1.example.internal:8006/"'
    assert terraform.render(fixture_inputs())["versions.tf"].count('version = "0.111.1"') == 1


def test_one_import_block_per_existing_guest_and_none_for_new_ones():
    docs = parsed(terraform.render(fixture_inputs()))
    imports = {i["to"]: i["id"] for i in docs["imports.tf"]["import"]}
    assert imports == {
        "${proxmox_virtual_environment_vm.web_1}": '"pve1/101"',
        "${proxmox_virtual_environment_vm.db_1}": '"pve2/103"',
        "${proxmox_virtual_environment_vm.ubuntu_tmpl}": '"pve1/9000"',
        "${proxmox_virtual_environment_container.dns_1}": '"pve1/201"',
        "${proxmox_virtual_environment_container.cache_1}": '"pve3/202"',
    }
    declared = set(resources(docs))
    assert {to[2:-1] for to in imports} <= declared


def test_clone_references_the_template_resource_instead_of_copying_its_id():
    found = resources(parsed(terraform.render(fixture_inputs())))
    clone = found["proxmox_virtual_environment_vm.app_1"]["clone"][0]
    assert clone["vm_id"] == "${proxmox_virtual_environment_vm.ubuntu_tmpl.vm_id}"
    # The template lives on pve1, the clone on pve2: the source node is referenced too.
    assert clone["node_name"] == "${proxmox_virtual_environment_vm.ubuntu_tmpl.node_name}"
    assert clone["full"] is True
    for address, body in found.items():
        for ref in references(body):
            target = ".".join(ref.split(".")[:2])
            assert target in found, f"{address} references undeclared {target}"


def test_clone_of_a_guest_without_manifest_uses_its_vmid_and_an_unknown_source_is_refused():
    inputs = fixture_inputs()
    guests = [g for g in inputs.guests if g.name != "ubuntu-tmpl"]
    files = terraform.render(inputs.model_copy(update={"guests": guests}), {"ubuntu-tmpl": 9000})
    app = resources(parsed(files))["proxmox_virtual_environment_vm.app_1"]
    assert app["clone"][0]["vm_id"] == 9000
    with pytest.raises(ManifestError, match="clone source 'ubuntu-tmpl'"):
        terraform.render(inputs.model_copy(update={"guests": guests}))


def test_guest_settings_reach_the_resource():
    found = resources(parsed(terraform.render(fixture_inputs())))
    web = found["proxmox_virtual_environment_vm.web_1"]
    assert (web["vm_id"], web["pool_id"], web["tags"]) == (101, '"prod"', ['"prod"', '"web"'])
    assert (web["started"], web["on_boot"], web["agent"][0]["enabled"]) == (True, True, True)
    assert web["cpu"][0]["cores"] == 2 and web["memory"][0]["dedicated"] == 2048
    db = found["proxmox_virtual_environment_vm.db_1"]
    assert [d["size"] for d in db["disk"]] == [64, 200]
    assert [n["vlan_id"] for n in db["network_device"] if "vlan_id" in n] == [20]
    assert db["started"] is False and db["hook_script_file_id"] == '"local:snippets/db.sh"'
    tmpl = found["proxmox_virtual_environment_vm.ubuntu_tmpl"]
    assert tmpl["template"] is True and tmpl["started"] is False
    app = found["proxmox_virtual_environment_vm.app_1"]["initialization"][0]
    assert app["ip_config"][0]["ipv4"][0] == {
        "address": '"10.0.0.50/24"',
        "gateway": '"10.0.0.1"',
        "__is_block__": True,
    }
    assert app["user_account"][0]["username"] == '"ops"'
    cache_1 = found["proxmox_virtual_environment_container.cache_1"]
    assert (
        cache_1["mount_point"][0]["path"] == '"/var/cache"' and cache_1["mount_point"][0]["size"] == '"10G"'
    )
    log = found["proxmox_virtual_environment_container.log_1"]
    assert log["operating_system"][0]["template_file_id"].startswith('"local:vztmpl/debian-12')


def test_rendering_is_deterministic_and_independent_of_input_order():
    inputs = fixture_inputs()
    first = terraform.render(inputs)
    shuffled = inputs.model_copy(update={"guests": list(reversed(inputs.guests))})
    assert terraform.render(shuffled) == first
    assert terraform.render(inputs) == first


def test_no_credential_in_any_file():
    for text in terraform.render(fixture_inputs()).values():
        assert SECRET not in text
        assert "PVEAPIToken" not in text


def test_an_unsafe_guest_name_is_refused():
    inputs = fixture_inputs()
    bad = [*inputs.guests, GuestSpec(kind="vm", name="../x", node="pve1")]
    with pytest.raises(ManifestError, match=r"Refusing guest name '\.\./x'"):
        terraform.render(inputs.model_copy(update={"guests": bad}))


def test_terraform_fmt_accepts_the_output(tmp_path):
    binary = require_binary("terraform", "`terraform fmt -check` cannot run here")
    for path, text in terraform.render(fixture_inputs()).items():
        (tmp_path / path).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [binary, "fmt", "-check", "-diff", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_settings_whose_provider_default_differs_from_pves_are_spelled_out():
    inputs = fixture_inputs()
    log = next(g for g in inputs.guests if g.name == "log-1").model_copy(update={"swap": None})
    guests = [g for g in inputs.guests if g.name != "log-1"] + [log]
    found = resources(parsed(terraform.render(inputs.model_copy(update={"guests": guests}))))
    vm = "proxmox_virtual_environment_vm"
    assert found[f"{vm}.web_1"]["scsi_hardware"] == '"virtio-scsi-pci"'
    assert found[f"{vm}.db_1"]["scsi_hardware"] == '"lsi"'
    assert found[f"{vm}.db_1"]["cpu"][0]["type"] == '"kvm64"'
    # A clone inherits its template's controller rather than PVE's default.
    assert found[f"{vm}.app_1"]["scsi_hardware"] == '"virtio-scsi-pci"'
    assert found["proxmox_virtual_environment_container.log_1"]["memory"][0]["swap"] == 512
    assert found["proxmox_virtual_environment_container.cache_1"]["memory"][0]["swap"] == 0
    assert all(body.get("on_boot", body.get("start_on_boot")) is not None for body in found.values())


@pytest.mark.parametrize(
    ("state", "current", "started"),
    [
        ("running", "stopped", True),
        ("stopped", "running", False),
        (None, "running", True),
        (None, "stopped", False),
        (None, None, None),
    ],
    ids=["manifest-running", "manifest-stopped", "now-running", "now-stopped", "unknown"],
)
def test_started_follows_the_manifest_else_the_current_state(state, current, started):
    inputs = fixture_inputs()
    guests = [
        g.model_copy(update={"state": state, "current_status": current}) if g.name == "web-1" else g
        for g in inputs.guests
    ]
    web = resources(parsed(terraform.render(inputs.model_copy(update={"guests": guests}))))[
        "proxmox_virtual_environment_vm.web_1"
    ]
    assert web.get("started") == started

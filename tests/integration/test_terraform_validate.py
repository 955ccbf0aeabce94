"""Real `terraform init`, `terraform validate` and a mocked `terraform test` plan on generated Terraform, offline.

Terraform attaches to a schema-only bpg/proxmox provider served by this test run (tests/helpers/tfprovider.py),
so its own decoder checks every block, argument, type and reference against the pinned provider's schema;
init can install nothing (see tfprovider.CLI_CONFIG), so no registry is ever asked. `validate` accepts an
`import` block whose target is not declared (a plan may generate it), so a plan on Terraform's mock of the
same provider checks the import blocks too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxmox_mpc.generators import terraform
from tests.helpers.tfprovider import SchemaOnlyProvider, run_terraform, serve, terraform_env
from tests.helpers.tools import require_binary
from tests.unit.generators.inputs import fixture_inputs

VM = "proxmox_virtual_environment_vm"
CT = "proxmox_virtual_environment_container"


@pytest.fixture(scope="module")
def terraform_binary() -> str:
    return require_binary("terraform", "`terraform validate` cannot run here")


@pytest.fixture(scope="module")
def provider() -> Iterator[SchemaOnlyProvider]:
    with serve() as running:
        yield running


PLAN_TEST = """\
# Terraform's own test runner plans the configuration against a mock of the provider, which answers
# with values made from the served schema. Every declared resource is overridden, so that importing
# it needs no cluster; an import whose target is not declared still fails, as in a real plan.
mock_provider "proxmox" {}

variables {
  proxmox_api_token = "pmpc@pve!plan=not-a-secret"
}

run "plan" {
  command = plan
}
"""
RESOURCE = re.compile(r'^resource "([a-z0-9_]+)" "([a-z0-9_]+)"', re.MULTILINE)


@dataclass
class Checked:
    """What Terraform said of a directory: the step that failed ("" when none did) and all its output."""

    failed: str
    output: str

    @property
    def words(self) -> str:
        """The output with its line wrapping undone, to find a message Terraform wrapped."""
        return " ".join(self.output.split())


def check(binary: str, provider: SchemaOnlyProvider, directory: Path) -> Checked:
    """`terraform init`, `terraform validate`, then a plan with `terraform test` on a mocked provider."""
    env = terraform_env(provider, directory.parent / f"{directory.name}.tf-home")
    init = run_terraform(binary, ["init", "-backend=false", "-input=false"], directory, env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "Terraform has been successfully initialized!" in init.stdout
    validate = run_terraform(binary, ["validate"], directory, env)
    if validate.returncode != 0:
        return Checked("validate", validate.stdout + validate.stderr)
    declared = sorted(f"{t}.{n}" for f in directory.glob("*.tf") for t, n in RESOURCE.findall(f.read_text()))
    overrides = "".join(f"\noverride_resource {{\n  target = {address}\n}}\n" for address in declared)
    (directory / "pmpc-plan").mkdir()
    (directory / "pmpc-plan" / "plan.tftest.hcl").write_text(PLAN_TEST + overrides, encoding="utf-8")
    plan = run_terraform(binary, ["test", "-test-directory=pmpc-plan"], directory, env)
    output = validate.stdout + validate.stderr + plan.stdout + plan.stderr
    return Checked("plan" if plan.returncode != 0 else "", output)


def write_fixture_inputs(directory: Path) -> Path:
    """The unit tests' fixture cluster rendered: clones, guests to create, every guest kind."""
    directory.mkdir(parents=True)
    for name, text in terraform.render(fixture_inputs()).items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.mark.slow
def test_terraform_validate_accepts_what_pmpc_generates_from_the_cluster(
    cluster, cli, tmp_path, terraform_binary, provider
):
    out = tmp_path / "terraform"
    result = cli("generate", "terraform", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "imports.tf").read_text(encoding="utf-8").count("import {") >= 7
    provider.calls.clear()
    checked = check(terraform_binary, provider, out)
    assert checked.failed == "", checked.output
    assert "Success! The configuration is valid." in checked.output
    assert "Success! 1 passed, 0 failed." in checked.output
    # Terraform asked the attached provider, and checked each guest kind with it.
    assert ("GetProviderSchema", "") in provider.calls
    assert {("ValidateResourceConfig", VM), ("ValidateResourceConfig", CT)} <= set(provider.calls)
    assert not (out / ".terraform.lock.hcl").exists(), "nothing was installed, so nothing is locked"


def test_terraform_validate_accepts_clones_and_guests_to_create(tmp_path, terraform_binary, provider):
    out = write_fixture_inputs(tmp_path / "terraform")
    assert f"{VM}.ubuntu_tmpl.vm_id" in (out / "vms.tf").read_text(encoding="utf-8")
    checked = check(terraform_binary, provider, out)
    assert checked.failed == "", checked.output


# case: (file, generated text, broken text, the step that fails, what Terraform says)
BROKEN = {
    "unknown-attribute": (
        "vms.tf",
        '  scsi_hardware       = "lsi"\n',
        '  scsi_hardware       = "lsi"\n  scsi_controller     = "lsi"\n',
        "validate",
        'Error: Unsupported argument on vms.tf line 57, in resource "proxmox_virtual_environment_vm" "db_1": '
        '57: scsi_controller = "lsi" An argument named "scsi_controller" is not expected here.',
    ),
    "unknown-block": (
        "containers.tf",
        "  cpu {\n    cores = 1\n  }\n\n  memory {\n    dedicated = 512\n",
        "  cpu {\n    cores = 1\n  }\n\n  ram {\n    dedicated = 512\n",
        "validate",
        'Error: Unsupported block type on containers.tf line 18, in resource "proxmox_virtual_environment_container"'
        ' "dns_1": 18: ram { Blocks of type "ram" are not expected here.',
    ),
    "missing-required-argument": (
        "vms.tf",
        '  name          = "web-1"\n  node_name     = "pve1"\n',
        '  name          = "web-1"\n',
        "validate",
        'Error: Missing required argument on vms.tf line 6, in resource "proxmox_virtual_environment_vm" "web_1": '
        '6: resource "proxmox_virtual_environment_vm" "web_1" { The argument "node_name" is required, '
        "but no definition was found.",
    ),
    "wrong-type": (
        "vms.tf",
        "    cores   = 2\n    sockets = 1\n",
        '    cores   = "two"\n    sockets = 1\n',
        "validate",
        'Error: Incorrect attribute value type on vms.tf line 21, in resource "proxmox_virtual_environment_vm" '
        '"web_1": 21: cores = "two" Inappropriate value for attribute "cores": a number is required.',
    ),
    "dangling-reference": (
        "vms.tf",
        f"    vm_id     = {VM}.ubuntu_tmpl.vm_id\n",
        f"    vm_id     = {VM}.ubuntu_template.vm_id\n",
        "validate",
        f'Error: Reference to undeclared resource on vms.tf line 110, in resource "{VM}" "app_1": '
        f'110: vm_id = {VM}.ubuntu_template.vm_id A managed resource "{VM}" "ubuntu_template" has not been '
        "declared in the root module.",
    ),
    "unknown-resource-type": (
        "containers.tf",
        f'resource "{CT}" "dns_1"',
        'resource "proxmox_virtual_environment_lxc" "dns_1"',
        "validate",
        "Error: Invalid resource type on containers.tf line 6, in resource "
        '"proxmox_virtual_environment_lxc" "dns_1": 6: resource "proxmox_virtual_environment_lxc" "dns_1" { '
        'The provider bpg/proxmox does not support resource type "proxmox_virtual_environment_lxc".',
    ),
    # `terraform validate` lets this one through (a plan with -generate-config-out may write the missing
    # resource), so the plan catches it.
    "import-of-an-undeclared-resource": (
        "imports.tf",
        f"  to = {VM}.web_1\n",
        f"  to = {VM}.web_01\n",
        "plan",
        f"Error: Configuration for import target does not exist on imports.tf line 18, in import: 18: to = "
        f"{VM}.web_01 The configuration for the given import target {VM}.web_01 does not exist.",
    ),
}


@pytest.mark.parametrize(("file", "generated", "broken", "step", "error"), BROKEN.values(), ids=BROKEN.keys())
def test_terraform_rejects_a_broken_file(tmp_path, terraform_binary, provider, file, generated, broken, step, error):
    out = write_fixture_inputs(tmp_path / "terraform")
    path = out / file
    text = path.read_text(encoding="utf-8")
    assert text.count(generated) == 1, f"the generated {file} no longer holds the text this case breaks"
    path.write_text(text.replace(generated, broken), encoding="utf-8")
    checked = check(terraform_binary, provider, out)
    assert checked.failed == step, checked.output
    assert error in checked.words, checked.output

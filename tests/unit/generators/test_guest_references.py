"""What names guests (backup jobs, HA resources, HA rules) comes after them in both generators."""

from __future__ import annotations

import subprocess

import yaml
from tests.helpers.tools import require_binary

from proxmox_mpc.generators import ansible, terraform
from proxmox_mpc.generators.model import GenerateInputs, GuestSpec, resource_spec
from proxmox_mpc.kinds.backup_job import KIND as JOBS
from proxmox_mpc.kinds.ha import KIND as HA
from proxmox_mpc.kinds.ha_rule import KIND as RULES
from proxmox_mpc.kinds.pool import KIND as POOLS


def _inputs() -> GenerateInputs:
    manifests = [
        (HA, {"kind": "HAResource", "name": "vm:150"}),
        (HA, {"kind": "HAResource", "name": "ct:201"}),
        (RULES, {"kind": "HARule", "name": "apart",
                 "spec": {"type": "resource-affinity", "resources": ["vm:150", "ct:201"], "affinity": "negative"}}),
        (JOBS, {"kind": "BackupJob", "name": "nightly", "spec": {"schedule": "02:30", "vmids": [150, 999]}}),
        (POOLS, {"kind": "Pool", "name": "prod"}),
    ]
    resources = [resource_spec(k, k.model.model_validate(m), exists=False) for k, m in manifests]
    guests = [
        GuestSpec(kind="vm", name="new-1", node="pve1", vmid=150),
        GuestSpec(kind="ct", name="dns-1", node="pve1", vmid=201, exists=True),
    ]
    return GenerateInputs(guests=guests, resources=resources)


def test_terraform_makes_what_names_a_guest_depend_on_it(tmp_path):
    files = terraform.render(_inputs())
    ha = files["ha.tf"]
    assert "depends_on  = [proxmox_virtual_environment_vm.new_1]" in ha
    assert "depends_on  = [proxmox_virtual_environment_container.dns_1]" in ha
    assert "depends_on = [proxmox_haresource.ct_201, proxmox_haresource.vm_150]" in ha
    # A VMID that is no guest here (an existing one) names nothing to wait for; a pool waits for nothing.
    assert "depends_on = [proxmox_virtual_environment_vm.new_1]" in files["backup-jobs.tf"]
    assert "depends_on" not in files["pools.tf"]
    binary = require_binary("terraform", "`terraform fmt -check` cannot run here")
    for path, text in files.items():
        (tmp_path / path).write_text(text, encoding="utf-8")
    done = subprocess.run([binary, "fmt", "-check", "-diff", str(tmp_path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ansible_provisions_the_pool_first_and_what_names_guests_after_them():
    play = yaml.safe_load(ansible.render(_inputs())["provision.yml"].replace("!unsafe ", ""))[0]
    names = [t["name"] for t in play["tasks"]]
    first_guest = next(i for i, n in enumerate(names) if "new-1" in n or "vm/150" in n)
    assert names.index("pool/prod exists") < first_guest
    later = [n for n in names[first_guest:] if n.endswith(" exists") and "/" in n.split()[0]]
    assert later[-1] == "harule/apart exists"
    assert {"ha/vm:150 exists", "ha/ct:201 exists", "backupjob/nightly exists"} <= set(later)


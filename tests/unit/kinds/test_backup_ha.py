"""BackupJob, HAResource and HARule as pure kinds: models, normalising, diffs, requests, references and
apply's ordering against the guests they name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_mpc.core.ordering import order_changes
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.kinds.backup_job import KIND as JOBS
from proxmox_mpc.kinds.backup_job import BackupJobManifest
from proxmox_mpc.kinds.ha import KIND as HA
from proxmox_mpc.kinds.ha import HAResourceManifest
from proxmox_mpc.kinds.ha_rule import KIND as RULES
from proxmox_mpc.kinds.ha_rule import HARuleManifest
from proxmox_mpc.kinds.plan import change_references, missing_references


def _job(**spec):
    return BackupJobManifest.model_validate({"kind": "BackupJob", "name": "nightly", "spec": spec})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"vmids": [101]}, "spec.schedule is required"),
        ({"schedule": "02:30"}, "exactly one of vmids, pool or all"),
        ({"schedule": "02:30", "all": True, "pool": "prod"}, "exactly one of vmids, pool or all"),
        ({"schedule": "02:30", "vmids": [101], "exclude": [102]}, "exclude goes with all: true or pool"),
        ({"schedule": "02:30", "all": True, "retention": {"keep-ever": 1}}, "not a retention option"),
        ({"schedule": "later", "all": True}, "is not a PVE calendar event"),
        ({"schedule": "02:30", "vmids": [5]}, "a VMID is a number from 100"),
    ],
    ids=["no-schedule", "no-selection", "two-selections", "exclude-with-list", "retention", "schedule", "vmid"],
)
def test_a_bad_backup_job_is_one_sentence(spec, message):
    with pytest.raises(ValidationError, match=message):
        _job(**spec)


def test_a_backup_job_normalises_pves_spellings_and_round_trips():
    observed = JOBS.normalise(
        {"id": "nightly", "type": "vzdump", "schedule": "sat 02:00", "vmid": "102,101", "storage": "local",
         "prune-backups": "keep-weekly=2,keep-last=3", "enabled": 1, "next-run": 1767232800}
    )
    assert observed is not None
    assert observed.data["vmids"] == "101,102" and observed.data["retention"] == "keep-last=3,keep-weekly=2"
    assert observed.data["all"] is False and observed.data["mode"] == "snapshot"
    manifest = JOBS.to_manifest(observed)
    assert manifest.spec.vmids == [101, 102] and manifest.spec.retention == {"keep-last": 3, "keep-weekly": 2}
    assert JOBS.diff(manifest, observed) is None


def test_switching_a_job_from_a_pool_to_a_list_clears_the_pool():
    observed = JOBS.normalise({"id": "nightly", "schedule": "02:30", "pool": "prod", "exclude": "103"})
    change = JOBS.diff(_job(schedule="02:30", vmids=[101]), observed)
    assert change is not None and change.action == "update"
    assert [(f.name, f.old, f.new) for f in change.fields] == [
        ("exclude", "103", ""),
        ("pool", "prod", ""),
        ("vmids", None, "101"),
    ]
    [request] = JOBS.requests(change)
    assert (request.method, request.path) == ("PUT", "/cluster/backup/nightly")
    assert request.params == {"vmid": "101", "delete": "exclude,pool"}


def test_a_new_job_creates_with_only_what_it_sets():
    change = JOBS.diff(_job(schedule="02:30", all=True, retention={"keep-last": 3}), None)
    assert change is not None
    assert [f.name for f in change.fields] == ["all", "retention", "schedule"]
    [request] = JOBS.requests(change)
    assert request.params == {"id": "nightly", "all": "1", "prune-backups": "keep-last=3", "schedule": "02:30"}


def test_ha_resource_ids_are_pves_and_defaults_compare_equal():
    manifest = HAResourceManifest.model_validate({"kind": "HAResource", "name": 101, "spec": {"max_restart": 1}})
    assert manifest.name == "vm:101" and manifest.address == "ha/vm:101"
    with pytest.raises(ValidationError, match="an HA resource id"):
        HAResourceManifest.model_validate({"kind": "HAResource", "name": "storage:local"})
    observed = HA.normalise({"sid": "vm:101", "type": "vm", "state": "enabled", "digest": "x"})
    assert observed is not None and observed.data["ha_state"] == "started"
    assert HA.diff(manifest, observed) is None
    assert HA.normalise({"sid": "fake"}) is None  # not a guest: not managed
    assert HA.to_manifest(observed).spec.model_dump(exclude_none=True) == {"ha_state": "started"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "node-affinity", "resources": ["vm:101"]}, "needs nodes"),
        ({"type": "resource-affinity", "resources": ["vm:101", "vm:102"]}, "needs affinity"),
        ({"type": "resource-affinity", "resources": ["vm:101"], "affinity": "positive"}, "two resources or more"),
        ({"type": "node-affinity", "resources": ["vm:101"], "nodes": {"pve1": 1}, "affinity": "positive"},
         "affinity goes with a resource-affinity"),
        ({"type": "node-affinity", "resources": ["x"], "nodes": {"pve1": 1}}, "an HA resource id"),
    ],
    ids=["no-nodes", "no-affinity", "one-resource", "affinity-on-node-rule", "bad-sid"],
)
def test_a_bad_ha_rule_is_one_sentence(spec, message):
    with pytest.raises(ValidationError, match=message):
        HARuleManifest.model_validate({"kind": "HARule", "name": "r", "spec": spec})


def test_an_ha_rule_normalises_nodes_and_resources_and_a_new_type_replaces_it():
    observed = RULES.normalise(
        {"rule": "r", "type": "node-affinity", "resources": "vm:102,vm:101", "nodes": "pve2,pve1:2", "strict": 0}
    )
    assert observed is not None
    assert (observed.data["resources"], observed.data["nodes"]) == ("vm:101,vm:102", "pve1:2,pve2")
    assert RULES.diff(RULES.to_manifest(observed), observed) is None
    other = HARuleManifest.model_validate(
        {"kind": "HARule", "name": "r",
         "spec": {"type": "resource-affinity", "resources": ["vm:101", "vm:102"], "affinity": "negative"}}
    )
    change = RULES.diff(other, observed)
    assert change is not None and change.action == "replace"
    delete, create = RULES.requests(change)
    assert (delete.method, create.method) == ("DELETE", "POST")
    assert create.params == {
        "rule": "r", "affinity": "negative", "resources": "vm:101,vm:102", "type": "resource-affinity"
    }


def test_references_to_guests_pass_when_they_exist_or_are_described_and_judge_the_type():
    job = _job(schedule="02:30", vmids=[101, 150, 999])
    ha = HAResourceManifest.model_validate({"kind": "HAResource", "name": "vm:201"})
    observed = {"pool": [], "ha": []}
    missing = missing_references([job, ha], observed, {"vm/150"}, {"vm/101", "ct/201"})
    assert [(m.address, r.address) for m, r in missing] == [
        ("backupjob/nightly", "guest/999"),
        ("ha/vm:201", "vm/201"),  # 201 is a container
    ]
    # Guests unknown (no live read): not judged.
    assert missing_references([job, ha], observed, set(), None) == []


def _guest(action: str, vmid: int, name: str) -> Change:
    return Change(address=f"vm/{name}", kind="vm", vmid=vmid, node="pve1", action=action, fields=[])


def _stages(changes: list[Change]) -> list[list[str]]:
    return [[c.address for c in stage] for stage in order_changes(changes, change_references(changes))]


def test_apply_makes_a_guest_before_what_names_it_and_deletes_in_reverse():
    ha = Change(address="ha/vm:150", kind="ha", action="create", fields=[FieldChange(name="max_restart", new="2")])
    job = Change(address="backupjob/j", kind="backupjob", action="create",
                 fields=[FieldChange(name="vmids", new="101,150")])
    rule = Change(address="harule/r", kind="harule", action="create",
                  fields=[FieldChange(name="resources", new="vm:150")])
    assert _stages([rule, ha, job, _guest("create", 150, "new-1")]) == [
        ["vm/new-1"],
        ["ha/vm:150", "backupjob/j"],
        ["harule/r"],
    ]
    gone = FieldChange(name="state", old="present", new="absent")
    deletes = [
        _guest("delete", 150, "new-1"),
        Change(address="ha/vm:150", kind="ha", action="delete", fields=[gone]),
        Change(address="harule/r", kind="harule", action="delete",
               fields=[gone, FieldChange(name="resources", old="vm:150")]),
        Change(address="pool/batch", kind="pool", action="delete", fields=[gone]),
    ]
    # The rule before its HA resource, that before its guest; a pool after its members.
    assert _stages(deletes) == [["harule/r"], ["ha/vm:150"], ["vm/new-1"], ["pool/batch"]]

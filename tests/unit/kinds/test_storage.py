"""Storage definitions: one model per type, PVE's shapes both ways, replace, secrets, and the generators."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.helpers.ansible import needs_community_proxmox
from tests.unit.generators.test_ansible import check_options, load
from tests.unit.generators.test_terraform import check_body, parsed, resources, schema
from tests.unit.kinds.test_registry import _ansible_doc

from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.retention import Retention, canonical
from proxmox_mpc.generators import ansible, terraform
from proxmox_mpc.generators.model import GenerateInputs, resource_spec
from proxmox_mpc.kinds.base import Resource
from proxmox_mpc.kinds.storage import KIND, TYPES, StorageManifest
from proxmox_mpc.services.manifests import parse_text
from proxmox_mpc.services.resources import secret_values

FINGERPRINT = ":".join(["ab"] * 32)
# One manifest of each type, with every field pmpc models for it.
EXAMPLES: dict[str, dict[str, Any]] = {
    "dir": {"type": "dir", "path": "/srv/pve", "shared": True, "content": ["iso", "vztmpl"], "nodes": ["pve1"]},
    "nfs": {
        "type": "nfs",
        "server": "10.0.0.5",
        "export": "/export/pve",
        "options": "vers=4.2",
        "content": ["backup"],
        "prune_backups": {"keep_last": 3},
        "max_protected_backups": 5,
    },
    "cifs": {
        "type": "cifs",
        "server": "files",
        "share": "pve",
        "username": "svc",
        "domain": "CORP",
        "subdir": "/backups",
        "smbversion": "3",
        "password_env": "SHARE_PASSWORD",
        "content": ["backup", "iso"],
    },
    "lvm": {"type": "lvm", "vgname": "san", "shared": True, "saferemove": True, "content": ["images"]},
    "lvmthin": {"type": "lvmthin", "vgname": "pve", "thinpool": "data", "content": ["images", "rootdir"]},
    "zfspool": {"type": "zfspool", "pool": "rpool/data", "blocksize": "16k", "sparse": True, "disable": False},
    "pbs": {
        "type": "pbs",
        "server": "pbs.example.com",
        "datastore": "store1",
        "namespace": "cluster-a",
        "port": 8007,
        "username": "pve@pbs",
        "fingerprint": FINGERPRINT,
        "password_env": "PBS_PASSWORD",
        "encryption_key_env": "PBS_KEY",
        "prune_backups": {"keep_daily": 7, "keep_weekly": 4},
    },
}


def manifest(kind: str, name: str = "s1") -> StorageManifest:
    return StorageManifest.model_validate({"kind": "Storage", "name": name, "spec": EXAMPLES[kind]})


def test_every_type_pmpc_manages_has_an_example():
    assert set(EXAMPLES) == set(TYPES)


@pytest.mark.parametrize("kind", TYPES)
def test_a_create_round_trips_through_what_pve_lists(kind: str):
    wanted = manifest(kind)
    create = KIND.diff(wanted, None)
    assert create is not None and create.action == "create"
    (request,) = KIND.requests(create)
    assert (request.method, request.path, request.params["type"]) == ("POST", "/storage", kind)
    assert not {"password", "encryption-key", "password_env"} & set(request.params)
    # PVE lists the definition with its options (lists comma-joined, flags as 1), secrets left out.
    observed = KIND.normalise({**request.params, "digest": "x"})
    assert observed is not None and observed.address == "storage/s1"
    assert KIND.diff(wanted, observed) is None
    imported = KIND.to_manifest(observed)
    assert KIND.diff(imported, observed) is None
    # An import cannot know a secret: the manifest names no variable until someone writes one.
    secrets = {"password_env", "encryption_key_env"}
    assert not secrets & set(imported.spec.model_dump(exclude_none=True))


def test_pve_spellings_compare_equal():
    observed = KIND.normalise(
        {
            "storage": "nas",
            "type": "nfs",
            "server": "10.0.0.5",
            "export": "/export/pve",
            "path": "/mnt/pve/nas",
            "content": "iso,backup",
            "prune-backups": "keep-daily=7,keep-last=3",
            "shared": 1,  # PVE adds it to every NFS storage: not an option of the type, so not compared
        }
    )
    assert observed is not None and "shared" not in observed.data
    assert observed.data["content"] == "backup,iso"
    assert observed.data["prune-backups"] == "keep-last=3,keep-daily=7"
    wanted = StorageManifest.model_validate(
        {
            "kind": "Storage",
            "name": "nas",
            "spec": {
                "type": "nfs",
                "server": "10.0.0.5",
                "export": "/export/pve",
                "content": ["iso", "backup"],
                "prune_backups": {"keep_daily": 7, "keep_last": 3},
                "disable": False,
            },
        }
    )
    assert KIND.diff(wanted, observed) is None


def test_an_update_sends_what_changes_and_deletes_what_goes():
    observed = Resource(kind="storage", id="local", data={"type": "dir", "path": "/var/lib/vz", "nodes": "pve1"})
    wanted = StorageManifest.model_validate(
        {
            "kind": "Storage",
            "name": "local",
            "spec": {"type": "dir", "path": "/var/lib/vz", "nodes": [], "disable": True},
        }
    )
    change = KIND.diff(wanted, observed)
    assert change is not None and change.action == "update"
    assert KIND.requests(change)[0].model_dump() == {
        "method": "PUT",
        "path": "/storage/local",
        "params": {"disable": "1", "delete": "nodes"},
    }


def test_a_fixed_option_replaces_and_the_replace_keeps_the_options_left_alone():
    observed = KIND.normalise(
        {
            "storage": "nas",
            "type": "nfs",
            "server": "a",
            "export": "/e",
            "path": "/mnt/pve/nas",
            "content": "backup",
            "options": "vers=3",
        }
    )
    assert observed is not None
    wanted = StorageManifest.model_validate(
        {"kind": "Storage", "name": "nas", "spec": {"type": "nfs", "server": "b", "export": "/e"}}
    )
    change = KIND.diff(wanted, observed)
    assert change is not None and change.action == "replace"
    assert [(f.name, f.forces_replacement) for f in change.fields] == [("server", True)]
    current = {"storage": "nas", "digest": "d", "shared": 1, **observed.data}
    delete, create = KIND.replace_requests(change, current)
    assert (delete.method, delete.path) == ("DELETE", "/storage/nas")
    assert create.params == {
        "storage": "nas",
        "type": "nfs",
        "server": "b",
        "export": "/e",
        "path": "/mnt/pve/nas",
        "content": "backup",
        "options": "vers=3",
    }
    # A new type keeps only what is not fixed and belongs to it.
    retyped = StorageManifest.model_validate(
        {"kind": "Storage", "name": "nas", "spec": {"type": "dir", "path": "/srv/nas"}}
    )
    change = KIND.diff(retyped, observed)
    assert change is not None and change.action == "replace"
    _, create = KIND.replace_requests(change, current)
    assert create.params == {"storage": "nas", "type": "dir", "path": "/srv/nas", "content": "backup"}


def test_secrets_are_named_by_variable_read_at_apply_and_missing_ones_refused():
    create = KIND.diff(manifest("pbs"), None)
    assert create is not None
    named = {f.name: f.new for f in create.fields}
    assert (named["password_env"], named["encryption_key_env"]) == ("PBS_PASSWORD", "PBS_KEY")
    assert secret_values(create, {"PBS_PASSWORD": "pw", "PBS_KEY": "{key}"}) == {
        "password": "pw",
        "encryption-key": "{key}",
    }
    from proxmox_mpc.errors import ConfigError

    with pytest.raises(ConfigError, match=r"storage/s1: the environment variable PBS_KEY \(spec.encryption_key_env\)"):
        secret_values(create, {"PBS_PASSWORD": "pw"})
    # An update of other fields sends no secret; a fixed change (a replace) sends them again.
    observed = KIND.normalise({**KIND.requests(create)[0].params})
    assert observed is not None
    moved = manifest("pbs").spec.model_copy(update={"datastore": "s2"})
    change = KIND.diff(manifest("pbs").model_copy(update={"spec": moved}), observed)
    assert change is not None and change.action == "replace"
    assert {"password_env", "encryption_key_env"} <= {f.name for f in change.fields}


def test_deleting_a_storage_guests_use_is_refused_naming_them():
    guest = ObservedGuest(vmid=101, name="web", node="pve1", kind="vm", status="running")
    guest.config = {"scsi0": "s1:vm-101-disk-0,size=8G", "ide2": "local:iso/x.iso,media=cdrom", "unused0": "s1:v"}
    gone = manifest("lvm").spec.model_copy(update={"state": "absent"})
    delete = KIND.diff(manifest("lvm").model_copy(update={"spec": gone}), Resource(kind="storage", id="s1", data={}))
    assert delete is not None
    why = KIND.in_use(delete, [guest])
    assert why is not None and "vm/101 (scsi0, unused0)" in why
    assert KIND.in_use(delete, []) is None


@pytest.mark.parametrize(
    ("spec", "at", "message"),
    [
        ({"type": "lvm", "vgname": "pve", "path": "/x"}, "path: /x", "spec.path: unknown field"),
        ({"type": "rbd", "pool": "x"}, "type: rbd", "spec: type must be one of dir, nfs, cifs, lvm, lvmthin, zfspool"),
        ({"type": "pbs", "server": "s", "datastore": "d", "content": ["iso"]}, "- iso", "a pbs storage holds backup"),
        ({"type": "nfs", "server": "s", "export": "relative"}, "export: relative", "spec.export: "),
        ({"type": "cifs", "server": "s", "share": "x", "password_env": "P"}, "password_env: P", "goes with a username"),
        ({"type": "dir", "path": "/x", "config": {"vgname": "y"}}, "vgname: y", "'vgname' is not an option of a dir"),
        ({"type": "dir", "path": "/x", "config": {"path": "/y"}}, "path: /y", "path has its own field"),
        ({"type": "dir", "path": "/x", "prune_backups": {"keep_all": True, "keep_last": 1}}, "keep_all: true", "drop"),
    ],
)
def test_a_bad_manifest_is_refused_at_its_line_and_column(spec: dict[str, Any], at: str, message: str):
    text = yaml.safe_dump({"kind": "Storage", "name": "s1", "spec": spec}, sort_keys=False)
    # Where the value is: a mapping's or list's first item, a scalar itself.
    line = next(i for i, r in enumerate(text.splitlines(), 1) if r.strip() == at)
    loaded, problems = parse_text(text, "s1.yaml")
    assert loaded == []
    shown = [str(p) for p in problems]
    assert any(s.startswith(f"s1.yaml:{line}:") and message in s for s in shown), (text, shown)


def test_retention_round_trips_pve_spelling():
    keep = Retention.from_pve("keep-weekly=2,keep-last=1")
    assert keep == Retention(keep_last=1, keep_weekly=2)
    assert keep.to_pve() == "keep-last=1,keep-weekly=2"
    assert Retention.from_pve("keep-all=1") == Retention(keep_all=True)
    assert canonical("") is None and canonical("whatever") == "whatever"


def _inputs(kind: str) -> GenerateInputs:
    return GenerateInputs(resources=[resource_spec(KIND, manifest(kind), exists=True)])


@pytest.mark.parametrize("kind", TYPES)
def test_terraform_of_every_type_matches_its_bpg_resource_and_imports_by_id(kind: str):
    files = terraform.render(_inputs(kind))
    ((address, body),) = resources(parsed(files)).items()
    rtype = KIND.terraform_type(manifest(kind))
    assert address == f"{rtype}.s1"
    assert check_body(body, schema()["resource_schemas"][rtype]["block"], address) == []
    assert f'to = {address}\n  id = "s1"' in files["imports.tf"]


def test_terraform_reads_secrets_from_sensitive_variables():
    files = terraform.render(_inputs("pbs"))
    text = files["storages.tf"]
    assert "var.pbs_password" in text and "var.pbs_key" in text
    variables = parsed(files)["variables.tf"]["variable"]
    declared = {name.strip('"'): body for v in variables for name, body in v.items()}
    assert declared["pbs_password"]["sensitive"] is True and declared["pbs_key"]["sensitive"] is True
    assert "TF_VAR_pbs_password" in files["variables.tf"]
    assert "pbs_password" not in terraform.render(_inputs("nfs"))["variables.tf"]


@needs_community_proxmox
@pytest.mark.parametrize("kind", [k for k in TYPES if k not in ("lvm", "lvmthin")])
def test_ansible_of_every_module_type_uses_real_options(kind: str):
    play = load(ansible.render(_inputs(kind))["provision.yml"])[0]
    (task,) = play["tasks"]
    assert check_options(task["name"], _ansible_doc(KIND.ansible.module)["options"], task[KIND.ansible.module]) == []
    assert task.get("no_log", False) is (kind in ("cifs", "pbs"))
    if kind in ("cifs", "pbs"):
        options = task[KIND.ansible.module][f"{kind}_options"]
        assert options["password"] == "{{ lookup('ansible.builtin.env', '" + EXAMPLES[kind]["password_env"] + "') }}"


@needs_community_proxmox
@pytest.mark.parametrize("kind", ["lvm", "lvmthin"])
def test_ansible_creates_lvm_types_through_the_api(kind: str):
    (task,) = load(ansible.render(_inputs(kind))["provision.yml"])[0]["tasks"]
    call = task["ansible.builtin.uri"]
    assert check_options(task["name"], _ansible_doc("ansible.builtin.uri")["options"], call) == []
    assert call["url"].endswith("/api2/json/storage/s1") and call["method"] == "PUT"
    # An update leaves out what PVE fixes at create time.
    assert "type" not in call["body"] and "vgname" not in call["body"]
    assert call["body"]["content"] == ",".join(EXAMPLES[kind]["content"])
    assert task["no_log"] is True  # the API token is in its headers
    created = GenerateInputs(resources=[resource_spec(KIND, manifest(kind), exists=False)])
    (task,) = load(ansible.render(created)["provision.yml"])[0]["tasks"]
    call = task["ansible.builtin.uri"]
    assert call["url"].endswith("/api2/json/storage") and call["method"] == "POST"
    assert call["body"]["type"] == kind and call["body"]["storage"] == "s1" and call["body"]["vgname"]


@pytest.mark.parametrize("kind", ["pbs", "nfs"])
def test_terraform_fmt_accepts_storages_and_their_variables(kind: str, tmp_path):
    import subprocess

    from tests.helpers.tools import require_binary

    binary = require_binary("terraform", "`terraform fmt -check` cannot run here")
    for path, text in terraform.render(_inputs(kind)).items():
        (tmp_path / path).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [binary, "fmt", "-check", "-diff", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_community_proxmox
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pbs", "lvm"])
def test_ansible_syntax_check_passes_for_secrets_and_uri_calls(kind: str, tmp_path):
    from tests.unit.generators.test_ansible import run_tool

    for rel, text in ansible.render(_inputs(kind)).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    done = run_tool("ansible-playbook", "--syntax-check", "provision.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_secret_s_variable_name_is_checked_as_a_user_s_is():
    spec = {**EXAMPLES["cifs"], "password_env": "1NAS-PW"}
    with pytest.raises(ValueError, match="'1NAS-PW' is not an environment variable name"):
        StorageManifest.model_validate({"kind": "Storage", "name": "s1", "spec": spec})

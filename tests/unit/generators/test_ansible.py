"""Generated Ansible: inventory groups, real module options with valid values, syntax and inventory checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.helpers.ansible import needs_community_proxmox
from tests.unit.generators.inputs import SECRET, fixture_inputs

from proxmox_mpc.errors import ManifestError
from proxmox_mpc.generators import ansible
from proxmox_mpc.generators.model import GuestSpec

MODULES = ("community.proxmox.proxmox_kvm", "community.proxmox.proxmox")
TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "raw": (object,),
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (Ansible warns and keeps the last one)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


class Unsafe(str):
    """A string Ansible will never template (the `!unsafe` tag)."""


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
_UniqueKeyLoader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))


def load(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)


def tool(name: str) -> str | None:
    """Find an Ansible command next to this Python first (the venv), then on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def run_tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = tool(name)
    if binary is None:
        pytest.skip(f"{name} is not installed (pip install ansible)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_", "ANSIBLE_"))}
    env.update(
        ANSIBLE_LOCAL_TEMP=str(cwd / ".ansible-tmp"),
        ANSIBLE_HOME=str(cwd / ".ansible-home"),
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False
    )


@cache
def module_docs() -> dict[str, Any]:
    """Return `ansible-doc -j` for the playbook's modules (offline: the collection ships with ansible)."""
    binary = tool("ansible-doc")
    if binary is None:
        pytest.skip("ansible-doc is not installed (pip install ansible)")
    done = subprocess.run([binary, "-j", *MODULES], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return {name: data["doc"] for name, data in json.loads(done.stdout).items()}


def check_value(where: str, spec: dict[str, Any], value: Any) -> list[str]:
    if isinstance(value, str) and "{{" in value:
        return []  # a template: its value exists only when the play runs
    kind = spec.get("type", "str")
    allowed = TYPES.get(kind, (object,))
    if (kind == "int" and isinstance(value, bool)) or not isinstance(value, allowed):
        return [f"{where}: {value!r} is not a {kind}"]
    problems = []
    # The choices of a list option are those of each element (as Ansible checks them).
    if spec.get("choices") and kind != "list" and value not in spec["choices"]:
        problems.append(f"{where}: {value!r} is not one of {spec['choices']}")
    sub = spec.get("suboptions")
    if kind == "list":
        element = (
            {"type": spec.get("elements", "raw"), "suboptions": sub}
            if sub
            else {"type": spec.get("elements", "raw")}
        )
        if spec.get("choices"):
            element["choices"] = spec["choices"]
        for index, item in enumerate(value):
            problems += check_value(f"{where}[{index}]", element, item)
    if isinstance(value, dict) and sub:
        problems += check_options(where, sub, value)
    return problems


def check_options(where: str, options: dict[str, Any], args: dict[str, Any]) -> list[str]:
    """Return every option that the module does not have or whose value it would refuse."""
    names = {}
    for name, spec in options.items():
        names[name] = spec
        for alias in spec.get("aliases") or []:
            names[alias] = spec
    problems = []
    for key, value in args.items():
        if key not in names:
            problems.append(f"{where}.{key}: no such option")
            continue
        problems += check_value(f"{where}.{key}", names[key], value)
    for key, spec in options.items():
        if spec.get("required") and key not in args and not key.startswith("api_"):
            problems.append(f"{where}: required option {key} is missing")
    return problems


# The modules' own required_if, required_one_of and mutually_exclusive rules (not part of ansible-doc).
KVM_EXCLUSIVE = [
    ("delete", "revert"),
    ("delete", "update"),
    ("revert", "update"),
    ("clone", "update"),
    ("clone", "delete"),
    ("clone", "revert"),
]
LXC_EXCLUSIVE = [
    ("clone", "ostemplate"),
    ("clone", "update"),
    ("force", "update"),
    ("disk", "disk_volume"),
    ("storage", "disk_volume"),
    ("mounts", "mount_volumes"),
]


def check_module_rules(where: str, module: str, args: dict[str, Any]) -> list[str]:
    problems = []
    present = args.get("state", "present") == "present"
    if module == MODULES[0]:
        exclusive, one_of, needs = KVM_EXCLUSIVE, ("name", "vmid"), ["node"]
    else:
        exclusive, one_of, needs = LXC_EXCLUSIVE, ("vmid", "hostname"), ["node", "hostname"]
        if present and not any(args.get(k) not in (None, False) for k in ("clone", "ostemplate", "update")):
            problems.append(f"{where}: state=present needs one of clone, ostemplate, update")
    for a, b in exclusive:
        if a in args and b in args:
            problems.append(f"{where}: {a} and {b} exclude each other")
    if not any(k in args for k in one_of):
        problems.append(f"{where}: needs one of {', '.join(one_of)}")
    if present:
        problems += [f"{where}: state=present needs {k}" for k in needs if k not in args]
    return problems


def render(tmp_path: Path, **changes: Any) -> dict[str, str]:
    files = ansible.render(fixture_inputs(**changes))
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return files


def provision_tasks(files: dict[str, str]) -> list[dict[str, Any]]:
    plays = load(files["provision.yml"])
    assert len(plays) == 1
    return plays[0]["tasks"]


def test_inventory_groups_by_node_tag_pool_and_kind_with_known_addresses():
    files = ansible.render(fixture_inputs())
    children = load(files["inventory/hosts.yml"])["all"]["children"]
    assert children["pmpc_guests"]["hosts"] == {
        "app-1": {"ansible_host": "10.0.0.50"},
        "cache-1": {"ansible_host": "10.0.0.12"},
        "db-1": {},
        "dns-1": {},
        "log-1": {},
        "web-1": {"ansible_host": "192.0.2.11"},
    }
    members = {name: sorted(group["hosts"]) for name, group in children.items() if name != "pmpc_guests"}
    assert members == {
        "kind_ct": ["cache-1", "dns-1", "log-1"],
        "kind_vm": ["app-1", "db-1", "web-1"],
        "node_pve1": ["dns-1", "web-1"],
        "node_pve2": ["app-1", "db-1", "log-1"],
        "node_pve3": ["cache-1"],
        "pool_prod": ["cache-1", "web-1"],
        "tag_app": ["app-1"],
        "tag_blue_green": ["cache-1"],
        "tag_cache": ["cache-1"],
        "tag_db": ["db-1"],
        "tag_infra": ["cache-1", "dns-1"],
        "tag_prod": ["web-1"],
        "tag_web": ["web-1"],
    }
    # Templates cannot be configured over SSH: they are provisioned, not inventoried.
    assert "inventory/host_vars/ubuntu-tmpl.yml" not in files
    web = load(files["inventory/host_vars/web-1.yml"])
    assert web == {
        "proxmox_vmid": 101,
        "proxmox_node": "pve1",
        "proxmox_kind": "vm",
        "proxmox_tags": ["prod", "web"],
        "proxmox_pool": "prod",
    }
    assert load(files["inventory/host_vars/app-1.yml"])["ansible_user"] == "ops"


@needs_community_proxmox
def test_every_module_option_exists_with_a_valid_value():
    docs = module_docs()
    files = ansible.render(fixture_inputs())
    play = load(files["provision.yml"])[0]
    problems = []
    defaults = play["module_defaults"]["group/community.proxmox.proxmox"]
    for module in MODULES:
        problems += check_options(f"module_defaults[{module}]", docs[module]["options"], defaults)
    tasks = play["tasks"]
    assert {next(k for k in t if k != "name") for t in tasks} == set(MODULES)
    for task in tasks:
        module = next(k for k in task if k != "name")
        args = task[module]
        problems += check_options(task["name"], docs[module]["options"], args)
        problems += check_module_rules(task["name"], module, args)
    assert problems == []


def test_the_module_rules_catch_what_the_modules_refuse():
    assert check_module_rules(
        "t", MODULES[1], {"vmid": 1, "node": "pve1", "update": True, "state": "present"}
    ) == ["t: state=present needs hostname"]
    assert check_module_rules("t", MODULES[1], {"hostname": "a", "node": "pve1", "update": False}) == [
        "t: state=present needs one of clone, ostemplate, update"
    ]
    assert check_module_rules("t", MODULES[0], {"clone": "x", "update": True, "name": "a", "node": "n"}) == [
        "t: clone and update exclude each other"
    ]


@needs_community_proxmox
def test_the_option_checker_catches_bad_options():
    docs = module_docs()
    options = docs[MODULES[0]]["options"]
    problems = check_options(
        "t",
        options,
        {
            "vmid": "101",
            "cores": 2,
            "memorry": 1,
            "ostype": "linux",
            "onboot": "yes",
            "tags": "web",
            "net": ["x"],
        },
    )
    assert sorted(problems) == sorted(
        [
            "t.vmid: '101' is not a int",
            "t.memorry: no such option",
            "t.ostype: 'linux' is not one of " + str(options["ostype"]["choices"]),
            "t.onboot: 'yes' is not a bool",
            "t.tags: 'web' is not a list",
            "t.net: ['x'] is not a dict",
        ]
    )
    lxc = docs[MODULES[1]]["options"]
    assert check_options("c", lxc, {"mount_volumes": [{"id": "mp0", "sizee": 1, "mountpoint": "/x"}]}) == [
        "c.mount_volumes[0].sizee: no such option"
    ]


def test_provisioning_creates_updates_and_powers_each_guest_in_order():
    tasks = provision_tasks(ansible.render(fixture_inputs()))
    names = [t["name"] for t in tasks]
    # The template comes first so the clone finds it.
    assert names[0] == "vm/9000 ubuntu-tmpl exists"
    assert names.index("vm/110 app-1 is cloned from ubuntu-tmpl") > 0
    clone = tasks[names.index("vm/110 app-1 is cloned from ubuntu-tmpl")]["community.proxmox.proxmox_kvm"]
    assert clone == {
        "clone": "ubuntu-tmpl",
        "vmid": 9000,
        "newid": 110,
        "name": "app-1",
        "node": "pve1",
        "target": "pve2",
        "full": True,
        "timeout": 600,
        "state": "present",
    }
    settings = tasks[names.index("vm/110 app-1 has its settings")]["community.proxmox.proxmox_kvm"]
    assert settings["vmid"] == 110 and settings["update"] is True and settings["cores"] == 4
    assert settings["ipconfig"] == {"ipconfig0": "ip=10.0.0.50/24,gw=10.0.0.1"}
    web = tasks[names.index("vm/101 web-1 exists")]["community.proxmox.proxmox_kvm"]
    assert web["scsi"] == {"scsi0": "local-lvm:32"} and web["net"] == {
        "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0"
    }
    assert (
        tasks[names.index("vm/101 web-1 is running")]["community.proxmox.proxmox_kvm"]["state"] == "started"
    )
    assert tasks[names.index("vm/103 db-1 is stopped")]["community.proxmox.proxmox_kvm"]["state"] == "stopped"
    # An existing container whose template is unknown is updated, never re-created.
    assert "ct/202 cache-1 exists" not in names
    settings = tasks[names.index("ct/202 cache-1 has its settings")]["community.proxmox.proxmox"]
    assert (settings["vmid"], settings["hostname"], settings["update"]) == (202, "cache-1", True)
    inputs = fixture_inputs()
    with_template = [
        g.model_copy(update={"ostemplate": "local:vztmpl/debian-12.tar.zst"}) if g.name == "cache-1" else g
        for g in inputs.guests
    ]
    again = provision_tasks(ansible.render(inputs.model_copy(update={"guests": with_template})))
    cache_1 = next(t for t in again if t["name"] == "ct/202 cache-1 exists")["community.proxmox.proxmox"]
    assert cache_1["mount_volumes"] == [
        {"id": "mp0", "storage": "local-lvm", "size": 10, "mountpoint": "/var/cache"}
    ]
    assert cache_1["update"] is False
    log = tasks[names.index("ct/log-1 log-1 exists")]["community.proxmox.proxmox"]
    assert log["hostname"] == "log-1" and log["ostemplate"].startswith("local:vztmpl/")
    assert not any("ubuntu-tmpl is" in n for n in names), "templates have no power state"


def test_credentials_come_from_variables_and_the_environment():
    files = ansible.render(fixture_inputs())
    defaults = load(files["provision.yml"])[0]["module_defaults"]["group/community.proxmox.proxmox"]
    assert defaults["api_token_secret"] == "{{ proxmox_api_token_secret }}"
    group_vars = load(files["inventory/group_vars/all.yml"])
    assert (
        group_vars["proxmox_api_token_secret"]
        == "{{ lookup('ansible.builtin.env', 'PROXMOX_TOKEN_SECRET') }}"
    )
    assert group_vars["proxmox_validate_certs"] is True
    dynamic = load(files["pmpc.proxmox.yml"])
    assert dynamic["plugin"] == "community.proxmox.proxmox"
    assert "token_secret" not in dynamic and "password" not in dynamic
    for text in files.values():
        assert SECRET not in text


def test_text_that_looks_like_a_template_is_never_templated():
    tasks = provision_tasks(ansible.render(fixture_inputs()))
    db = next(t for t in tasks if t["name"] == "vm/103 db-1 exists")["community.proxmox.proxmox_kvm"]
    assert isinstance(db["description"], Unsafe)
    assert (
        db["description"]
        == 'Primary "db" ${not_a_var} %{ nor_a_directive } {{ lookup("pipe", "id") }}\nsecond line'
    )
    web = next(t for t in tasks if t["name"] == "vm/101 web-1 exists")["community.proxmox.proxmox_kvm"]
    assert not isinstance(web["name"], Unsafe)


def test_rendering_is_deterministic_and_independent_of_input_order():
    inputs = fixture_inputs()
    first = ansible.render(inputs)
    assert ansible.render(inputs.model_copy(update={"guests": list(reversed(inputs.guests))})) == first


def test_host_vars_file_names_cannot_escape():
    inputs = fixture_inputs()
    bad = [*inputs.guests, GuestSpec(kind="ct", name="../x", node="pve1")]
    with pytest.raises(ManifestError, match=r"Refusing guest name '\.\./x'"):
        ansible.render(inputs.model_copy(update={"guests": bad}))


@needs_community_proxmox
@pytest.mark.slow
def test_ansible_playbook_syntax_check_passes(tmp_path):
    render(tmp_path)
    done = run_tool("ansible-playbook", "--syntax-check", "site.yml", "provision.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "playbook: provision.yml" in done.stdout
    assert "WARNING" not in done.stderr, done.stderr


@pytest.mark.slow
def test_ansible_inventory_lists_every_guest(tmp_path):
    render(tmp_path)
    done = run_tool("ansible-inventory", "--list", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    listed = json.loads(done.stdout)
    hostvars = listed["_meta"]["hostvars"]
    assert sorted(hostvars) == ["app-1", "cache-1", "db-1", "dns-1", "log-1", "web-1"]
    assert hostvars["web-1"]["ansible_host"] == "192.0.2.11"
    assert hostvars["web-1"]["proxmox_vmid"] == 101
    assert sorted(listed["tag_infra"]["hosts"]) == ["cache-1", "dns-1"]
    assert listed["node_pve3"]["hosts"] == ["cache-1"]


def test_guests_pve_let_share_a_name_get_distinct_inventory_names():
    inputs = fixture_inputs()
    twin = next(g for g in inputs.guests if g.name == "db-1").model_copy(update={"vmid": 107, "node": "pve3"})
    files = ansible.render(inputs.model_copy(update={"guests": [*inputs.guests, twin]}))
    hosts = load(files["inventory/hosts.yml"])["all"]["children"]["pmpc_guests"]["hosts"]
    assert "db-1-103" in hosts and "db-1-107" in hosts and "db-1" not in hosts
    assert load(files["inventory/host_vars/db-1-107.yml"])["proxmox_vmid"] == 107
    new_twin = twin.model_copy(update={"vmid": None})
    with pytest.raises(ManifestError, match="Two guests are named 'db-1'"):
        ansible.render(inputs.model_copy(update={"guests": [*inputs.guests, new_twin]}))


def test_a_new_container_without_a_template_cannot_be_provisioned():
    inputs = fixture_inputs()
    guests = [g.model_copy(update={"ostemplate": None}) if g.name == "log-1" else g for g in inputs.guests]
    message = r"ct/log-1: a new container needs spec\.ostemplate or spec\.clone"
    with pytest.raises(ManifestError, match=message):
        ansible.render(inputs.model_copy(update={"guests": guests}))

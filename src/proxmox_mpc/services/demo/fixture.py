"""The demo cluster's contents and the tour's example edits.

Guests in fakepve's format; pools, the cluster firewall (options, aliases, an IP set, a security
group, ordered rules), a backup job, an HA resource, a group, a user and the group's permission as
the API requests that create them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from proxmox_mpc.safeio.files import write_file

NODES = ("pve1", "pve2", "pve3")

# (name prefix, tags, pool, cores, memory MiB, disks in GiB, status) of the VMs, in the order they are made.
VM_ROLES: tuple[tuple[str, str, str, int, int, tuple[int, ...], str], ...] = (
    ("web", "prod;web", "prod", 2, 2048, (32,), "running"),
    ("api", "api;prod", "prod", 2, 4096, (32,), "running"),
    ("db", "db;prod", "prod", 4, 8192, (64, 200), "running"),
    ("worker", "batch", "staging", 1, 1024, (16,), "stopped"),
    ("monitor", "infra;monitoring", "infra", 2, 2048, (32,), "running"),
    ("ci-runner", "ci", "dev", 4, 4096, (64,), "stopped"),
    ("staging-web", "staging;web", "staging", 1, 2048, (32,), "running"),
    ("build", "ci;dev", "dev", 2, 2048, (32,), "stopped"),
)
# (name prefix, tags, pool, cores, memory MiB, rootfs GiB, status, ostype) of the containers.
CT_ROLES: tuple[tuple[str, str, str, int, int, int, str, str], ...] = (
    ("dns", "infra", "infra", 1, 512, 8, "running", "debian"),
    ("proxy", "infra;web", "prod", 1, 512, 8, "running", "alpine"),
    ("cache", "cache;prod", "prod", 2, 1024, 16, "running", "debian"),
    ("backup", "infra", "infra", 1, 1024, 32, "stopped", "ubuntu"),
    ("mail", "infra", "infra", 1, 1024, 16, "stopped", "debian"),
)
POOL_COMMENTS = {
    "prod": "Production services",
    "staging": "Pre-production",
    "dev": "Development and CI",
    "infra": "Shared infrastructure",
}
# The cluster firewall: its options, its aliases (name, CIDR, comment) and its rules, top first.
FIREWALL_OPTIONS = {"enable": 1, "policy_in": "DROP", "policy_out": "ACCEPT"}
FIREWALL_ALIASES = (
    ("admin-net", "10.10.0.0/24", "Admin workstations"),
    ("monitoring", "10.10.5.10", "Prometheus server"),
)
FIREWALL_RULES: tuple[dict[str, str], ...] = (
    {"type": "in", "action": "ACCEPT", "macro": "SSH", "source": "+admins", "comment": "SSH for the admins"},
    {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "8006", "source": "+admins", "comment": "Web UI"},
    {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "9100", "source": "monitoring", "comment": "Metrics"},
    {"type": "in", "action": "ACCEPT", "macro": "Ping", "comment": "Ping"},
)
# An IP set (name, comment, entries as (CIDR or alias, comment)) the rules above name as +admins.
FIREWALL_IPSET = ("admins", "Admin desks and the VPN", (("admin-net", "office"), ("10.20.0.15", "VPN gateway")))
# A security group (name, comment, rules) the web servers' own firewalls jump to.
SECURITY_GROUP = (
    "webserver",
    "Web tier",
    (
        {"type": "in", "action": "ACCEPT", "macro": "HTTP", "comment": "HTTP"},
        {"type": "in", "action": "ACCEPT", "macro": "HTTPS", "comment": "HTTPS"},
    ),
)
# The rule the tour adds to the cluster firewall (as a manifest line) and what its plan line shows.
TOUR_RULE = '{type: in, action: ACCEPT, proto: tcp, dport: "443", comment: HTTPS}'
BACKUP_JOB = {
    "id": "nightly",
    "schedule": "02:30",
    "storage": "local",
    "mode": "snapshot",
    "compress": "zstd",
    "prune-backups": "keep-daily=7,keep-weekly=4",
    "enabled": 1,
    "comment": "Every night",
}
# The role whose first VM HA keeps running, and how.
HA_ROLE = "db"
HA_RESOURCE = {"state": "started", "max_restart": 2, "max_relocate": 1, "comment": "The primary database"}
GROUP = {"groupid": "ops", "comment": "Operations team"}
USER = {
    "userid": "alice@pve",
    "firstname": "Alice",
    "lastname": "Example",
    "email": "alice@example.com",
    "groups": "ops",
    "comment": "On call this week",
}
# What the group may do: run the production guests (PVE's built-in role).
ACL = {"path": "/pool/prod", "roles": "PVEVMAdmin", "groups": GROUP["groupid"]}
TEMPLATES = (
    (9000, "ubuntu-24.04-tmpl", "pve1", "l26"),
    (9001, "debian-12-tmpl", "pve2", "l26"),
)


def ha_guest(guests: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the VM HA keeps running (the first database server), or None when there is none."""
    return next((g for g in guests if str(g.get("name", "")).startswith(f"{HA_ROLE}-") and "type" not in g), None)


def object_requests(guests: list[dict[str, Any]], pools: dict[str, list[int]]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return the (method, path, parameters) that give a started demo cluster its pools and cluster objects."""
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for name, members in sorted(pools.items()):
        requests.append(("POST", "/pools", {"poolid": name, "comment": POOL_COMMENTS.get(name)}))
        requests.append(("PUT", "/pools", {"poolid": name, "vms": ",".join(str(m) for m in members)}))
    requests += _firewall_requests(guests)
    selection = {"pool": "prod"} if pools.get("prod") else {"all": 1}
    requests.append(("POST", "/cluster/backup", {**BACKUP_JOB, **selection}))
    guest = ha_guest(guests)
    if guest is not None:
        requests.append(("POST", "/cluster/ha/resources", {"sid": f"vm:{guest['vmid']}", **HA_RESOURCE}))
    requests.append(("POST", "/access/groups", dict(GROUP)))
    requests.append(("POST", "/access/users", dict(USER)))
    if pools.get("prod"):
        requests.append(("PUT", "/access/acl", dict(ACL)))
    return requests


def _firewall_requests(guests: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return the requests that make the cluster firewall: aliases, the IP set, the group, rules, options.

    What a rule names is made first; PVE puts a new rule on top, so rules are created bottom first.
    The web servers get their own firewall (their NIC has firewall=1): on, with a jump to the security group.
    """
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for name, cidr, comment in FIREWALL_ALIASES:
        requests.append(("POST", "/cluster/firewall/aliases", {"name": name, "cidr": cidr, "comment": comment}))
    ipset, ipset_comment, entries = FIREWALL_IPSET
    requests.append(("POST", "/cluster/firewall/ipset", {"name": ipset, "comment": ipset_comment}))
    for cidr, comment in entries:
        requests.append(("POST", f"/cluster/firewall/ipset/{ipset}", {"cidr": cidr, "comment": comment}))
    group, group_comment, group_rules = SECURITY_GROUP
    requests.append(("POST", "/cluster/firewall/groups", {"group": group, "comment": group_comment}))
    requests += [("POST", f"/cluster/firewall/groups/{group}", {**r, "enable": 1}) for r in reversed(group_rules)]
    requests += [("POST", "/cluster/firewall/rules", {**rule, "enable": 1}) for rule in reversed(FIREWALL_RULES)]
    requests.append(("PUT", "/cluster/firewall/options", dict(FIREWALL_OPTIONS)))
    for guest in guests:
        if guest.get("template") or "web" not in str(guest["config"].get("tags", "")).split(";"):
            continue
        base = f"/nodes/{guest['node']}/{guest.get('type', 'qemu')}/{guest['vmid']}/firewall"
        requests.append(("POST", f"{base}/rules", {"type": "group", "action": group, "enable": 1}))
        requests.append(("PUT", f"{base}/options", {"enable": 1}))
    return requests


def _mac(vmid: int, index: int) -> str:
    return f"BC:24:11:{(vmid >> 8) & 0xFF:02X}:{vmid & 0xFF:02X}:{index:02X}"


def guests_document(vms: int, cts: int) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Return the guests (fakepve's JSON format) and the pool members of a demo cluster."""
    pools: dict[str, list[int]] = {name: [] for name in POOL_COMMENTS}
    guests = [*_templates(), *_vms(vms, pools), *_cts(cts, pools)]
    guest = ha_guest(guests)
    if guest is not None:
        guest["ha_state"] = HA_RESOURCE["state"]  # fakepve reports it in the guest's status, as PVE does
    return guests, {name: members for name, members in pools.items() if members}


def _templates() -> list[dict[str, Any]]:
    """Return the VM templates the demo clones from."""
    return [
        {
            "vmid": vmid,
            "name": name,
            "node": node,
            "status": "stopped",
            "template": True,
            "config": {
                "cores": 2,
                "memory": 2048,
                "ostype": ostype,
                "agent": "1",
                "scsihw": "virtio-scsi-pci",
                "scsi0": f"local-lvm:base-{vmid}-disk-0,size=8G",
                "net0": f"virtio={_mac(vmid, 0)},bridge=vmbr0",
                "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
                "ciuser": "admin",
                "ipconfig0": "ip=dhcp",
                "tags": "template",
                "template": 1,
            },
        }
        for vmid, name, node, ostype in TEMPLATES
    ]


def _vms(count: int, pools: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Return `count` VMs by role (VMIDs from 101), adding each to its role's pool."""
    guests: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i in range(count):
        prefix, tags, pool, cores, memory, disks, status = VM_ROLES[i % len(VM_ROLES)]
        seen[prefix] = seen.get(prefix, 0) + 1
        vmid = 101 + i
        config: dict[str, Any] = {
            "cores": cores,
            "sockets": 1,
            "memory": memory,
            "ostype": "l26",
            "scsihw": "virtio-scsi-pci",
            # A web server's own firewall takes effect on its NIC (see _firewall_requests).
            "net0": f"virtio={_mac(vmid, 0)},bridge=vmbr0"
            + (",tag=20" if pool == "staging" else "")
            + (",firewall=1" if "web" in tags.split(";") else ""),
            "agent": "1",
            "boot": "order=scsi0;net0",
            "tags": tags,
        }
        for n, size in enumerate(disks):
            config[f"scsi{n}"] = f"local-lvm:vm-{vmid}-disk-{n},size={size}G"
        if pool == "prod":
            config["onboot"] = 1
        guests.append(
            {
                "vmid": vmid,
                "name": f"{prefix}-{seen[prefix]}",
                "node": NODES[i % len(NODES)],
                "status": status,
                "config": config,
                "start_secs": 2,
                "stop_secs": 1,
                "shutdown_secs": 3,
            }
        )
        pools[pool].append(vmid)
    return guests


def _cts(count: int, pools: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Return `count` containers by role (VMIDs from 201), adding each to its role's pool."""
    guests: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i in range(count):
        prefix, tags, pool, cores, memory, rootfs, status, ostype = CT_ROLES[i % len(CT_ROLES)]
        seen[prefix] = seen.get(prefix, 0) + 1
        vmid = 201 + i
        name = f"{prefix}-{seen[prefix]}"
        guests.append(
            {
                "type": "lxc",
                "vmid": vmid,
                "name": name,
                "node": NODES[(i + 1) % len(NODES)],
                "status": status,
                "config": {
                    "hostname": name,
                    "cores": cores,
                    "memory": memory,
                    "swap": 512,
                    "ostype": ostype,
                    "rootfs": f"local-lvm:subvol-{vmid}-disk-0,size={rootfs}G",
                    "unprivileged": 1,
                    "tags": tags,
                    "net0": f"name=eth0,bridge=vmbr0,ip=dhcp,hwaddr={_mac(vmid, 0)}",
                    "onboot": int(pool == "prod"),
                },
                "start_secs": 1,
                "stop_secs": 1,
                "shutdown_secs": 2,
            }
        )
        pools[pool].append(vmid)
    return guests


_MEMORY_LINE = re.compile(r"^\s+memory:[ \t]*(?P<mib>\d+)[ \t]*$", re.M)


def grow_memory(workspace: Path, name: str) -> tuple[Path, int, int] | None:
    """Double the memory in one guest's manifest (the tour's example edit); None if there is none to edit."""
    for path in sorted((workspace / "resources").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if not re.search(rf"^name:[ \t]*{re.escape(name)}[ \t]*$", text, re.M):
            continue
        match = _MEMORY_LINE.search(text)
        if match is None:
            return None
        old = int(match["mib"])
        # A textual edit, as a person would make it: the rest of the file stays as written.
        edited = text[: match.start("mib")] + str(old * 2) + text[match.end("mib") :]
        write_file(path, edited, root=workspace)
        return path, old, old * 2
    return None


_RULES_LINE = re.compile(r"^(?P<indent>[ \t]*)rules:[ \t]*$")


def add_firewall_rule(workspace: Path) -> tuple[Path, str] | None:
    """Add TOUR_RULE at the end of the cluster firewall's rules (the tour's second edit); None if it cannot."""
    path = workspace / "resources" / "firewall" / "cluster.yaml"
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError:
        return None
    start = next((n for n, line in enumerate(lines) if _RULES_LINE.match(line)), None)
    if start is None:
        return None
    items = [n for n in range(start + 1, len(lines)) if lines[n].lstrip().startswith("- ")]
    if not items:
        return None
    indent = len(lines[items[0]]) - len(lines[items[0]].lstrip())
    end = start + 1
    for n in range(start + 1, len(lines)):
        stripped = lines[n].lstrip()
        depth = len(lines[n]) - len(stripped)
        if stripped.strip() and (depth < indent or (depth == indent and not stripped.startswith("- "))):
            break
        end = n + 1
    if end and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    # A textual edit, as a person would make it: the rest of the file stays as written.
    lines.insert(end, " " * indent + f"- {TOUR_RULE}\n")
    write_file(path, "".join(lines), root=workspace)
    return path, TOUR_RULE

"""Table columns per resource kind; `wide=True` columns appear only with -o wide."""

from __future__ import annotations

from proxmox_mpc.output.printers import Column
from proxmox_mpc.output.units import duration, human_bytes, percent, timestamp

NODE_COLUMNS = (
    Column("NAME", "name"),
    Column("STATUS", "status"),
    Column("CPU", "cpu_usage", format=percent),
    Column("CPUS", "cpus"),
    Column("MEMORY", "memory_used", format=human_bytes),
    Column("MEM-TOTAL", "memory_total", format=human_bytes),
    Column("UPTIME", "uptime", format=duration),
    Column("DISK", "disk_used", format=human_bytes, wide=True),
    Column("DISK-TOTAL", "disk_total", format=human_bytes, wide=True),
    Column("FINGERPRINT", "ssl_fingerprint", wide=True),
)

STORAGE_COLUMNS = (
    Column("NAME", "name"),
    Column("NODE", "node"),
    Column("TYPE", "type"),
    Column("CONTENT", "content"),
    Column("USED", "used", format=human_bytes),
    Column("TOTAL", "total", format=human_bytes),
    Column("ACTIVE", "active"),
    Column("SHARED", "shared", wide=True),
    Column("AVAILABLE", "available", format=human_bytes, wide=True),
)

GUEST_COLUMNS = (
    Column("VMID", "vmid"),
    Column("NAME", "name"),
    Column("STATUS", "status"),
    Column("NODE", "node"),
    Column("CPUS", "cpus"),
    Column("MEMORY", "memory", format=human_bytes),
    Column("DISK", "disk_size", format=human_bytes),
    Column("TEMPLATE", "template"),
    Column("TAGS", "tags"),
    Column("POOL", "pool", wide=True),
    Column("LOCK", "lock", wide=True),
    Column("CPU", "cpu_usage", format=percent, wide=True),
    Column("MEM-USED", "memory_used", format=human_bytes, wide=True),
    Column("UPTIME", "uptime", format=duration, wide=True),
    Column("HA", "ha_state", wide=True),
)

SNAPSHOT_COLUMNS = (
    Column("NAME", "name"),
    Column("GUEST", "guest"),
    Column("DATE", "snapshot_time", format=timestamp),
    Column("PARENT", "parent"),
    Column("VMSTATE", "vmstate"),
    Column("DESCRIPTION", "description"),
)

TASK_COLUMNS = (
    Column("UPID", "upid", wide=True),
    Column("NODE", "node"),
    Column("TYPE", "type"),
    Column("ID", "id"),
    Column("USER", "user"),
    Column("STATUS", "status"),
    Column("EXIT", "exit_status"),
    Column("STARTED", "start_time", format=timestamp),
    Column("DURATION", "duration", format=duration),
)

VOLUME_COLUMNS = (
    Column("VOLID", "volid"),
    Column("NODE", "node"),
    Column("CONTENT", "content"),
    Column("FORMAT", "format"),
    Column("SIZE", "size", format=human_bytes),
    Column("VMID", "vmid"),
    Column("CREATED", "creation_time", format=timestamp, wide=True),
    Column("NOTES", "notes", wide=True),
)

BACKUP_COLUMNS = (
    Column("VOLID", "volid"),
    Column("GUEST", "guest"),
    Column("TIME", "backup_time", format=timestamp),
    Column("SIZE", "size", format=human_bytes),
    Column("PROTECTED", "protected"),
    Column("NOTES", "notes"),
    Column("NODE", "node", wide=True),
    Column("FORMAT", "format", wide=True),
)

DRAIN_COLUMNS = (
    Column("GUEST", "target"),
    Column("NAME", "name"),
    Column("STATUS", "status"),
    Column("MEMORY", "memory", format=human_bytes),
    Column("TO", "to"),
    Column("VIA", "via"),
    Column("REASON", "reason"),
)

FIREWALL_RULE_COLUMNS = (
    Column("POS", "pos"),
    Column("TYPE", "type"),
    Column("ACTION", "action"),
    Column("MACRO", "macro"),
    Column("PROTO", "proto"),
    Column("SOURCE", "source"),
    Column("DEST", "dest"),
    Column("DPORT", "dport"),
    Column("ENABLE", "enable"),
    Column("COMMENT", "comment"),
    Column("SPORT", "sport", wide=True),
    Column("ICMP-TYPE", "icmp_type", wide=True),
    Column("IFACE", "iface", wide=True),
    Column("LOG", "log", wide=True),
    Column("LEVEL", "level", wide=True),
)

FIREWALL_ALIASES_COLUMNS = (
    Column("NAME", "name"),
    Column("CIDR", "cidr"),
    Column("COMMENT", "comment"),
)


def _ipset_members(entries: list[dict[str, object]]) -> str:
    # A nomatch entry is excluded from the set: PVE's own GUI and .fw files mark it with `!`.
    return ",".join(("!" if e.get("nomatch") else "") + str(e.get("cidr")) for e in entries) or "-"


FIREWALL_IPSETS_COLUMNS = (
    Column("NAME", "name"),
    Column("ENTRIES", "entries", format=_ipset_members),
    Column("COMMENT", "comment"),
)

FIREWALL_GROUPS_COLUMNS = (
    Column("NAME", "name"),
    Column("RULES", "rule_count"),
    Column("COMMENT", "comment"),
)

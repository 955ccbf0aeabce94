"""Table columns per resource kind; `wide=True` columns appear only with -o wide."""

from __future__ import annotations

from proxmox_mpc.output.printers import Column
from proxmox_mpc.output.units import duration, human_bytes, percent

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

"""The demo cluster: a simulated 3-node Proxmox VE (fakepve, run as a separate process) with its own CA.

fakepve is never imported here: it runs as `python -m fakepve`, so pmpc talks to it over real HTTPS
exactly as it talks to a real cluster. fixture.py says what the cluster holds, pki.py makes its CA,
process.py supervises the process, cluster.py joins them into a running cluster.
"""

from __future__ import annotations

from proxmox_mpc.services.demo.cluster import (
    DEFAULT_TIME_SCALE,
    DEMO_CONTEXT,
    DEMO_USER,
    EXTRA_HINT,
    DemoCluster,
    check_available,
    prepare,
    running_cluster,
    write_demo_context,
)
from proxmox_mpc.services.demo.fixture import (
    NODES,
    POOL_COMMENTS,
    TOUR_RULE,
    add_firewall_rule,
    grow_memory,
    guests_document,
    object_requests,
)
from proxmox_mpc.services.demo.pki import make_pki
from proxmox_mpc.services.demo.process import PVE_PORT, pick_address, stop_process, wait_until_interrupted

__all__ = [
    "DEFAULT_TIME_SCALE",
    "DEMO_CONTEXT",
    "DEMO_USER",
    "EXTRA_HINT",
    "NODES",
    "POOL_COMMENTS",
    "PVE_PORT",
    "TOUR_RULE",
    "DemoCluster",
    "add_firewall_rule",
    "check_available",
    "grow_memory",
    "guests_document",
    "make_pki",
    "object_requests",
    "pick_address",
    "prepare",
    "running_cluster",
    "stop_process",
    "wait_until_interrupted",
    "write_demo_context",
]

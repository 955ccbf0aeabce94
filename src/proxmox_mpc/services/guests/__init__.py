"""Guest use cases (VMs and containers): list, describe, every verb batched, dry run and confirmation.

resolve.py finds the guests a command means, verbs.py and snapshots.py plan each verb on one guest
(reads only), batch.py runs a verb on many guests, create.py makes new ones, describe.py shows one.
"""

from __future__ import annotations

from proxmox_mpc.services.guests.batch import redact_params, run_guest_action
from proxmox_mpc.services.guests.create import clone_guests, create_guest
from proxmox_mpc.services.guests.describe import GuestDescription, PendingChange, describe_guest, guest_addresses
from proxmox_mpc.services.guests.plan import ACTIONS, Confirm, Plan, Planner, VerbOptions
from proxmox_mpc.services.guests.resolve import (
    NOUN,
    PLURAL,
    check_node,
    check_target_choice,
    cluster_guests,
    filter_guests,
    get_guests,
    guest_path,
    label,
    list_guests,
    read_flag_file,
    resolve_one,
    resolve_targets,
)
from proxmox_mpc.services.guests.snapshots import Snapshot, list_snapshots
from proxmox_mpc.services.guests.verbs import SHUTDOWN_GRACE, plan_action, plan_migrate

__all__ = [
    "ACTIONS",
    "NOUN",
    "PLURAL",
    "SHUTDOWN_GRACE",
    "Confirm",
    "GuestDescription",
    "PendingChange",
    "Plan",
    "Planner",
    "Snapshot",
    "VerbOptions",
    "check_node",
    "check_target_choice",
    "clone_guests",
    "cluster_guests",
    "create_guest",
    "describe_guest",
    "filter_guests",
    "get_guests",
    "guest_addresses",
    "guest_path",
    "label",
    "list_guests",
    "list_snapshots",
    "plan_action",
    "plan_migrate",
    "read_flag_file",
    "redact_params",
    "resolve_one",
    "resolve_targets",
    "run_guest_action",
]

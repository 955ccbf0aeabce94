"""The guests `pmpc demo` serves, put on a fakepve fixture (container 202 is proxy-1, as in the demo)."""

from __future__ import annotations

from typing import Any

from proxmox_mpc.services.demo import guests_document
from tests.helpers.cluster import TOKEN_ID, TOKEN_SECRET

POWER_SECONDS = ("shutdown_secs", "start_secs", "stop_secs")


def populate_demo(pve: Any, vms: int = 8, cts: int = 5) -> Any:
    """Fill a FakePve with the demo cluster's guests (power times included) and the test API token."""
    pve.apitokens[TOKEN_ID] = TOKEN_SECRET
    guests, _ = guests_document(vms, cts)
    for guest in guests:
        node = guest.get("node", "pve1")
        if guest.get("type") == "lxc":
            made = pve.add_ct(guest["vmid"], guest["name"], node=node, status=guest["status"], config=guest["config"])
        else:
            made = pve.add_vm(
                guest["vmid"],
                guest["name"],
                node=node,
                status=guest["status"],
                config=guest["config"],
                template=guest.get("template", False),
            )
        for key in POWER_SECONDS:
            if key in guest:
                setattr(made, key, guest[key])
    return pve

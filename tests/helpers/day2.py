"""A fakepve for the day-2 verbs: BackupPve, plus `skiplock` on a VM config update as PVE honours it.

fakepve 0.5.0 checks the VM lock on every config update, `skiplock=1` or not, so `delete=lock` (how
`pmpc vm unlock` clears a stale lock) is refused with "VM is locked". qemu-server skips that check
when root@pam passes skiplock, and refuses skiplock from anyone else with a parameter error. `Day2Pve`
keeps the fake's route, schema check and config handling and adds exactly that. It also lets an HA
migration request move the HA-managed guest, as PVE's HA manager does (the fake accepts it and moves
nothing).
"""

from __future__ import annotations

from typing import Any

from fakepve import FakePve
from fakepve.model import PveError

from tests.helpers.backups import BackupPve


class Day2Pve(BackupPve):
    """BackupPve whose VM config update honours skiplock for root@pam, and whose HA migrates its guests."""

    async def synthesise(self, match: Any, method: str, info: Any, user: Any, values: dict[str, Any]) -> Any:
        if method == "POST" and match.template == "/cluster/ha/resources/{sid}/migrate":
            # fakepve 0.5.0 accepts the request (schema-checked) and moves nothing; PVE's HA manager moves the
            # guest shortly after. Here it moves at once.
            sid = str(values["sid"])
            guest = self.guest(int(sid.partition(":")[2] or sid))
            if guest is None or guest.ha_state is None:
                raise PveError(500, f"service '{sid}' not defined")
            guest.node = values["node"]
        return await super().synthesise(match, method, info, user, values)

    async def _apply_config(self, vm: Any, user: str, p: dict[str, Any]) -> Any:
        if not p.get("skiplock") or str(p.get("skiplock")) == "0":
            return await super()._apply_config(vm, user, p)
        if user != "root@pam":
            raise PveError(400, "Parameter verification failed.", {"skiplock": "Only root may use this option."})
        held, vm.lock = vm.lock, None
        try:
            return await super()._apply_config(vm, user, p)
        finally:
            deleted = "lock" in str(p.get("delete") or "").split(",")
            vm.lock = None if deleted else held


def enable_day2(pve: FakePve) -> Day2Pve:
    """Make a running FakePve a Day2Pve (same state, same routes); return it."""
    pve.__class__ = Day2Pve
    return pve  # type: ignore[return-value]

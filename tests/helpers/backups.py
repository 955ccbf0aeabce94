"""A fakepve whose vzdump writes a backup volume, as PVE's does.

fakepve 0.5.0 answers POST /nodes/{node}/vzdump through its schema-checked generic route: it starts a
task that stores nothing, so no backup ever appears on a storage. `BackupPve` keeps that route and its
schema check (`answer` validates the parameters before `synthesise` runs) and replaces only the
synthesised answer: a task that locks each guest (`lock: backup`), logs what PVE's vzdump logs (the
archive path included), and stores the archive on the storage with its size, time, notes and protection,
or fails with `job errors` and PVE's "No space left on device" line when the storage is full. The
fake keeps one set of volumes per storage for the whole cluster; for backups, a storage that is not
shared lists them on the node that wrote them only, as PVE's node-local `local` storage does.

`enable_backups(pve)` turns the running fixture instance into one (the routes call `self.answer`, so
changing the instance's class is enough); the `backup_cluster` fixture in tests/conftest.py does it.
It builds on `ObjectsPve` (tests/helpers/cluster_objects.py), so the backup jobs, HA resources and
access objects the fixture cluster stores stay stored.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from fakepve import FakePve
from fakepve.model import TaskError

from tests.helpers.cluster_objects import ObjectsPve

# What a backup of any guest weighs on the fake's storages.
BACKUP_SIZE = 512 * 1024**2
EXTENSIONS = {"zstd": ".zst", "lzo": ".lzo", "gzip": ".gz", "1": ".lzo", "0": ""}
FORMATS = {"qemu": "vma", "lxc": "tar"}
CONTENT = "/nodes/{node}/storage/{storage}/content"
# Where PVE's dir storages keep dumps.
DUMP_DIR = {"local": "/var/lib/vz/dump"}


class BackupPve(ObjectsPve):
    """FakePve whose vzdump task stores a backup volume on the storage it names."""

    async def answer(self, request: Any, match: Any, params: Any, user: Any, call: Any = None) -> Any:
        data = await super().answer(request, match, params, user, call)
        if request.method == "GET" and match is not None and match.template == CONTENT and isinstance(data, list):
            # A storage that is not shared is a different disk on every node: a backup is on its own node only.
            node, sid = match.params.get("node"), match.params.get("storage")
            store = self.storages.get(sid) or {}
            if not store.get("shared"):
                volumes = store.get("volumes", {})
                data = [i for i in data if volumes.get(i["volid"].partition(":")[2], {}).get("node", node) == node]
        return data

    async def synthesise(self, match: Any, method: str, info: Any, user: Any, values: dict[str, Any]) -> Any:
        if method == "POST" and match.template == "/nodes/{node}/vzdump" and values.get("vmid"):
            return await self._vzdump(values, user or "root@pam")
        return await super().synthesise(match, method, info, user, values)

    async def _vzdump(self, values: dict[str, Any], user: str) -> str:
        node = values["node"]
        vmids = [int(v) for v in str(values["vmid"]).replace(";", ",").split(",") if v.strip()]
        storage = values.get("storage") or "local"
        compress = str(values.get("compress", "0"))
        mode = values.get("mode", "snapshot")
        store = self.storages.get(storage)
        if store is None:
            from fakepve.model import PveError

            raise PveError(500, f"storage '{storage}' does not exist")
        if "backup" not in str(store.get("content", "")).split(","):
            from fakepve.model import PveError

            raise PveError(500, f"storage '{storage}' does not support backups")
        args = " ".join(f"--{k} {v}" for k, v in sorted(values.items()) if k not in ("vmid", "node"))
        # The job's log lines: collected here while the task runs inside `task()` (time_scale 0), else
        # written straight into the task's record once it exists (the task starts after we return).
        sink = {"log": [f"INFO: starting new backup job: vzdump {' '.join(map(str, vmids))} {args}".rstrip()]}

        async def body() -> None:
            failed = []
            for vmid in vmids:
                if not await self._dump_one(node, vmid, storage, compress, mode, values, sink["log"]):
                    failed.append(vmid)
            done = "finished with errors" if failed else "finished successfully"
            sink["log"].append(f"INFO: Backup job {done}")
            if failed:
                raise TaskError("job errors")

        tid = str(vmids[0]) if len(vmids) == 1 else ""
        upid: str = await self.task(node, "vzdump", tid, user, body)
        record = self.tasks[upid]
        record["log"][:0] = sink["log"]
        sink["log"] = record["log"]
        return upid

    async def _dump_one(
        self, node: str, vmid: int, storage: str, compress: str, mode: str, values: dict[str, Any], log: list[str]
    ) -> bool:
        guest = self.guest(vmid)
        gtype = "lxc" if guest is not None and guest.guest.startswith("lxc/") else "qemu"
        if guest is None or guest.node != node:
            log.append(f"ERROR: Backup of VM {vmid} failed - unable to find VM '{vmid}' on node '{node}'")
            return False
        stamp = datetime.now(timezone.utc)
        name = f"vzdump-{gtype}-{vmid}-{stamp:%Y_%m_%d-%H_%M_%S}.{FORMATS[gtype]}{EXTENSIONS.get(compress, '')}"
        path = f"{DUMP_DIR.get(storage, '/mnt/pve/' + storage + '/dump')}/{name}"
        log.append(f"INFO: Starting Backup of VM {vmid} ({gtype})")
        log.append(f"INFO: backup mode: {mode}")
        log.append(f"INFO: creating vzdump archive '{path}'")
        guest.lock = "backup"
        if gtype == "qemu":
            guest.config["lock"] = "backup"
        try:
            await self.pause(getattr(self, "backup_secs", 0))
            store = self.storages[storage]
            if store.get("avail", float("inf")) < BACKUP_SIZE:
                failure = "vma_queue_write: write error - No space left on device"
                log.append(f"ERROR: Backup of VM {vmid} failed - {failure}")
                return False
            if "avail" in store:
                store["avail"] -= BACKUP_SIZE
            volume: dict[str, Any] = {
                "content": "backup",
                "format": name.split(".", 1)[1],
                "size": BACKUP_SIZE,
                "ctime": int(time.time()),
                "vmid": vmid,
                "subtype": gtype,
                # The fake's own key: the node whose disk holds it (see `answer`).
                "node": node,
            }
            notes = values.get("notes-template")
            if notes:
                volume["notes"] = (
                    str(notes).replace("{{guestname}}", guest.name).replace("{{vmid}}", str(vmid))
                    .replace("{{node}}", node).replace("{{cluster}}", self.cluster_name)
                )
                log.append("INFO: adding notes to backup")
            if values.get("protected"):
                volume["protected"] = True
                log.append("INFO: marking backup as protected")
            store.setdefault("volumes", {})[f"backup/{name}"] = volume
            log.append(f"INFO: archive file size: {BACKUP_SIZE // 1024**2}MB")
            log.append(f"INFO: Finished Backup of VM {vmid} (00:00:01)")
            return True
        finally:
            guest.lock = None
            guest.config.pop("lock", None)


def enable_backups(pve: FakePve) -> BackupPve:
    """Make a running FakePve a BackupPve (same state, same routes); return it."""
    pve.__class__ = BackupPve
    return pve  # type: ignore[return-value]

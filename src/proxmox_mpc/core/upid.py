"""Parse Proxmox task ids (UPIDs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from proxmox_mpc.errors import UsageError


@dataclass(frozen=True)
class Upid:
    """UPID:node:pid:pstart:starttime:type:id:user@realm[!token]:"""

    raw: str
    node: str
    pid: int
    pstart: int
    starttime: datetime
    type: str
    id: str
    user: str

    def __str__(self) -> str:
        return self.raw


def parse_upid(raw: str) -> Upid:
    """Split a UPID into its fields.

    Raises:
        UsageError: the text is not a UPID.
    """
    parts = raw.strip().split(":")
    if len(parts) < 8 or parts[0] != "UPID":
        raise UsageError(f"Not a Proxmox task id (UPID): {raw!r}.")
    try:
        return Upid(
            raw=raw.strip(),
            node=parts[1],
            pid=int(parts[2], 16),
            pstart=int(parts[3], 16),
            starttime=datetime.fromtimestamp(int(parts[4], 16), tz=timezone.utc),
            type=parts[5],
            id=parts[6],
            user=parts[7],
        )
    except ValueError as exc:
        raise UsageError(f"Not a Proxmox task id (UPID): {raw!r}.") from exc

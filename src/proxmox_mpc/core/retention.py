"""Backup retention: PVE's `prune-backups` property string as a manifest mapping, and back (pure).

PVE writes retention as `keep-last=3,keep-daily=7` (on a storage and on a backup job). A manifest
writes it as a mapping with snake_case keys:

```yaml
prune_backups: {keep_last: 3, keep_daily: 7}
```
`keep_all: true` keeps everything and stands alone, as PVE requires.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from proxmox_mpc.core.modeling import Model

# PVE's order of the keep-* options (PVE::JSONSchema's prune-backups format).
KEEP_KEYS = ("keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
MAX_KEEP = 1_000_000


class Retention(Model):
    """How many backups to keep, by age bucket (absent: not kept by that rule)."""

    model_config = ConfigDict(extra="forbid")

    keep_all: bool | None = None
    keep_last: int | None = Field(None, ge=0, le=MAX_KEEP)
    keep_hourly: int | None = Field(None, ge=0, le=MAX_KEEP)
    keep_daily: int | None = Field(None, ge=0, le=MAX_KEEP)
    keep_weekly: int | None = Field(None, ge=0, le=MAX_KEEP)
    keep_monthly: int | None = Field(None, ge=0, le=MAX_KEEP)
    keep_yearly: int | None = Field(None, ge=0, le=MAX_KEEP)

    @model_validator(mode="after")
    def _keep_all_alone(self) -> Retention:
        others = [k for k in KEEP_KEYS[1:] if getattr(self, k.replace("-", "_")) is not None]
        if self.keep_all and others:
            names = ", ".join(o.replace("-", "_") for o in others)
            raise ValueError(f"keep_all: true keeps every backup: drop {names}")
        return self

    def to_pve(self) -> str:
        """Return PVE's property string (`keep-all=1` when nothing is set: PVE's own default)."""
        parts = []
        for key in KEEP_KEYS:
            value = getattr(self, key.replace("-", "_"))
            if value is None:
                continue
            parts.append(f"{key}={int(value)}")
        return ",".join(parts) or "keep-all=1"

    @classmethod
    def from_pve(cls, text: Any) -> Retention | None:
        """Return the retention a property string says (None: empty, or not one PVE writes)."""
        found: dict[str, Any] = {}
        for part in str(text or "").split(","):
            key, eq, value = part.strip().partition("=")
            if not eq or key not in KEEP_KEYS or not value.strip().lstrip("-").isdigit():
                continue
            number = int(value)
            found[key.replace("-", "_")] = bool(number) if key == "keep-all" else number
        if not found:
            return None
        if found.get("keep_all") is False:
            found.pop("keep_all")
        try:
            return cls(**found)
        except ValueError:
            return None


def canonical(text: Any) -> str | None:
    """Return a `prune-backups` string in PVE's key order (None: empty); an unparsed one as it is."""
    if text is None or str(text) == "":
        return None
    parsed = Retention.from_pve(text)
    return parsed.to_pve() if parsed is not None else str(text)

"""The manifest cache table: parsed manifest files by absolute path, valid while size and mtime match."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from proxmox_mpc.state.basics import prefix_end
from proxmox_mpc.state.repository import Repository
from proxmox_mpc.state.tables import manifest_cache_t


class ManifestCache(Repository):
    """Queries of the manifest cache."""

    def cached_manifests(self, prefix: str) -> dict[str, tuple[int, int, str, str]]:
        """Return the cached manifest files under a directory prefix: path -> (size, mtime_ns, format, body)."""
        from sqlalchemy import select

        t = manifest_cache_t
        query = select(t.c.path, t.c.size, t.c.mtime_ns, t.c.format, t.c.body).where(
            t.c.path >= prefix, t.c.path < prefix_end(prefix)
        )
        with self._read() as conn:
            return {row[0]: (int(row[1]), int(row[2]), row[3], row[4]) for row in conn.execute(query)}

    def save_manifest_cache(self, prefix: str, rows: Sequence[dict[str, Any]], keep: Iterable[str]) -> None:
        """Store parsed manifest files (path, size, mtime_ns, format, body); forget the others under `prefix`."""
        from sqlalchemy import delete

        t = manifest_cache_t
        kept = set(keep) | {row["path"] for row in rows}
        with self.transaction() as conn:
            stale = [
                path
                for (path,) in conn.execute(
                    t.select().with_only_columns(t.c.path).where(t.c.path >= prefix, t.c.path < prefix_end(prefix))
                )
                if path not in kept
            ]
            for start in range(0, len(stale), 500):
                conn.execute(delete(t).where(t.c.path.in_(stale[start : start + 500])))
            self._upsert(t, rows, ["path"])


"""What the state store's modules share without loading the tables or alembic: the schema level, the clock,
the end of a key range."""

from __future__ import annotations

from datetime import datetime, timezone

# The newest alembic revision (a test checks it against the migrations).
HEAD = "0005"
# Where alembic records the revision a database is at.
VERSION_TABLE = "pmpc_alembic_version"


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def prefix_end(prefix: str) -> str:
    """Return the smallest string greater than every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"

"""What the state store's modules share without loading the tables or alembic: the schema level, the clock."""

from __future__ import annotations

from datetime import datetime, timezone

# The newest alembic revision (a test checks it against the migrations).
HEAD = "0005"
# Where alembic records the revision a database is at.
VERSION_TABLE = "pmpc_alembic_version"


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)

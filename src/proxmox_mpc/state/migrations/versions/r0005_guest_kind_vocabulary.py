"""Guests, history rows and created guests store pmpc's kind (vm/ct) instead of PVE's type (qemu/lxc).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 07:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The spellings as of this revision (a migration never follows later code).
TABLES = ("pmpc_guests", "pmpc_changes", "pmpc_created_guests")
TO_KIND = {"qemu": "vm", "lxc": "ct"}


def _rename(mapping: dict[str, str]) -> None:
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in mapping.items())
    olds = ", ".join(f"'{old}'" for old in mapping)
    for table in TABLES:
        op.execute(f"UPDATE {table} SET kind = CASE kind {cases} END WHERE kind IN ({olds})")


def upgrade() -> None:
    _rename(TO_KIND)


def downgrade() -> None:
    _rename({new: old for old, new in TO_KIND.items()})

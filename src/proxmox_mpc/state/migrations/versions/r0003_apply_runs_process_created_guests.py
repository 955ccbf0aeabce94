"""Apply runs name their process (so an interrupted run is recognised); guests pmpc created.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 04:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pmpc_apply_runs") as batch:
        batch.add_column(sa.Column("operation", sa.String(), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("host", sa.String(), nullable=True))
        batch.add_column(sa.Column("process_start", sa.String(), nullable=True))
    op.create_table(
        "pmpc_created_guests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("vmid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["pmpc_clusters.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster_id", "vmid", name="uq_pmpc_created_guests_cluster_vmid"),
    )


def downgrade() -> None:
    op.drop_table("pmpc_created_guests")
    with op.batch_alter_table("pmpc_apply_runs") as batch:
        batch.drop_column("process_start")
        batch.drop_column("host")
        batch.drop_column("pid")
        batch.drop_column("operation")

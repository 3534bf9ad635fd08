"""User quotas: an administrator's per-user override of the namespace quota (CPU, memory, pods).

Revision ID: 0006_user_quotas
Revises: 0005_deployment_scale_target
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_user_quotas"
down_revision: str | None = "0005_deployment_scale_target"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_quotas",
        sa.Column("owner_sub", sa.String(length=255), nullable=False),
        sa.Column("cpu", sa.String(length=32), nullable=True),
        sa.Column("memory", sa.String(length=32), nullable=True),
        sa.Column("pods", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("set_by", sa.String(length=255), nullable=False),
        sa.Column("set_by_email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_sub", name=op.f("pk_user_quotas")),
    )


def downgrade() -> None:
    op.drop_table("user_quotas")

"""Deployments: a per-deployment autoscaling target (in-flight requests per replica).

Revision ID: 0005_deployment_scale_target
Revises: 0004_deployments
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_deployment_scale_target"
down_revision: str | None = "0004_deployments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("target_concurrency", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("target_concurrency")

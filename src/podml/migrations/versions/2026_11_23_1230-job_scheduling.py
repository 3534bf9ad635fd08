"""Job scheduling: the scheduler's own columns on training_jobs.

Revision ID: 0003_job_scheduling
Revises: 0002_model_registry
Create Date: 2026-11-23 11:55:04.685704
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_job_scheduling"
down_revision: str | None = "0002_model_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("executor", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("status_message", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("log_key", sa.String(length=1024), nullable=True))
        batch_op.create_index("ix_training_jobs_status_created_at", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_training_jobs_status_created_at")
        batch_op.drop_column("log_key")
        batch_op.drop_column("cancel_requested_at")
        batch_op.drop_column("status_message")
        batch_op.drop_column("executor")
        batch_op.drop_column("model_id")

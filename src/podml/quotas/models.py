"""The user_quotas table: an administrator's override of one user's quota (null: the default)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from podml.database import Base, TimestampMixin


class UserQuota(TimestampMixin, Base):
    __tablename__ = "user_quotas"

    # The user's subject (`owner_sub`): built-in accounts and Cognito users alike.
    owner_sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    # Kubernetes quantities as the administrator wrote them; null follows the platform's default.
    cpu: Mapped[str | None] = mapped_column(String(32))
    memory: Mapped[str | None] = mapped_column(String(32))
    pods: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(String(500))
    # Who set it (their sub, and their email when the token carried one); when: `updated_at`.
    set_by: Mapped[str] = mapped_column(String(255))
    set_by_email: Mapped[str | None] = mapped_column(String(320))

"""The configurations table: a dataset, its feature and target columns, and a model to train."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from podml.database import Base, TimestampMixin


class Configuration(TimestampMixin, Base):
    __tablename__ = "configurations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_sub: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    dataset_uri: Mapped[str] = mapped_column(String(2048))
    x_columns_json: Mapped[list[str]] = mapped_column(JSON)
    y_column: Mapped[str] = mapped_column(String(255))
    model_type: Mapped[str] = mapped_column(String(64), default="linear_regression")
    task: Mapped[str] = mapped_column(String(20))
    hyperparams_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

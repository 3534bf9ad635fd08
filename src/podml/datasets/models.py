"""The datasets table: one uploaded CSV, where it is stored and its inferred schema."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from podml.database import Base, TimestampMixin


class Dataset(TimestampMixin, Base):
    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_sub: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(1024))
    dataset_uri: Mapped[str] = mapped_column(String(2048))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(BigInteger)
    delimiter: Mapped[str] = mapped_column(String(4))
    encoding: Mapped[str] = mapped_column(String(20))
    # [{"name", "dtype", "missing", "stats"?}, ...] in file order.
    columns_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

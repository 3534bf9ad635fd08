"""Throwaway databases for a test run: a SQLite file, or a fresh PostgreSQL database.

PostgreSQL is required: when it cannot be reached the fixture fails (it never skips), so a CI run
without it is red. `.ci/run` starts the local server if it is down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("PODML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """Create `podml_test_<random>`, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"podml_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is required for the test suite and is not reachable at {ADMIN_URL} "
            f"({exc!r}); start it with: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start"
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def database_url(backend: str, tmp_dir: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{(tmp_dir / 'podml.db').as_posix()}"
    elif backend == "postgresql":
        async with postgres_database() as url:
            yield url
    else:
        raise ValueError(backend)

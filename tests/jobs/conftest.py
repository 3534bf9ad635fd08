"""Jobs run for real: a live app per database back end, with the reconciler and local executor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import make_settings
from tests.support.live import Live, live_app, live_port


@pytest.fixture(scope="session")
async def live(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    port = live_port()
    settings = make_settings(
        tmp_path_factory.mktemp(f"live-{backend}"),
        db_url,
        port=port,
        reconcile_interval_seconds=0.5,
        reconcile_busy_interval_seconds=0.1,
        max_concurrent_jobs=4,
        max_concurrent_jobs_per_user=2,
        run_reconciler=True,
    )
    async with live_app(settings) as running:
        yield running

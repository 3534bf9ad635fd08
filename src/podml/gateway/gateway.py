"""The gateway object kept on `app.state.gateway`: access rules, the proxy and the traffic figures."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from podml.config import Settings
from podml.executors.base import ServingExecutor
from podml.gateway.access import Access
from podml.gateway.proxy import Proxy
from podml.gateway.stats import StatsRecorder


class Gateway:
    def __init__(
        self,
        serving: ServingExecutor,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        token_verifier: Any,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.stats = StatsRecorder()
        self.access = Access(sessionmaker, settings, token_verifier)
        self.proxy = Proxy(serving, self.stats, settings.gateway_timeout_seconds)

    def invalidate(self, deployment_id: uuid.UUID) -> None:
        self.access.invalidate(deployment_id)

    def forget_keys(self) -> None:
        self.access.forget_keys()

    def deleted(self, deployment_id: uuid.UUID) -> None:
        self.access.invalidate(deployment_id)
        self.stats.forget(deployment_id)

    async def run_stats(self) -> None:
        await self.stats.run(
            self.sessionmaker, interval=5.0, retention_seconds=self.settings.stats_retention_days * 86400
        )

    async def close(self) -> None:
        await self.proxy.close()

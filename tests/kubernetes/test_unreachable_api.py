"""An API server that does not answer, or hangs up, as the executor meets it: every call has a
deadline, is asked again with back-off, and what still fails is an ExecutorError in words (which
the reconciler reads as "ask again later", tests/jobs/test_executor_outage.py), never a hang."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import kmock
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from podml.executors.base import ExecutorError, Phase
from podml.executors.kubernetes import KubernetesExecutor
from podml.executors.kubernetes_api import KubeApi
from tests.kubernetes.conftest import kubernetes_emulator

JOBS = kmock.resource("batch", "v1", "jobs")


class HangingUp:
    """A TCP front for the API server that drops the first `drops` connections unanswered (as a
    restarting server or a load balancer does), then passes bytes through."""

    def __init__(self, upstream: str, drops: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.drops = drops
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropped < self.drops:
            self.dropped += 1
            await reader.read(1)  # the request has begun: then the connection is gone
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()


@contextlib.asynccontextmanager
async def executor_at(url: str, timeout: float) -> AsyncIterator[KubernetesExecutor]:
    async with ApiClient(Configuration(host=url)) as api:
        kube = KubeApi(api, retry_delays=(0.05, 0.05), request_timeout=timeout)
        yield KubernetesExecutor(kube, trainer_image="podml-trainer:0.1.0")


@pytest.fixture
async def k8s() -> AsyncIterator[tuple[kmock.KubernetesEmulator, str]]:
    async with kubernetes_emulator() as running:
        yield running


async def test_a_server_that_never_answers_is_given_up_on_in_words(
    k8s: tuple[kmock.KubernetesEmulator, str],
) -> None:
    emulator, url = k8s

    async def never() -> None:
        await asyncio.sleep(3600)

    emulator["get", JOBS] << never
    async with executor_at(url, timeout=0.3) as executor:
        began = time.monotonic()
        with pytest.raises(
            ExecutorError, match=r"list Jobs: the Kubernetes API did not answer \(no answer in 0.3 s\)"
        ):
            await executor.observe_training(uuid.uuid4())
        assert time.monotonic() - began < 3  # three attempts of 0.3 s and two short pauses
    assert len(emulator["get", JOBS]) == 3


async def test_a_slow_answer_is_asked_again_and_the_second_answer_counts(
    k8s: tuple[kmock.KubernetesEmulator, str],
) -> None:
    emulator, url = k8s
    calls = 0

    async def slow_once() -> None:  # None: the emulator itself answers
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(3600)

    emulator["get", JOBS] << slow_once
    async with executor_at(url, timeout=0.3) as executor:
        assert (await executor.observe_training(uuid.uuid4())).phase == Phase.MISSING
    assert calls == 2


async def test_a_server_that_hangs_up_is_asked_again(k8s: tuple[kmock.KubernetesEmulator, str]) -> None:
    _, url = k8s
    front = HangingUp(url, drops=2)
    async with front as flaky, executor_at(flaky, timeout=5) as executor:
        assert (await executor.observe_training(uuid.uuid4())).phase == Phase.MISSING
    assert front.dropped == 2

"""The gateway's figures on `/metrics`: `podml_gateway_requests_total{deployment,code}` and the
`podml_gateway_request_latency_ms{deployment}` histogram, summed over the process's recorders."""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REQUESTS_METRIC: Final = "podml_gateway_requests"  # exposed as podml_gateway_requests_total
LATENCY_METRIC: Final = "podml_gateway_request_latency_ms"


def add_into(target: list[int], other: Sequence[int]) -> None:
    for i, value in enumerate(other):
        target[i] += value


class Recorder(Protocol):
    def prometheus_figures(self) -> Iterator[tuple[str, dict[int, int], list[int], float]]:
        """(deployment label, requests per code, count per latency bound, latency sum) per deployment."""
        ...


class GatewayCollector(Collector):
    """Exposes the figures of every live recorder of the process (summed per deployment), built at
    scrape time from the recorders' running totals: no lock on the prediction path."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self._recorders: weakref.WeakSet[Any] = weakref.WeakSet()
        # `le` label values as prometheus_client writes them ("0.25", "1.0", "+Inf").
        self._le = tuple("+Inf" if bound == math.inf else repr(float(bound)) for bound in bounds)

    def add(self, recorder: Recorder) -> None:
        self._recorders.add(recorder)

    def describe(self) -> Iterable[Metric]:
        return [_requests_family(), _latency_family()]

    def collect(self) -> Iterable[Metric]:
        codes: dict[tuple[str, int], int] = {}
        histograms: dict[str, tuple[list[int], float]] = {}
        for recorder in list(self._recorders):
            for label, by_code, buckets, latency_sum in recorder.prometheus_figures():
                for code, count in by_code.items():
                    codes[label, code] = codes.get((label, code), 0) + count
                held = histograms.get(label)
                if held is None:
                    histograms[label] = (buckets, latency_sum)
                else:
                    add_into(held[0], buckets)
                    histograms[label] = (held[0], held[1] + latency_sum)
        requests = _requests_family()
        for (label, code), count in sorted(codes.items()):
            requests.add_metric([label, str(code)], count)
        latency = _latency_family()
        for label, (buckets, latency_sum) in sorted(histograms.items()):
            cumulative: list[tuple[str, float]] = []
            running = 0
            for le, count in zip(self._le, buckets, strict=True):
                running += count
                cumulative.append((le, float(running)))
            latency.add_metric([label], cumulative, latency_sum)
        return [requests, latency]


def _requests_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        REQUESTS_METRIC, "Predictions proxied by the gateway, by deployment and status code",
        labels=["deployment", "code"],
    )  # fmt: skip


def _latency_family() -> HistogramMetricFamily:
    return HistogramMetricFamily(
        LATENCY_METRIC, "Time to answer a proxied prediction, in milliseconds", labels=["deployment"]
    )

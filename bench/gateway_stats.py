"""Micro-benchmark of the gateway's hot path: nanoseconds per `StatsRecorder.record()` call.

    .venv/bin/python bench/gateway_stats.py [--calls 1000000]

Prints, best of five runs each, the cost of one call with the real clock (`time.time`):
  1. one deployment, status 200, latencies spread over the histogram;
  2. 100 deployments in turn, 5% of answers 4xx/5xx;
  3. for comparison, prometheus_client's cached `Counter` + `Histogram` children (what record()
     does not use: they take a lock per increment);
  4. the empty loop (already included in the figures above).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from prometheus_client import CollectorRegistry, Counter, Histogram

from podml.gateway.stats import StatsRecorder
from podml.gateway.stats_buckets import LATENCY_BOUNDS_MS


def best_ns_per_call(run: Callable[[], None], calls: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - started) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    calls = parser.parse_args().calls

    rng = random.Random(42)
    latencies = [rng.lognormvariate(0.0, 1.0) for _ in range(calls)]  # median 1 ms, long tail
    codes = [rng.choice((400, 404, 500, 503)) if rng.random() < 0.05 else 200 for _ in range(calls)]
    many = [uuid.uuid4() for _ in range(100)]
    deployments = [many[i % len(many)] for i in range(calls)]
    one = uuid.uuid4()

    recorder = StatsRecorder()

    def single() -> None:
        record = recorder.record
        for latency in latencies:
            record(one, 200, latency)

    def mixed() -> None:
        record = recorder.record
        for deployment, code, latency in zip(deployments, codes, latencies, strict=True):
            record(deployment, code, latency)

    registry = CollectorRegistry()
    counter = Counter("requests", "r", ["deployment", "code"], registry=registry)
    histogram = Histogram("latency_ms", "l", ["deployment"], buckets=LATENCY_BOUNDS_MS, registry=registry)
    counter_child, histogram_child = counter.labels(str(one), "200"), histogram.labels(str(one))

    def prometheus_children() -> None:
        for latency in latencies:
            counter_child.inc()
            histogram_child.observe(latency)

    def empty() -> None:
        for _latency in latencies:
            pass

    print(f"record(), one deployment:          {best_ns_per_call(single, calls):7.0f} ns/call")
    print(f"record(), 100 deployments, 5% err: {best_ns_per_call(mixed, calls):7.0f} ns/call")
    print(f"prometheus_client children:        {best_ns_per_call(prometheus_children, calls):7.0f} ns/call")
    print(f"empty loop:                        {best_ns_per_call(empty, calls):7.0f} ns/iteration")


if __name__ == "__main__":
    main()

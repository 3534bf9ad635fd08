"""The 10-second buckets of the gateway's traffic figures: their layout in memory and as rows.

A bucket's counts are one flat list (requests, 4xx, 5xx, then one count per latency bound), so that
recording a request is a few index additions. `rows()` turns buckets into `deployment_stats` rows;
`figures()` into what readers merge (`podml.deployments.stats`).
"""

from __future__ import annotations

import math
import uuid
from typing import Any, Final, NamedTuple

from podml.gateway.stats_metrics import add_into

# Upper bounds (inclusive, like Prometheus' `le`) of the latency histogram, in milliseconds. The
# order is the order of `DeploymentStat.latency_buckets`: changing it changes the meaning of stored
# rows (readers ignore the histogram of rows whose length does not match).
LATENCY_BOUNDS_MS: Final[tuple[float, ...]] = (
    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
    5000.0, 10000.0, math.inf,
)  # fmt: skip
BUCKET_SECONDS: Final = 10

# Layout of a bucket's counts list: requests, 4xx, 5xx, then one count per latency bound.
REQUESTS, E4XX, E5XX, OFFSET = 0, 1, 2, 3
WIDTH: Final = OFFSET + len(LATENCY_BOUNDS_MS)

Bucket = tuple[int, list[int], float]  # (start, counts, latency sum)


class BucketFigures(NamedTuple):
    """One deployment's figures over one 10-second bucket, from one source."""

    source: str
    bucket_start: int
    requests: int
    errors_4xx: int
    errors_5xx: int
    latency_sum_ms: float
    latency_buckets: list[int]


def bucket_start(now: float) -> int:
    return int(now // BUCKET_SECONDS) * BUCKET_SECONDS


def figures(source: str, start: int, counts: list[int], latency_sum: float) -> BucketFigures:
    return BucketFigures(
        source, start, counts[REQUESTS], counts[E4XX], counts[E5XX], latency_sum, counts[OFFSET:]
    )


def rows(deployment_id: uuid.UUID, source: str, buckets: list[Bucket]) -> list[dict[str, Any]]:
    """`deployment_stats` rows, one per bucket start (buckets of the same start are summed)."""
    merged: dict[int, tuple[list[int], float]] = {}
    for start, counts, latency_sum in buckets:
        held = merged.get(start)
        if held is None:
            merged[start] = (list(counts), latency_sum)
        else:
            add_into(held[0], counts)
            merged[start] = (held[0], held[1] + latency_sum)
    return [
        {
            "deployment_id": deployment_id,
            "bucket_start": start,
            "source": source,
            "requests": counts[REQUESTS],
            "errors_4xx": counts[E4XX],
            "errors_5xx": counts[E5XX],
            "latency_sum_ms": latency_sum,
            "latency_buckets": counts[OFFSET:],
        }
        for start, (counts, latency_sum) in sorted(merged.items())
    ]

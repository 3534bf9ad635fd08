"""The local autoscaler: what the HPA (or Knative's concurrency autoscaler) does for a deployment.

Each ready replica's `/metrics` carries `requests_in_flight_seconds_total`: the number of requests
in flight integrated over time. Its rate is the replica's average concurrency over the interval
(Little's law); older model servers without it are read through `prediction_latency_ms_sum`, which
grows by the time spent answering predictions. The recommendation is
`ceil(total concurrency / target_concurrency)` within the bounds. Like the HPA's stabilization
window, the target is the highest recommendation of the last `scale_down_delay` seconds: a rise is
followed at once, a fall only once it has lasted that long.
"""

from __future__ import annotations

import math
from collections import deque

IN_FLIGHT_SECONDS = "requests_in_flight_seconds_total"
LATENCY_SUM_MS = "prediction_latency_ms_sum"
_TOLERANCE = 0.01  # 4.0 in flight at a target of 4 is one replica, not two


def busy_seconds(metrics_text: str) -> float | None:
    """The replica's request-seconds so far, from its Prometheus text; None when it has neither."""
    in_flight: float | None = None
    latency_ms: float | None = None
    for line in metrics_text.splitlines():
        if line.startswith(IN_FLIGHT_SECONDS):
            name, _, value = line.rpartition(" ")
            if name.split("{")[0] == IN_FLIGHT_SECONDS:
                in_flight = _number(value)
        elif line.startswith(LATENCY_SUM_MS):
            value_ms = _number(line.rpartition(" ")[2])
            if value_ms is not None:
                latency_ms = (latency_ms or 0.0) + value_ms
    if in_flight is not None:
        return in_flight
    return None if latency_ms is None else latency_ms / 1000.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class RateMeter:
    """The rate of a counter between two samples (None until there are two, or after a reset)."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def update(self, now: float, value: float) -> float | None:
        last, self._last = self._last, (now, value)
        if last is None or now <= last[0] or value < last[1]:
            return None
        return (value - last[1]) / (now - last[0])


class Autoscaler:
    def __init__(
        self, replicas: int, low: int, high: int, target: float, scale_down_delay: float, now: float
    ) -> None:
        self.low, self.high, self.target = low, high, max(target, 1e-6)
        self.scale_down_delay = scale_down_delay
        self.desired = self._clamp(replicas)
        self._history: deque[tuple[float, int]] = deque([(now, self.desired)])
        self.concurrency: float | None = None  # the last total measured

    def _clamp(self, count: int) -> int:
        floor = max(self.low, 1 if self.high >= 1 else 0)  # no scale to zero: nothing would wake it
        return max(floor, min(self.high, count))

    def configure(self, low: int, high: int, target: float, replicas: int | None, now: float) -> None:
        """New bounds (and, when given, a new starting count the target jumps to)."""
        self.low, self.high, self.target = low, high, max(target, 1e-6)
        if replicas is not None:
            self.desired = self._clamp(replicas)
            self._history.clear()
            self._history.append((now, self.desired))
        else:
            self.desired = self._clamp(self.desired)

    def observe(self, now: float, concurrency: float) -> int:
        """Take one measurement of the total concurrency; the target replica count."""
        self.concurrency = concurrency
        wanted = self._clamp(math.ceil(max(0.0, concurrency / self.target - _TOLERANCE)))
        self._history.append((now, wanted))
        while self._history and self._history[0][0] < now - self.scale_down_delay:
            self._history.popleft()
        self.desired = self._clamp(max(count for _, count in self._history))
        return self.desired

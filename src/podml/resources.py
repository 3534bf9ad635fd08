"""Compute resources in Kubernetes' own notation ("100m", "1", "256Mi", "1Gi"), for jobs and replicas.

The same `Resources` value becomes a Job's requests/limits on Kubernetes and a process's CPU
affinity, memory ceiling and deadline under the local executor.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES: dict[str, int | Decimal] = {
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity as a number: "100m" → 0.1, "1Gi" → 1073741824, "1e3" is refused."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(f"'{value}' is not a quantity (examples: 500m, 2, 256Mi, 1Gi)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"'{value}' is not a quantity") from exc
    return number * Decimal(_SUFFIXES[match.group(2) or ""])


def cpu_cores(value: str) -> float:
    return float(parse_quantity(value))


def memory_bytes(value: str) -> int:
    return math.ceil(parse_quantity(value))


@dataclass(frozen=True)
class Resources:
    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    timeout_seconds: int = 3600

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
            "timeout_seconds": self.timeout_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Resources:
        if not data:
            return cls()
        requests, limits = data.get("requests", {}), data.get("limits", {})
        defaults = cls()
        return cls(
            cpu_request=str(requests.get("cpu", defaults.cpu_request)),
            memory_request=str(requests.get("memory", defaults.memory_request)),
            cpu_limit=str(limits.get("cpu", defaults.cpu_limit)),
            memory_limit=str(limits.get("memory", defaults.memory_limit)),
            timeout_seconds=int(data.get("timeout_seconds", defaults.timeout_seconds)),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problems(self, *, max_cpu: str, max_memory: str, max_timeout: int) -> list[str]:
        """What is wrong with these resources, as sentences (empty when they are fine)."""
        found: list[str] = []
        values: dict[str, Decimal] = {}
        for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
            try:
                values[name] = parse_quantity(getattr(self, name))
            except QuantityError as exc:
                found.append(f"{name.replace('_', ' ')}: {exc}")
        if found:
            return found
        if values["cpu_request"] <= 0 or values["memory_request"] <= 0:
            found.append("requests must be greater than zero")
        if values["cpu_request"] > values["cpu_limit"]:
            found.append(f"cpu request {self.cpu_request} is above its limit {self.cpu_limit}")
        if values["memory_request"] > values["memory_limit"]:
            found.append(f"memory request {self.memory_request} is above its limit {self.memory_limit}")
        if values["cpu_limit"] > parse_quantity(max_cpu):
            found.append(f"cpu limit {self.cpu_limit} is above the allowed {max_cpu}")
        if values["memory_limit"] > parse_quantity(max_memory):
            found.append(f"memory limit {self.memory_limit} is above the allowed {max_memory}")
        if values["memory_limit"] < 64 * 1024**2:
            found.append("memory limit must be at least 64Mi")
        if not 1 <= self.timeout_seconds <= max_timeout:
            found.append(f"timeout_seconds must be between 1 and {max_timeout}")
        return found

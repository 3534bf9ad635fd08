"""Every model in the catalog trains through the API, for each task it supports, with sane metrics."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from podml import catalog
from tests.support.live import Live


def regression_csv(rows: int = 400, seed: int = 11) -> str:
    rng = random.Random(seed)
    lines = ["x,z,y"]
    for _ in range(rows):
        x, z = rng.uniform(-5, 5), rng.uniform(-1, 1)
        lines.append(f"{x:.4f},{z:.4f},{3 * x + 2 + rng.gauss(0, 0.05):.4f}")
    return "\n".join(lines) + "\n"


def classification_csv(rows: int = 400, seed: int = 12) -> str:
    """Two well-separated clusters: any sensible classifier gets them right."""
    rng = random.Random(seed)
    lines = ["x,z,label"]
    for i in range(rows):
        label = "yes" if i % 2 else "no"
        centre = 3.0 if label == "yes" else -3.0
        lines.append(f"{centre + rng.gauss(0, 0.7):.4f},{centre + rng.gauss(0, 0.7):.4f},{label}")
    return "\n".join(lines) + "\n"


async def test_every_catalog_model_trains(live: Live) -> None:
    datasets = {"regression": (regression_csv(), "y"), "classification": (classification_csv(), "label")}
    submitted: list[tuple[str, str, Any, dict[str, Any]]] = []
    for spec in catalog.CATALOG.values():
        for task in spec.tasks:
            user = await live.api.new_user()  # one owner each, so the per-user limit doesn't serialise them
            csv, target = datasets[task]
            config = await live.configuration(
                user, csv, ["x", "z"], target, model_type=spec.name, task=task, name=f"{spec.name}-{task}"
            )
            submitted.append((spec.name, task, user, await live.train(user, config["id"])))
    assert len(submitted) >= 16
    finished = await asyncio.gather(
        *(live.wait(user, job["id"], timeout=180) for _, _, user, job in submitted)
    )
    for (name, kind, _, _), job in zip(submitted, finished, strict=True):
        assert job["status"] == "succeeded", (name, kind, job["error"])
        metrics = job["metrics"]["metrics"]
        if kind == "regression":
            floor = 0.99 if name in {"linear_regression", "ridge"} else 0.8  # lasso etc. shrink by default
            assert metrics["r2"] > floor, (name, metrics)
        else:
            assert metrics["accuracy"] > 0.95, (name, metrics)
            assert 0.95 < metrics["roc_auc"] <= 1.0, (name, metrics)

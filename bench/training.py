"""Training benchmark: the platform end to end vs the same pandas + scikit-learn code run directly.

    .venv/bin/python bench/training.py [--rows 1000000] [--cols 20] [--small-runs 5]

Prints, from one run on this machine:
  1. a generated ROWS x COLS CSV: `podml serve` job submit -> succeeded, against a fresh Python
     process running the equivalent pandas + scikit-learn script (read, split, impute + scale +
     fit, evaluate, save) on the same file (target: platform <= 1.15x direct);
  2. a 1,000-row CSV: submit -> succeeded (target <= 1.5 s), median of several runs.
The platform runs as a real `podml serve` subprocess (SQLite, local storage, local executor).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import podml_serve

DIRECT = textwrap.dedent(
    """
    import sys, time, joblib, json
    import numpy as np, pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    path, features, target = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    started = time.perf_counter()
    frame = pd.read_csv(path, engine="pyarrow", usecols=features + [target])
    frame = frame.dropna(subset=[target])
    x_train, x_test, y_train, y_test = train_test_split(
        frame[features], frame[target], test_size=0.2, random_state=42)
    pipeline = Pipeline([
        ("prep", ColumnTransformer([("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                                                      ("scale", StandardScaler())]), features)])),
        ("model", LinearRegression()),
    ])
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = {"r2": r2_score(y_test, predicted), "mae": mean_absolute_error(y_test, predicted),
               "rmse": float(np.sqrt(mean_squared_error(y_test, predicted)))}
    joblib.dump(pipeline, sys.argv[4])
    metrics["compute_seconds"] = time.perf_counter() - started
    print(json.dumps(metrics))
    """
)


def make_csv(path: Path, rows: int, cols: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    weights = [rng.uniform(-3, 3) for _ in range(cols)]
    names = [f"f{i}" for i in range(cols)]
    with path.open("w") as handle:
        handle.write(",".join([*names, "target"]) + "\n")
        block: list[str] = []
        for _ in range(rows):
            values = [rng.random() for _ in range(cols)]
            target = sum(w * v for w, v in zip(weights, values, strict=True)) + rng.gauss(0, 0.1)
            block.append(",".join(f"{v:.6f}" for v in values) + f",{target:.6f}")
            if len(block) == 10_000:
                handle.write("\n".join(block) + "\n")
                block.clear()
        if block:
            handle.write("\n".join(block) + "\n")
    return names


def direct_seconds(csv: Path, features: list[str], workdir: Path) -> tuple[float, float]:
    """(whole fresh process, compute only: read + split + fit + evaluate + save, imports excluded)."""
    script = workdir / "direct.py"
    script.write_text(DIRECT)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), str(csv), ",".join(features), "target", str(workdir / "direct.joblib")],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    whole = time.perf_counter() - started
    return whole, float(json.loads(done.stdout)["compute_seconds"])


class Platform:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        http.post("/api/auth/register", json={"email": "bench@example.com", "password": "bench-password"})
        token = http.post(
            "/api/auth/login", json={"email": "bench@example.com", "password": "bench-password"}
        )
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def configuration(self, csv: Path, features: list[str]) -> tuple[str, float]:
        started = time.perf_counter()
        with csv.open("rb") as handle:
            dataset = self.http.post(
                "/api/datasets", files={"file": (csv.name, handle, "text/csv")}, timeout=600
            )
        dataset.raise_for_status()
        upload = time.perf_counter() - started
        config = self.http.post(
            "/api/configurations",
            json={
                "name": csv.stem,
                "dataset_id": dataset.json()["id"],
                "x_columns": features,
                "y_column": "target",
            },
        )
        config.raise_for_status()
        return config.json()["id"], upload

    def train(self, configuration_id: str, memory: str = "1Gi") -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        body = {"configuration_id": configuration_id, "resources": {"cpu": "1", "memory": memory}}
        job = self.http.post("/api/jobs", json=body).json()
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.01)
            job = self.http.get(f"/api/jobs/{job['id']}").json()
        elapsed = time.perf_counter() - started
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job['status']}: {job['error']}")
        return elapsed, job


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--small-runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="podml-bench-") as tmp:
        work = Path(tmp)
        big, small = work / "big.csv", work / "small.csv"
        features = make_csv(big, args.rows, args.cols)
        make_csv(small, 1000, args.cols)
        size_mb = big.stat().st_size / 1e6
        env = {"PODML_RECONCILE_BUSY_INTERVAL_SECONDS": "0.05", "PODML_RECONCILE_INTERVAL_SECONDS": "1"}
        with (
            podml_serve(work / "data", env) as server,
            httpx.Client(base_url=server.url, timeout=120) as http,
        ):
            platform = Platform(http)
            big_config, upload = platform.configuration(big, features)
            small_config, _ = platform.configuration(small, features)
            platform.train(small_config)  # warm the page cache and the first import
            measured = [direct_seconds(big, features, work) for _ in range(2)]
            direct = [whole for whole, _ in measured]
            compute = [part for _, part in measured]
            platform_runs = [platform.train(big_config, memory="4Gi")[0] for _ in range(2)]
            small_runs = [platform.train(small_config)[0] for _ in range(args.small_runs)]
            _, job = platform.train(small_config)
        best_direct, best_platform = min(direct), min(platform_runs)
        ratio = best_platform / best_direct
        median_small = statistics.median(small_runs)
        runs = {
            "direct pandas + scikit-learn (fresh process)": (best_direct, direct),
            "direct, compute only (imports excluded)": (min(compute), compute),
            "PodML job, submit -> succeeded": (best_platform, platform_runs),
        }
        print(f"\nPodML training benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
        print(f"dataset: {args.rows:,} rows x {args.cols} features ({size_mb:.0f} MB)")
        print(f"upload + inspection through the API: {upload:.2f} s")
        print(f"{'':<46}{'best':>8}  runs")
        for label, (best, all_runs) in runs.items():
            print(f"{label:<46}{best:>7.2f}s  {[round(r, 2) for r in all_runs]}")
        verdict = "OK" if ratio <= 1.15 else "MISSED"
        print(f"ratio PodML / direct fresh process: {ratio:.2f}x (target <= 1.15x) {verdict}")
        print(f"ratio PodML / direct compute only: {best_platform / min(compute):.2f}x")
        small_verdict = "OK" if median_small <= 1.5 else "MISSED"
        shown = [round(r, 2) for r in small_runs]
        print(f"1,000-row job submit -> succeeded: median {median_small:.2f} s, runs {shown}")
        print(f"  (target <= 1.5 s) {small_verdict}")
        print(f"last small job r2 = {job['metrics']['metrics']['r2']:.4f}")


if __name__ == "__main__":
    main()

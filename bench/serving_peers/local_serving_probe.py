"""Cold start through `podml.executors.local_serving.LocalServing`: `apply_serving` -> first prediction.

    python bench/serving_peers/local_serving_probe.py ROOT SPEC_JSON

Run by `bench/serving.py` under `taskset -c 0` (the zygote and the replicas it forks inherit the
pinning). SPEC_JSON: {"env": {...pod contract...}, "body": "<JSON request for /predict>",
"runs": N}. The executor is built and prepared first (its warm zygote is what is being measured,
so warming it is not counted), then each run applies a fresh deployment, polls every 10 ms with a
real request against whatever replica URL the executor reports, and deletes it. Prints one JSON
line: {"runs": [seconds...], "prepare": seconds, "serving_path": ...} or {"error": "..."}.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TIMEOUT = 60.0


def _construct(cls: Any, root: Path) -> Any:
    """Build the executor from the parameters its signature names (the class is young; be lenient)."""
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in ("root", "data_dir", "base_dir", "directory", "workdir", "path"):
            kwargs[name] = root
        elif name == "python":
            kwargs[name] = sys.executable
        elif name == "settings":
            from podml.config import Settings

            kwargs[name] = Settings(data_dir=root)
        elif parameter.default is parameter.empty:
            raise TypeError(f"LocalServing{inspect.signature(cls)}: cannot fill parameter {name!r}")
    return cls(**kwargs)


def _request(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


async def _maybe(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _urls(executor: Any, deployment_id: uuid.UUID) -> list[str]:
    urls = list(executor.endpoints(deployment_id))
    observation = await executor.observe_serving(deployment_id)
    urls += [r.url for r in observation.replicas if getattr(r, "url", None)]
    if observation.failure:
        raise RuntimeError(f"the deployment failed: {observation.failure}")
    return list(dict.fromkeys(urls))


async def _one(executor: Any, env: dict[str, str], body: bytes) -> tuple[float, str | None]:
    from podml.executors.base import ServingSpec
    from podml.resources import Resources

    deployment_id = uuid.uuid4()
    spec = ServingSpec(
        deployment_id=deployment_id,
        owner_sub="bench",
        revision=1,
        version_id=uuid.uuid4(),
        env=dict(env),
        resources=Resources(cpu_limit="1", memory_limit="1Gi"),
        replicas=1,
        min_replicas=1,
        max_replicas=1,
    )
    started = time.perf_counter()
    await executor.apply_serving(spec)
    try:
        while time.perf_counter() - started < TIMEOUT:
            for url in await _urls(executor, deployment_id):
                try:
                    status, answer = _request(url, "POST", "/predict", body)
                except (OSError, http.client.HTTPException):
                    continue
                if status == 200 and "predictions" in json.loads(answer):
                    elapsed = time.perf_counter() - started
                    try:
                        path = json.loads(_request(url, "GET", "/ready")[1]).get("serving_path")
                    except (OSError, ValueError, http.client.HTTPException):
                        path = None
                    return elapsed, path
            await asyncio.sleep(0.01)
        raise RuntimeError(f"no successful prediction within {TIMEOUT:g} s")
    finally:
        await executor.delete_serving(deployment_id)


async def main(root: Path, spec: dict[str, Any]) -> dict[str, Any]:
    from podml.executors.local_serving import LocalServing

    executor = _construct(LocalServing, root)
    started = time.perf_counter()
    for hook in ("prepare", "prepare_serving", "start"):
        if hasattr(executor, hook):
            await _maybe(getattr(executor, hook)())
            break
    prepare = time.perf_counter() - started
    runs: list[float] = []
    path: str | None = None
    try:
        for _ in range(int(spec.get("runs", 1))):
            seconds, path = await _one(executor, spec["env"], spec["body"].encode())
            runs.append(seconds)
    finally:
        for hook in ("close", "aclose", "stop"):
            if hasattr(executor, hook):
                await _maybe(getattr(executor, hook)())
                break
    return {"runs": runs, "prepare": prepare, "serving_path": path}


if __name__ == "__main__":
    try:
        Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
        result = asyncio.run(main(Path(sys.argv[1]), json.loads(sys.argv[2])))
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)

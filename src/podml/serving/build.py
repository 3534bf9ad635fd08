"""Building a model version: `python -m podml.serving.build` (pod contract, like the trainer).

The platform never unpickles a model. This program does, in its own process: it installs what
`requirements.txt` adds (the same step a model server takes), loads the model with the serving
loader, tries to compile it to ONNX and to verify that against scikit-learn, and reports. The
version becomes `ready` (with its serving path and feature signature) when this exits 0, or
`failed` with the loader's own error otherwise.

Environment: MODEL_URL, MODEL_NAME, REQUIREMENTS_URL (optional), OUTPUT_REPORT_URL (PUT, JSON),
OUTPUT_ONNX_URL (PUT, optional), REQUIREMENTS_CACHE_DIR, REQUIREMENTS_PIP_ARGS,
TERMINATION_MESSAGE_PATH. Exit codes: 0 built; 2 the model or its requirements cannot be loaded;
3 storage; 1 unexpected.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from podml.serving.server import (
    RETRY_DELAYS,
    configure_logging,
    fetch_model,
    prepare_requirements,
    redact,
    settings_from_env,
)

log = logging.getLogger("podml.serving.build")


class StorageFailure(RuntimeError):
    pass


def put(url: str, data: bytes, content_type: str, what: str) -> None:
    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            request = Request(url, data=data, method="PUT", headers={"Content-Type": content_type})  # noqa: S310
            with urlopen(request, timeout=60) as response:  # noqa: S310 - the platform's signed URL
                response.read()
            return
        except HTTPError as exc:
            if exc.code < 500 and exc.code not in (408, 429):
                raise StorageFailure(
                    f"uploading the {what} was refused (HTTP {exc.code}) at {redact(url)}"
                ) from None
            reason = f"HTTP {exc.code}"
        except (URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
        if delay is None:
            raise StorageFailure(f"uploading the {what} failed after {attempt + 1} attempts: {reason}")
        time.sleep(delay)


def build(env: Mapping[str, str], workdir: Path) -> dict[str, Any]:
    from podml.serving.loader import load_model
    from podml.serving.onnx_model import compile_onnx

    settings = settings_from_env(env)
    python = prepare_requirements(settings, workdir)
    if python is not None:  # the model needs packages the platform lacks: continue in their environment
        sys.stdout.flush()
        os.execve(python, [python, "-m", "podml.serving.build"], {**os.environ, "SERVING_ENV_READY": "1"})  # noqa: S606
    model_file = fetch_model(settings, workdir)
    started = time.perf_counter()
    model = load_model(model_file, name=settings.model_name, prefer_onnx=False)
    info = model.info
    log.info(
        "loaded %s (%s) in %.2f s", settings.model_name, info.serving_path, time.perf_counter() - started
    )
    onnx: dict[str, Any] | None = None
    serving_path = info.serving_path
    onnx_url = env.get("OUTPUT_ONNX_URL")
    if onnx_url:
        report = compile_onnx(model_file, workdir / "model.onnx")
        onnx = asdict(report)
        if report.ok:
            put(onnx_url, (workdir / "model.onnx").read_bytes(), "application/octet-stream", "ONNX model")
            serving_path = "onnx"
        log.info("ONNX: %s", "verified" if report.ok else f"not used ({report.reason})")
    return {
        "ok": True,
        "serving_path": serving_path,
        "task": info.task,
        "features": [asdict(feature) for feature in info.features] if info.features is not None else None,
        "classes": info.classes,
        "versions": info.versions,
        "onnx": onnx,
        "extra": {
            key: value for key, value in info.extra.items() if isinstance(value, str | int | float | bool)
        },
    }


def main(env: Mapping[str, str]) -> int:
    configure_logging()
    termination = env.get("TERMINATION_MESSAGE_PATH")
    try:
        with tempfile.TemporaryDirectory(prefix="podml-build-") as tmp:
            report = build(env, Path(tmp))
        put(env["OUTPUT_REPORT_URL"], json.dumps(report, default=str).encode(), "application/json", "report")
        return 0
    except StorageFailure as exc:
        reason, code = str(exc), 3
    except KeyError as exc:
        reason, code = f"missing environment variable {exc}", 2
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        code = 2 if type(exc).__name__ in ("ModelLoadError", "RequirementsError", "RuntimeError") else 1
        if code == 1:
            log.exception("building the model failed")
    print(f"error: {reason}", file=sys.stderr, flush=True)
    if termination:
        Path(termination).write_text(reason[:4000])
    return code


if __name__ == "__main__":
    sys.exit(main(os.environ))

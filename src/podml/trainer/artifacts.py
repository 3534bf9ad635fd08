"""The trainer's two outputs: the model artifact (joblib) and the metrics document (JSON)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from podml import catalog
from podml.trainer import evaluate
from podml.trainer.errors import TrainingError
from podml.trainer.transfer import upload

if TYPE_CHECKING:
    import httpx
    from sklearn.pipeline import Pipeline

    from podml.trainer.data import Table
    from podml.trainer.settings import TrainerConfig

FORMAT_VERSION: Final = 1
MODEL_CONTENT_TYPE: Final = "application/octet-stream"
METRICS_CONTENT_TYPE: Final = "application/json"
METADATA_ATTRIBUTE: Final = "podml_metadata_"

Log = Callable[[str], None]


def evaluate_model(
    model: Pipeline,
    spec: catalog.ModelSpec,
    task: catalog.Task,
    table: Table,
    X_train: Any,
    test: np.ndarray[Any, Any],
    seed: int,
) -> dict[str, Any]:
    """Metrics on the held-out rows (at most a quarter of `max_train_rows` for models that are slow
    to predict), feature importances and, for regression, a sample of predictions."""
    test_sampled_from = None
    if spec.max_train_rows is not None and len(test) > spec.max_train_rows // 4:
        test_sampled_from = len(test)
        picked = np.random.default_rng(seed).choice(test, size=spec.max_train_rows // 4, replace=False)
        test = np.sort(picked)
    X_test, y_test = table.features.iloc[test], table.target.iloc[test]
    try:
        predicted, scores = evaluate.predict(model, X_test, task)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise TrainingError(f"predicting the test rows failed: {' '.join(str(exc).split())[:400]}") from None
    if task == "regression":
        metrics = evaluate.regression_metrics(y_test, predicted)
        sample = evaluate.predictions_sample(y_test, predicted, seed)
    else:
        metrics = evaluate.classification_metrics(model.classes_, y_test, predicted, scores)
        sample = None
    importances, method = evaluate.feature_importances(model, X_train, X_test, y_test, seed)
    return {
        "metrics": metrics,
        "test_size": len(test),
        "test_sampled_from": test_sampled_from,
        "feature_importances": importances,
        "feature_importance_method": method,
        "predictions_sample": sample,
    }


def library_versions() -> dict[str, str]:
    import joblib
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "pandas": pandas.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
    }


def metadata(
    config: TrainerConfig, task: catalog.Task, params: dict[str, Any], table: Table, model: Pipeline
) -> dict[str, Any]:
    """What the artifact carries as `podml_metadata_` (and the metrics as "model")."""
    classes = evaluate.json_safe(list(model.classes_)) if task == "classification" else None
    return {
        "format_version": FORMAT_VERSION,
        "model_type": config.model_type,
        "task": task,
        "hyperparams": evaluate.json_safe(params),
        "features": [{"name": name, "type": kind} for name, kind in table.kinds.items()],
        "target": {"name": config.y_column, "type": table.target_kind, "classes": classes},
        "library_versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def build_metrics(
    config: TrainerConfig,
    spec: catalog.ModelSpec,
    task: catalog.Task,
    params: dict[str, Any],
    table: Table,
    model: Pipeline,
    train_size: int,
    evaluation: dict[str, Any],
    notes: list[str],
    warnings: list[str],
    timings: dict[str, float],
) -> dict[str, Any]:
    info = metadata(config, task, params, table, model)
    model.podml_metadata_ = info
    rows_used = len(table.target)
    test_rows = evaluation["test_sampled_from"] or evaluation["test_size"]
    return {
        "task": task,
        "model_type": config.model_type,
        "hyperparams": info["hyperparams"],
        "metrics": evaluation["metrics"],
        "rows_read": table.rows_read,
        "rows_used": rows_used,
        "rows_dropped_missing_target": table.rows_dropped_missing_target,
        "train_size": train_size,
        "train_sampled_from": rows_used - test_rows if train_size < rows_used - test_rows else None,
        "test_size": evaluation["test_size"],
        "test_sampled_from": evaluation["test_sampled_from"],
        "fit_seconds": round(timings["fit_seconds"], 4),
        "feature_importances": evaluation["feature_importances"],
        "feature_importance_method": evaluation["feature_importance_method"],
        "predictions_sample": evaluation["predictions_sample"],
        "notes": notes,
        "warnings": warnings,
        "timings": {key: round(value, 4) for key, value in timings.items()},
        "model": info,
    }


def save_and_upload(
    config: TrainerConfig,
    model: Pipeline,
    metrics: dict[str, Any],
    workdir: Path,
    http: httpx.Client,
    started: float,
    log: Log,
) -> None:
    """Dump the pipeline with joblib, PUT it, then PUT the metrics; the model first, so metrics
    never describe a model that is not there."""
    import joblib

    path = workdir / "model.joblib"
    mark = time.perf_counter()
    joblib.dump(model, path)
    log(f"saved the model: {path.stat().st_size / 1e6:.2f} MB in {time.perf_counter() - mark:.2f} s")
    mark = time.perf_counter()
    upload(http, config.model_url, path, MODEL_CONTENT_TYPE, "model", log)
    log(f"uploaded the model in {time.perf_counter() - mark:.2f} s")
    metrics["timings"]["total_seconds"] = round(time.perf_counter() - started, 4)
    body = json.dumps(evaluate.json_safe(metrics), allow_nan=False, separators=(",", ":")).encode()
    upload(http, config.metrics_url, body, METRICS_CONTENT_TYPE, "metrics", log)
    log(f"uploaded the metrics; done in {time.perf_counter() - started:.2f} s")

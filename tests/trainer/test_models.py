"""Every catalog model, for each of its tasks, trains on small generated data and scores sanely."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from podml import catalog
from tests.trainer.conftest import Jobs, Outcome, classification_frame, regression_frame

CASES = [(name, task) for name, spec in catalog.CATALOG.items() for task in spec.tasks]
# Regularised defaults (alpha = 1) shrink the slope of y = 3x + 2 on purpose: a looser bound for them.
REGRESSION_R2 = {"linear_regression": 0.99, "lasso": 0.95, "elastic_net": 0.8}

METRIC_KEYS = {
    "task",
    "model_type",
    "hyperparams",
    "metrics",
    "rows_read",
    "rows_used",
    "rows_dropped_missing_target",
    "train_size",
    "train_sampled_from",
    "test_size",
    "test_sampled_from",
    "fit_seconds",
    "feature_importances",
    "feature_importance_method",
    "predictions_sample",
    "notes",
    "warnings",
    "timings",
    "model",
}
METADATA_KEYS = {
    "format_version",
    "model_type",
    "task",
    "hyperparams",
    "features",
    "target",
    "library_versions",
    "created_at",
}


def _reject_constant(name: str) -> None:
    raise AssertionError(f"metrics JSON contains {name}")


def check_documents(outcome: Outcome, model_type: str, task: str) -> dict[str, Any]:
    """The uploads are well formed: content types, strict JSON, metadata on the loaded pipeline."""
    outcome.check_ok()
    assert outcome.model_upload is not None
    assert outcome.metrics_upload is not None
    assert outcome.model_upload.content_type == "application/octet-stream"
    assert outcome.metrics_upload.content_type == "application/json"
    assert outcome.model_upload.content_length == str(len(outcome.model_upload.body))
    metrics: dict[str, Any] = json.loads(outcome.metrics_upload.body, parse_constant=_reject_constant)
    assert set(metrics) == METRIC_KEYS
    assert metrics["task"] == task
    assert metrics["model_type"] == model_type
    assert set(metrics["model"]) == METADATA_KEYS
    assert metrics["model"]["library_versions"].keys() == {"python", "sklearn", "pandas", "numpy", "joblib"}
    assert metrics["train_size"] + metrics["test_size"] == metrics["rows_used"]
    assert metrics["fit_seconds"] >= 0
    assert outcome.termination is None
    assert outcome.stderr == ""
    pipeline = outcome.pipeline()
    assert pipeline.podml_metadata_ == metrics["model"]
    importances = metrics["feature_importances"]
    if importances is not None:
        values = [item["importance"] for item in importances]
        assert values == sorted(values, reverse=True)
        assert math.isclose(sum(values), 1.0, abs_tol=1e-4)
    return metrics


@pytest.mark.parametrize(("model_type", "task"), CASES, ids=[f"{m}-{t}" for m, t in CASES])
def test_every_model_trains(jobs: Jobs, model_type: str, task: str) -> None:
    if task == "regression":
        frame, x, y = regression_frame(), ["x"], "y"
    else:
        frame, x, y = classification_frame(), ["a", "b"], "label"
    outcome = jobs.run(jobs.env(frame, x, y, MODEL_TYPE=model_type))  # TASK=auto infers it
    metrics = check_documents(outcome, model_type, task)
    pipeline = outcome.pipeline()
    sample = frame.head(20)
    predictions = pipeline.predict(sample[x])
    if task == "regression":
        assert metrics["metrics"]["r2"] > REGRESSION_R2.get(model_type, 0.9), metrics["metrics"]
        assert set(metrics["metrics"]) == {"r2", "rmse", "mae"}
        pairs = metrics["predictions_sample"]
        assert 0 < len(pairs) <= 200
        assert set(pairs[0]) == {"actual", "predicted"}
        assert metrics["model"]["target"]["classes"] is None
        assert np.corrcoef(predictions, sample["y"])[0, 1] > 0.95
    else:
        scores = metrics["metrics"]
        assert scores["accuracy"] > 0.95, scores
        assert scores["roc_auc"] is not None
        assert scores["roc_auc"] > 0.95
        assert scores["confusion_matrix"]["labels"] == ["left", "right"]
        assert sum(map(sum, scores["confusion_matrix"]["matrix"])) == metrics["test_size"]
        assert metrics["model"]["target"]["classes"] == ["left", "right"]
        assert metrics["predictions_sample"] is None
        assert (predictions == sample["label"].to_numpy()).mean() > 0.9


def test_linear_regression_recovers_the_line(jobs: Jobs) -> None:
    frame = regression_frame(rows=500)
    outcome = jobs.run(jobs.env(frame, None, "y", X_COLUMN="x", FIT_INTERCEPT="true"))
    metrics = check_documents(outcome, "linear_regression", "regression")
    assert metrics["metrics"]["r2"] > 0.99
    model = outcome.pipeline()[-1]
    assert model.coef_[0] == pytest.approx(3, abs=0.05)
    assert model.intercept_ == pytest.approx(2, abs=0.05)
    assert metrics["hyperparams"] == {"fit_intercept": True}
    assert metrics["feature_importances"] == [{"feature": "x", "importance": 1.0}]
    assert metrics["feature_importance_method"] == "coefficients"
    assert metrics["train_size"] == 400
    assert metrics["test_size"] == 100


def test_fit_intercept_false_and_hyperparams_win(jobs: Jobs) -> None:
    frame = regression_frame()
    off = jobs.run(jobs.env(frame, ["x"], "y", FIT_INTERCEPT="false"))
    off.check_ok()
    assert off.pipeline()[-1].intercept_ == 0.0
    assert off.metrics["hyperparams"] == {"fit_intercept": False}
    both = jobs.run(jobs.env(frame, ["x"], "y", FIT_INTERCEPT="false", HYPERPARAMS='{"fit_intercept": true}'))
    both.check_ok()
    assert both.metrics["hyperparams"] == {"fit_intercept": True}
    assert "FIT_INTERCEPT is ignored" in both.stdout


def test_hyperparams_reach_the_estimator(jobs: Jobs) -> None:
    params = {"n_estimators": 7, "max_depth": 3, "min_samples_leaf": 2, "class_weight": "balanced"}
    outcome = jobs.run(
        jobs.env(
            classification_frame(),
            ["a", "b"],
            "label",
            MODEL_TYPE="random_forest",
            HYPERPARAMS=json.dumps(params),
        )
    )
    outcome.check_ok()
    forest = outcome.pipeline()[-1]
    assert (forest.n_estimators, forest.max_depth, forest.class_weight) == (7, 3, "balanced")
    assert forest.random_state == 42
    assert outcome.metrics["hyperparams"] == params


def test_classification_only_params_are_dropped_for_regression(jobs: Jobs) -> None:
    env = jobs.env(
        regression_frame(),
        ["x"],
        "y",
        MODEL_TYPE="decision_tree",
        HYPERPARAMS='{"class_weight": null, "max_depth": 4}',
    )
    outcome = jobs.run(env)
    outcome.check_ok()
    assert outcome.metrics["hyperparams"] == {"max_depth": 4, "min_samples_leaf": 1}


def test_mlp_layers_from_a_choice_string(jobs: Jobs) -> None:
    env = jobs.env(
        classification_frame(),
        ["a", "b"],
        "label",
        MODEL_TYPE="mlp",
        HYPERPARAMS='{"hidden_layer_sizes": "32,16"}',
    )
    outcome = jobs.run(env)
    outcome.check_ok()
    assert outcome.pipeline()[-1].hidden_layer_sizes == (32, 16)


def test_multiclass_has_no_roc_auc_and_a_full_confusion_matrix(jobs: Jobs) -> None:
    rng = np.random.default_rng(1)
    label = rng.integers(0, 3, 300)
    frame = pd.DataFrame({"v": label * 10 + rng.normal(0, 1, 300), "kind": np.array(["a", "b", "c"])[label]})
    outcome = jobs.run(jobs.env(frame, ["v"], "kind", MODEL_TYPE="logistic_regression"))
    metrics = check_documents(outcome, "logistic_regression", "classification")
    assert metrics["metrics"]["roc_auc"] is None
    matrix = metrics["metrics"]["confusion_matrix"]
    assert matrix["labels"] == ["a", "b", "c"]
    assert len(matrix["matrix"]) == 3
    assert metrics["metrics"]["accuracy"] > 0.95


def test_numeric_labels_with_an_explicit_task(jobs: Jobs) -> None:
    frame = classification_frame()
    frame["label"] = (frame["label"] == "right").astype(int)
    outcome = jobs.run(jobs.env(frame, ["a", "b"], "label", MODEL_TYPE="knn", TASK="classification"))
    metrics = check_documents(outcome, "knn", "classification")
    assert metrics["model"]["target"] == {"name": "label", "type": "numeric", "classes": [0, 1]}
    assert metrics["metrics"]["roc_auc"] > 0.95


def test_slow_models_train_on_a_sample(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    capped = dataclasses.replace(catalog.CATALOG["svm"], max_train_rows=60)
    monkeypatch.setitem(catalog.CATALOG, "svm", capped)
    outcome = jobs.run(jobs.env(classification_frame(rows=300), ["a", "b"], "label", MODEL_TYPE="svm"))
    outcome.check_ok()
    metrics = outcome.metrics
    assert (metrics["train_size"], metrics["train_sampled_from"]) == (60, 240)
    assert (metrics["test_size"], metrics["test_sampled_from"]) == (15, 60)
    assert any("random 60 of the 240 training rows" in note for note in metrics["notes"])

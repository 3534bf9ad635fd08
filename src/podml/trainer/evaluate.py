"""Score a fitted pipeline on the held-out rows; feature importances; JSON-safe values.

Feature importances are per input column, sum to 1 and are sorted, highest first:
* "impurity": the model's `feature_importances_` (decision tree, random forest);
* "coefficients": |coefficient| x standard deviation of the transformed feature (so features on
  different scales compare), averaged over classes (linear models, linear SVM);
* "permutation": the drop in score when a column is shuffled, on at most `PERMUTATION_ROWS` test
  rows (gradient boosting, which has no built-in importances);
* none otherwise (k-nearest neighbours, MLP, kernel SVM).
Transformed columns (one-hot, datetime parts) add up to the input column they come from.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from podml.trainer.pipeline import output_owners

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

SAMPLE_PREDICTIONS: Final = 200
TOP_IMPORTANCES: Final = 50
COEFFICIENT_SAMPLE_ROWS: Final = 2000
PERMUTATION_ROWS: Final = 2000
PERMUTATION_REPEATS: Final = 2


def json_safe(value: Any) -> Any:
    """`value` with numpy scalars and arrays as Python values and NaN or infinities as None."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return [json_safe(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # timestamps and other oddities used as class labels


def regression_metrics(y_true: pd.Series[Any], y_pred: np.ndarray[Any, Any]) -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    truth = y_true.to_numpy(dtype="float64")
    return {
        "r2": float(r2_score(truth, y_pred)) if len(truth) > 1 else None,
        "rmse": math.sqrt(float(mean_squared_error(truth, y_pred))),
        "mae": float(mean_absolute_error(truth, y_pred)),
    }


def classification_metrics(
    classes: np.ndarray[Any, Any],
    y_true: pd.Series[Any],
    y_pred: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any] | None,
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, the confusion matrix, and ROC AUC for two classes."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    truth = y_true.to_numpy()
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, y_pred, labels=classes, average="macro", zero_division=0
    )
    roc_auc = None
    if len(classes) == 2 and scores is not None:
        positive = truth == classes[1]
        if positive.any() and not positive.all():
            roc_auc = float(roc_auc_score(positive, scores))
    matrix = confusion_matrix(truth, y_pred, labels=classes)
    return {
        "accuracy": float(accuracy_score(truth, y_pred)),
        "f1_macro": float(f1),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "roc_auc": roc_auc,
        "confusion_matrix": {"labels": json_safe(list(classes)), "matrix": matrix.tolist()},
    }


def predict(pipeline: Pipeline, X: pd.DataFrame, task: str) -> tuple[np.ndarray[Any, Any], Any]:
    """Predictions, and for two-class models the scores of the second class (for ROC AUC).

    Classifiers with probabilities are asked once: the prediction is the most probable class,
    which is what their `predict` returns too."""
    if task != "classification":
        return np.asarray(pipeline.predict(X)), None
    classes = pipeline.classes_
    if hasattr(pipeline, "predict_proba"):
        try:
            proba = np.asarray(pipeline.predict_proba(X))
        except AttributeError:
            proba = None
        if proba is not None:
            predicted = classes[np.argmax(proba, axis=1)]
            return predicted, proba[:, 1] if len(classes) == 2 else None
    predicted = np.asarray(pipeline.predict(X))
    scores = None
    if len(classes) == 2 and hasattr(pipeline, "decision_function"):
        scores = np.asarray(pipeline.decision_function(X))
    return predicted, scores


def predictions_sample(
    y_true: pd.Series[Any], y_pred: np.ndarray[Any, Any], seed: int
) -> list[dict[str, Any]]:
    """Up to `SAMPLE_PREDICTIONS` random {actual, predicted} pairs of the test rows."""
    count = min(SAMPLE_PREDICTIONS, len(y_true))
    picked = np.sort(np.random.default_rng(seed).choice(len(y_true), size=count, replace=False))
    actual = y_true.to_numpy()[picked]
    return [
        {"actual": json_safe(a), "predicted": json_safe(p)}
        for a, p in zip(actual.tolist(), np.asarray(y_pred)[picked].tolist(), strict=True)
    ]


def _coefficient_weights(pipeline: Pipeline, X_train: pd.DataFrame, seed: int) -> np.ndarray[Any, Any] | None:
    coef = np.asarray(getattr(pipeline[-1], "regressor_", pipeline[-1]).coef_, dtype="float64")
    magnitude = np.abs(coef) if coef.ndim == 1 else np.abs(coef).mean(axis=0)
    rows = min(COEFFICIENT_SAMPLE_ROWS, len(X_train))
    sample = X_train.iloc[np.sort(np.random.default_rng(seed).choice(len(X_train), rows, replace=False))]
    transformed = pipeline[0].transform(sample)
    if hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    spread = np.asarray(transformed, dtype="float64").std(axis=0)
    if spread.shape != magnitude.shape:
        return None
    return np.asarray(magnitude * spread)


def _permutation_weights(
    pipeline: Pipeline, X_test: pd.DataFrame, y_test: pd.Series[Any], seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    rows = min(PERMUTATION_ROWS, len(X_test))
    picked = np.sort(rng.choice(len(X_test), size=rows, replace=False))
    X, y = X_test.iloc[picked].copy(), y_test.iloc[picked]
    baseline = float(pipeline.score(X, y))
    drops: dict[str, float] = {}
    for column in X.columns:
        original = X[column].copy()
        total = 0.0
        for _ in range(PERMUTATION_REPEATS):
            X[column] = original.to_numpy()[rng.permutation(rows)]
            total += baseline - float(pipeline.score(X, y))
        X[column] = original
        drops[str(column)] = max(0.0, total / PERMUTATION_REPEATS)
    return drops


def feature_importances(
    pipeline: Pipeline,
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    y_test: pd.Series[Any],
    seed: int,
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """[{feature, importance}] for the input columns, highest first (top 50), and the method."""
    model = getattr(pipeline[-1], "regressor_", pipeline[-1])  # inside a TransformedTargetRegressor
    per_column: dict[str, float] = {}
    if hasattr(model, "feature_importances_") or hasattr(model, "coef_"):
        owners = output_owners(pipeline[0])
        weights: np.ndarray[Any, Any] | None
        if hasattr(model, "feature_importances_"):
            method, weights = "impurity", np.asarray(model.feature_importances_, dtype="float64")
        else:
            method, weights = "coefficients", _coefficient_weights(pipeline, X_train, seed)
        if owners is None or weights is None or len(owners) != len(weights):
            return None, None
        for owner, weight in zip(owners, weights.tolist(), strict=True):
            per_column[owner] = per_column.get(owner, 0.0) + (weight if math.isfinite(weight) else 0.0)
    elif type(model).__name__.startswith("HistGradientBoosting") and len(X_test) > 1:
        method, per_column = "permutation", _permutation_weights(pipeline, X_test, y_test, seed)
    else:
        return None, None
    for column in X_train.columns:
        per_column.setdefault(str(column), 0.0)
    total = sum(per_column.values())
    ranked = sorted(per_column.items(), key=lambda item: (-item[1], item[0]))[:TOP_IMPORTANCES]
    return [
        {"feature": name, "importance": round(value / total, 6) if total > 0 else 0.0}
        for name, value in ranked
    ], method

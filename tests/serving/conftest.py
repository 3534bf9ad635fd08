"""Tiny trained models for the model-server tests, built once per session and saved with joblib.

`serving_models` is a factory: each method returns a cached `TrainedModel` (the fitted object, the
path of its `model.joblib`, and sample rows as a DataFrame, as instances and as records). The named
fixtures below are shortcuts. PodML-style models are built with the trainer's own pipeline builder
and carry a `podml_metadata_` like the trainer's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from podml import catalog
from podml.trainer import pipeline as pipelines

ROWS = 400


@dataclass(frozen=True)
class TrainedModel:
    model: Any
    path: Path
    frame: pd.DataFrame  # sample rows, in the columns (and dtypes) the model was fitted on
    names: list[str]

    @property
    def instances(self) -> list[list[Any]]:
        return [[_plain(v) for v in row] for row in self.frame.itertuples(index=False)]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.names, row, strict=True)) for row in self.instances]

    def expected(self, rows: int | None = None) -> list[Any]:
        """The model's own `.predict` on the sample rows, as plain Python values."""
        frame = self.frame if rows is None else self.frame.iloc[:rows]
        data = frame if hasattr(self.model, "feature_names_in_") else frame.to_numpy()
        return [v.item() if isinstance(v, np.generic) else v for v in self.model.predict(data)]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _metadata(model_type: str, task: str, kinds: dict[str, str], target: str, model: Any) -> dict[str, Any]:
    classes = (
        [c.item() if isinstance(c, np.generic) else c for c in model.classes_]
        if task == "classification"
        else None
    )
    return {
        "format_version": 1,
        "model_type": model_type,
        "task": task,
        "hyperparams": {},
        "features": [{"name": n, "type": k} for n, k in kinds.items()],
        "target": {"name": target, "type": "categorical" if classes else "numeric", "classes": classes},
        "library_versions": {},
        "created_at": "2026-01-01T00:00:00Z",
    }


class ServingModels:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.rng = np.random.default_rng(7)

    def _numbers(self, n_features: int) -> pd.DataFrame:
        rng = np.random.default_rng(n_features)
        return pd.DataFrame({f"x{i}": rng.normal(size=ROWS) for i in range(n_features)})

    def _podml(
        self,
        name: str,
        model_type: str,
        task: catalog.Task,
        frame: pd.DataFrame,
        kinds: dict[str, str],
        y: Any,
        params: dict[str, Any] | None = None,
    ) -> TrainedModel:
        spec = catalog.get(model_type)
        model = pipelines.build(
            spec, task, catalog.validate_hyperparams(model_type, params or {}, task), kinds, 0
        )
        model.fit(frame, y)
        model.podml_metadata_ = _metadata(model_type, task, kinds, "y", model)
        return self._save(name, model, frame)

    def _save(self, name: str, model: Any, frame: pd.DataFrame) -> TrainedModel:
        path = self.root / name / "model.joblib"
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, path)
        return TrainedModel(model, path, frame.iloc[:50].reset_index(drop=True), list(frame.columns))

    @functools.cache  # noqa: B019 - one factory per session
    def linear(self) -> TrainedModel:
        """PodML-style: median imputation + StandardScaler + LinearRegression on 8 numeric features."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import StandardScaler

        frame = self._numbers(8)
        y = frame.to_numpy() @ np.arange(1.0, 9.0) + 3.0 + np.random.default_rng(1).normal(size=ROWS) * 0.1
        names = list(frame.columns)
        pre = ColumnTransformer(
            [("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), names)]
        )
        model = Pipeline([("preprocess", pre), ("model", LinearRegression())]).fit(frame, y)
        model.podml_metadata_ = _metadata(
            "linear_regression", "regression", dict.fromkeys(names, "numeric"), "y", model
        )
        return self._save("linear", model, frame)

    @functools.cache  # noqa: B019
    def forest(self) -> TrainedModel:
        """PodML's random_forest regression, 50 trees of depth 8, on 8 numeric features."""
        frame = self._numbers(8)
        y = np.sin(frame.x0 * 2) + frame.x1 * frame.x2 + frame.x3
        kinds = dict.fromkeys(frame.columns, "numeric")
        params = {"n_estimators": 50, "max_depth": 8}
        return self._podml("forest", "random_forest", "regression", frame, kinds, y, params)

    @functools.cache  # noqa: B019
    def classifier(self) -> TrainedModel:
        """PodML's logistic_regression with string classes on 4 numeric features."""
        frame = self._numbers(4)
        score = frame.x0 + 0.5 * frame.x1
        y = np.where(score > 0.5, "high", np.where(score < -0.5, "low", "mid"))
        return self._podml(
            "classifier",
            "logistic_regression",
            "classification",
            frame,
            dict.fromkeys(frame.columns, "numeric"),
            y,
        )

    @functools.cache  # noqa: B019
    def categorical(self) -> TrainedModel:
        """PodML's ridge on numeric, boolean (0/1) and categorical columns (one-hot, 4 values)."""
        rng = np.random.default_rng(3)
        frame = pd.DataFrame(
            {
                "size": rng.normal(size=ROWS),
                "flag": rng.integers(0, 2, size=ROWS).astype(float),
                "color": pd.Series(rng.choice(["red", "green", "blue", "black"], size=ROWS), dtype="str"),
            }
        )
        y = frame["size"] * 2 + frame["flag"] + (frame["color"] == "red") * 3
        kinds = {"size": "numeric", "flag": "boolean", "color": "categorical"}
        return self._podml("categorical", "ridge", "regression", frame, kinds, y)

    @functools.cache  # noqa: B019
    def dated(self) -> TrainedModel:
        """PodML's linear_regression with a datetime feature (PodML's own transformer: not ONNX-able)."""
        rng = np.random.default_rng(4)
        days = rng.integers(0, 5000, size=ROWS)
        frame = pd.DataFrame(
            {
                "when": pd.Series([str(np.datetime64("2000-01-01") + int(d)) for d in days], dtype="str"),
                "amount": rng.normal(size=ROWS),
            }
        )
        y = days / 365 + frame["amount"]
        kinds = {"when": "datetime", "amount": "numeric"}
        return self._podml("dated", "linear_regression", "regression", frame, kinds, y)

    @functools.cache  # noqa: B019
    def plain(self) -> TrainedModel:
        """A user's upload: StandardScaler + LinearRegression fitted on a bare array, no metadata."""
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        frame = self._numbers(8)
        y = frame.to_numpy() @ np.arange(8.0, 0.0, -1.0)
        model = make_pipeline(StandardScaler(), LinearRegression()).fit(frame.to_numpy(), y)
        return self._save("plain", model, frame)


@pytest.fixture(scope="session")
def serving_models(tmp_path_factory: pytest.TempPathFactory) -> ServingModels:
    return ServingModels(tmp_path_factory.mktemp("serving-models"))


def _shortcut(method: Callable[[ServingModels], TrainedModel]) -> Any:
    @pytest.fixture(scope="session", name=method.__name__ + "_model")
    def fixture(serving_models: ServingModels) -> TrainedModel:
        return method(serving_models)

    return fixture


linear_model = _shortcut(ServingModels.linear)
forest_model = _shortcut(ServingModels.forest)
classifier_model = _shortcut(ServingModels.classifier)
categorical_model = _shortcut(ServingModels.categorical)
dated_model = _shortcut(ServingModels.dated)
plain_model = _shortcut(ServingModels.plain)

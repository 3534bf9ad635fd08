"""Serve a fitted scikit-learn estimator, tuned for single rows.

Rows are validated by a precomputed `Schema` (one numpy call for all-numeric rows). A pipeline fitted
on a DataFrame selects its columns by name, and building a DataFrame costs ~1 ms a request, so at load
time the estimator is compiled to an **array plan**: a copy whose `ColumnTransformer` is replaced by a
dispatcher slicing the request array by position, with `feature_names_in_` dropped from the copied
steps. The plan is accepted only when it reproduces the original's predictions (and probabilities)
on a sample; otherwise requests go through a DataFrame built per request (`extra["input"]` says which).
Estimators are set to `n_jobs=1`: thread pools only slow down single-row predictions.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from podml.serving.contract import Feature, InvalidInput, ModelInfo, Prediction
from podml.serving.inputs import Array, Schema, synthetic_rows

PLAN_SAMPLE_ROWS: Final = 64
NO_PROBABILITIES: Final = "model has no probabilities"


def json_list(values: Any) -> list[Any]:
    """Predictions as JSON-safe Python values (numpy scalars unwrapped, NaN and inf → None)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        # numbers: one C call when all are finite (the usual case; 10x faster than the loop below)
        if values.dtype.kind != "f" or np.isfinite(values).all():
            fast: list[Any] = values.tolist()
            return fast
        return _finite_items(values)
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    out: list[Any] = []
    for item in items:
        if isinstance(item, np.generic):
            item = item.item()
        if isinstance(item, float) and not math.isfinite(item):
            item = None
        elif isinstance(item, list):
            item = json_list(item)
        out.append(item)
    return out


def _finite_items(values: Any) -> list[Any]:
    finite: list[Any] = np.where(np.isfinite(values), values, np.array(None)).tolist()
    return finite


def single_threaded(estimator: Any) -> None:
    """Set every `n_jobs` parameter (nested ones too) to 1."""
    try:
        params = estimator.get_params(deep=True)
    except (AttributeError, TypeError):
        return
    keys = {key: 1 for key in params if key == "n_jobs" or key.endswith("__n_jobs")}
    if keys:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            estimator.set_params(**keys)


def _strip_names(estimator: Any) -> None:
    vars(estimator).pop("feature_names_in_", None) if hasattr(estimator, "__dict__") else None
    for _, step in getattr(estimator, "steps", None) or []:
        if hasattr(step, "__dict__"):
            _strip_names(step)
    inner = getattr(estimator, "regressor_", None)
    if inner is not None:
        _strip_names(inner)


def _dense(part: Any) -> Array:
    if hasattr(part, "toarray"):
        part = part.toarray()
    result: Array = np.asarray(part)
    return result.reshape(len(result), -1)


def _column_dispatch(ct: Any, schema: Schema | None) -> Callable[[Array], Array] | None:
    """A function doing what a fitted ColumnTransformer does, on a positional array."""
    indices: Mapping[str, Any] | None = getattr(ct, "_transformer_to_input_indices", None)
    if indices is None or getattr(ct, "set_output", None) is None:
        return None
    names_in = getattr(ct, "feature_names_in_", None)
    groups: list[tuple[Any, list[int], bool]] = []
    for name, transformer, _ in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        positions = [int(i) for i in indices.get(name, [])]
        if not positions:
            continue
        if names_in is not None:
            if schema is None or any(str(names_in[i]) not in schema.index for i in positions):
                return None
            positions = [schema.index[str(names_in[i])] for i in positions]
        numeric = schema is None or all(schema.numeric[i] for i in positions)
        if not (isinstance(transformer, str) and transformer == "passthrough"):
            _strip_names(transformer)
        groups.append((transformer, positions, numeric))

    def dispatch(X: Array) -> Array:
        parts = []
        for transformer, positions, numeric in groups:
            block = X[:, positions]
            if numeric and block.dtype != np.float64:
                block = block.astype(np.float64)
            parts.append(block if isinstance(transformer, str) else _dense(transformer.transform(block)))
        return parts[0] if len(parts) == 1 else np.hstack(parts)

    return dispatch


class ArrayPlan:
    """The estimator's transforms applied to a positional array, then its final step."""

    def __init__(self, transforms: list[Callable[[Any], Any]], final: Any) -> None:
        self.transforms = transforms
        self.final = final

    def _prepare(self, X: Array) -> Any:
        for transform in self.transforms:
            X = transform(X)
        return X

    def predict(self, X: Array) -> Any:
        return self.final.predict(self._prepare(X))

    def predict_proba(self, X: Array) -> Any:
        return self.final.predict_proba(self._prepare(X))


def compile_plan(estimator: Any, schema: Schema | None) -> ArrayPlan | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    est = copy.deepcopy(estimator)
    steps = list(est.steps) if isinstance(est, Pipeline) else [("model", est)]
    transforms: list[Callable[[Any], Any]] = []
    for position, (_, step) in enumerate(steps[:-1]):
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if isinstance(step, ColumnTransformer):
            dispatch = _column_dispatch(step, schema if position == 0 else None)
            if dispatch is None:
                return None
            transforms.append(dispatch)
        else:
            _strip_names(step)
            transforms.append(step.transform)
    final = steps[-1][1]
    if final is None or isinstance(final, (str, ColumnTransformer)):
        return None
    _strip_names(final)
    return ArrayPlan(transforms, final)


def categories_of(estimator: Any, schema: Schema) -> dict[str, list[str]]:
    """Known category values per input column, read from the fitted encoders (for sample rows)."""
    found: dict[str, list[str]] = {}
    for step in [estimator, *[s for _, s in getattr(estimator, "steps", [])]]:
        for _, transformer, columns in getattr(step, "transformers_", []):
            inner = [s for _, s in getattr(transformer, "steps", [])] or [transformer]
            for part in inner:
                cats = getattr(part, "categories_", None)
                if cats is None or not isinstance(columns, list | tuple):
                    continue
                for column, values in zip(columns, cats, strict=False):
                    if str(column) in schema.index:
                        found[str(column)] = [str(v) for v in values if isinstance(v, str)]
    return found


class SklearnModel:
    """A `LoadedModel` for a fitted scikit-learn estimator with a known input width."""

    def __init__(self, estimator: Any, info: ModelInfo, schema: Schema, *, named: bool) -> None:
        single_threaded(estimator)
        self.estimator = estimator
        self.schema = schema
        self.named = named  # fitted on a DataFrame: needs column names unless the plan works
        self.plan: ArrayPlan | None = None
        self.has_proba = hasattr(estimator, "predict_proba")
        if named:
            self.plan = self._checked_plan()
        input_path = "arrays" if (self.plan is not None or not named) else "dataframe"
        self.info = ModelInfo(
            name=info.name,
            task=info.task,
            features=info.features,
            classes=info.classes,
            serving_path=info.serving_path,
            versions=info.versions,
            extra={**info.extra, "input": input_path},
        )

    def frame(self, X: Array) -> Any:
        import pandas as pd

        columns = {}
        for j, name in enumerate(self.schema.names):
            column = X[:, j]
            columns[name] = column.astype(np.float64) if self.schema.numeric[j] else column
        return pd.DataFrame(columns)

    def _checked_plan(self) -> ArrayPlan | None:
        try:
            plan = compile_plan(self.estimator, self.schema)
            if plan is None:
                return None
            categories = categories_of(self.estimator, self.schema)
            rows = synthetic_rows(self.schema.features, PLAN_SAMPLE_ROWS, categories=categories)
            X = self.schema.records(rows)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. "X does not have valid feature names"
                checks: list[tuple[Any, Any]] = [
                    (plan.predict(X), self.estimator.predict(self.frame(X))),
                    (plan.predict(X[:1]), self.estimator.predict(self.frame(X[:1]))),
                ]
                if self.has_proba:
                    checks.append((plan.predict_proba(X), self.estimator.predict_proba(self.frame(X))))
        except Exception:
            return None
        for got, expected in checks:
            got, expected = np.asarray(got), np.asarray(expected)
            if got.shape != expected.shape:
                return None
            if got.dtype.kind in "fc" or expected.dtype.kind in "fc":
                if not np.allclose(got, expected, rtol=1e-9, atol=1e-9, equal_nan=True):
                    return None
            elif not np.array_equal(got, expected):
                return None
        return plan

    def _run(self, X: Array, probabilities: bool) -> Prediction:
        if probabilities and not self.has_proba:
            raise InvalidInput(NO_PROBABILITIES)
        try:
            if self.plan is not None:
                target: Any = self.plan
                data: Any = X
            else:
                target = self.estimator
                data = self.frame(X) if self.named else X
            predictions = target.predict(data)
            proba = target.predict_proba(data) if probabilities else None
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the model refused the input: {' '.join(str(exc).split())[:300]}") from None
        return Prediction(json_list(predictions), None if proba is None else json_list(proba))

    def predict_instances(self, rows: Sequence[Sequence[Any]], *, probabilities: bool = False) -> Prediction:
        return self._run(self.schema.instances(rows), probabilities)

    def predict_records(
        self, rows: Sequence[Mapping[str, Any]], *, probabilities: bool = False
    ) -> Prediction:
        if not self.named:
            raise InvalidInput("this model declares no feature names: send instances (lists of values)")
        return self._run(self.schema.records(rows), probabilities)


class PythonModel:
    """Anything with `.predict`: rows are passed as a 2-D array, nothing is checked beforehand."""

    def __init__(self, model: Any, info: ModelInfo) -> None:
        self.model = model
        self.info = info
        self.has_proba = callable(getattr(model, "predict_proba", None))

    def predict_instances(self, rows: Sequence[Sequence[Any]], *, probabilities: bool = False) -> Prediction:
        if probabilities and not self.has_proba:
            raise InvalidInput(NO_PROBABILITIES)
        if isinstance(rows, str | bytes) or not isinstance(rows, Sequence) or len(rows) == 0:
            raise InvalidInput("instances must be a non-empty list of rows")
        try:
            try:
                X: Array = np.asarray(rows, dtype=np.float64)
            except (ValueError, TypeError):
                X = np.asarray(rows, dtype=object)
            predictions = self.model.predict(X)
            proba = self.model.predict_proba(X) if probabilities else None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidInput(f"the model refused the input: {' '.join(str(exc).split())[:300]}") from None
        return Prediction(json_list(predictions), None if proba is None else json_list(proba))

    def predict_records(
        self, rows: Sequence[Mapping[str, Any]], *, probabilities: bool = False
    ) -> Prediction:
        raise InvalidInput("this model declares no feature names: send instances (lists of values)")


def unnamed_features(width: int) -> list[Feature]:
    return [Feature(f"x{i}", "numeric") for i in range(width)]

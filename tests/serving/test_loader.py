"""load_model on each fixture model: predictions equal the model's own `.predict`, and bad input is
an `InvalidInput` naming the problem (never another exception)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import joblib
import pytest

from podml.serving.contract import InvalidInput
from podml.serving.loader import ModelLoadError, load_model
from tests.serving.conftest import ServingModels, TrainedModel

NAMED = ["linear", "forest", "classifier", "categorical", "dated"]


def close(got: list[Any], expected: list[Any]) -> bool:
    if len(got) != len(expected):
        return False
    return all(
        math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-9) if isinstance(e, float) else g == e
        for g, e in zip(got, expected, strict=True)
    )


@pytest.mark.parametrize("kind", NAMED)
def test_named_models_predict_like_sklearn(serving_models: ServingModels, kind: str) -> None:
    trained: TrainedModel = getattr(serving_models, kind)()
    model = load_model(trained.path, name=kind, prefer_onnx=False)
    assert model.info.serving_path == "sklearn"
    assert model.info.extra["input"] == "arrays"  # the compiled array plan was accepted
    assert [f.name for f in model.info.features or []] == trained.names
    expected = trained.expected()
    assert close(model.predict_instances(trained.instances).predictions, expected)
    assert close(model.predict_records(trained.records).predictions, expected)
    for i in range(3):  # single rows
        assert close(model.predict_records([trained.records[i]]).predictions, expected[i : i + 1])


def test_metadata_is_described(classifier_model: TrainedModel, linear_model: TrainedModel) -> None:
    model = load_model(classifier_model.path, name="c", prefer_onnx=False)
    assert model.info.task == "classification"
    assert model.info.classes == ["high", "low", "mid"]
    assert model.info.extra["model_type"] == "logistic_regression"
    assert load_model(linear_model.path, name="l", prefer_onnx=False).info.task == "regression"


def test_probabilities(classifier_model: TrainedModel, linear_model: TrainedModel) -> None:
    model = load_model(classifier_model.path, name="c", prefer_onnx=False)
    out = model.predict_records(classifier_model.records[:5], probabilities=True)
    expected = classifier_model.model.predict_proba(classifier_model.frame.iloc[:5]).tolist()
    assert out.probabilities is not None
    assert all(close(g, e) for g, e in zip(out.probabilities, expected, strict=True))
    assert all(isinstance(label, str) for label in out.predictions)
    regression = load_model(linear_model.path, name="l", prefer_onnx=False)
    with pytest.raises(InvalidInput, match="model has no probabilities"):
        regression.predict_instances(linear_model.instances[:1], probabilities=True)


def test_plain_estimator_without_metadata(plain_model: TrainedModel) -> None:
    model = load_model(plain_model.path, name="p", prefer_onnx=False)
    assert model.info.features is None
    assert model.info.task == "regression"
    assert close(model.predict_instances(plain_model.instances).predictions, plain_model.expected())
    with pytest.raises(InvalidInput, match="expected 8 values per instance, got 7"):
        model.predict_instances([plain_model.instances[0][:7]])
    with pytest.raises(InvalidInput, match="send instances"):
        model.predict_records(plain_model.records[:1])


class Doubler:
    def predict(self, X: Any) -> Any:
        return X[:, 0] * 2


def test_anything_with_predict_is_served_as_python(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(Doubler(), path)
    model = load_model(path, name="d")
    assert model.info.serving_path == "python"
    assert model.predict_instances([[1.5, 0], [2, 0]]).predictions == [3.0, 4.0]
    with pytest.raises(InvalidInput, match="no probabilities"):
        model.predict_instances([[1]], probabilities=True)


def test_unloadable_artifacts(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nope.joblib", name="x")
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_model(tmp_path / "junk.joblib", name="x")
    joblib.dump({"no": "predict"}, tmp_path / "dict.joblib")
    with pytest.raises(ModelLoadError, match="no predict method"):
        load_model(tmp_path / "dict.joblib", name="x")


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([[1.0] * 7], "expected 8 values per instance, got 7"),
        ([[1.0] * 8, [1.0] * 9], r"expected 8 values per instance, got 9 \(instance 1\)"),
        ([[1.0] * 7 + ["abc"]], r"instance 0: feature 'x7' needs a number, got 'abc'"),
        ([[1.0] * 7 + [[1]]], "feature 'x7' needs a number"),
        ([[1.0] * 7 + [{"a": 1}]], "feature 'x7' needs a number"),
        ([], "no instances"),
        ("abc", "must be a list"),
        ([5], "instance 0 must be a list of 8 values"),
    ],
)
def test_invalid_instances(linear_model: TrainedModel, instances: Any, message: str) -> None:
    model = load_model(linear_model.path, name="l", prefer_onnx=False)
    with pytest.raises(InvalidInput, match=message):
        model.predict_instances(instances)


def test_invalid_records(linear_model: TrainedModel, categorical_model: TrainedModel) -> None:
    model = load_model(linear_model.path, name="l", prefer_onnx=False)
    good = linear_model.records[0]
    missing = {k: v for k, v in good.items() if k != "x3"}
    with pytest.raises(InvalidInput, match=r"record 0: missing feature\(s\) 'x3'"):
        model.predict_records([missing])
    with pytest.raises(InvalidInput, match=r"record 1: unknown feature\(s\) 'extra'"):
        model.predict_records([good, {**good, "extra": 1}])
    with pytest.raises(InvalidInput, match=r"missing feature\(s\) 'x3'; unknown feature\(s\) 'x33'"):
        model.predict_records([{**missing, "x33": 1}])
    with pytest.raises(InvalidInput, match="record 0: feature 'x2' needs a number, got 'two'"):
        model.predict_records([{**good, "x2": "two"}])
    with pytest.raises(InvalidInput, match="record 0 must be an object"):
        model.predict_records([[1, 2]])  # type: ignore[list-item]
    mixed = load_model(categorical_model.path, name="c", prefer_onnx=False)
    row = categorical_model.records[0]
    with pytest.raises(InvalidInput, match="feature 'flag' needs a boolean value"):
        mixed.predict_records([{**row, "flag": "maybe"}])


def test_lenient_values(linear_model: TrainedModel, categorical_model: TrainedModel) -> None:
    """Missing numbers are imputed; numeric strings and boolean tokens are accepted; unseen categories
    are what the pipeline makes of them."""
    model = load_model(linear_model.path, name="l", prefer_onnx=False)
    row = linear_model.instances[0]
    assert (
        model.predict_instances([[str(v) for v in row]]).predictions
        == model.predict_instances([row]).predictions
    )
    assert isinstance(model.predict_instances([[None, *row[1:]]]).predictions[0], float)
    mixed = load_model(categorical_model.path, name="c", prefer_onnx=False)
    record = categorical_model.records[0]
    yes = mixed.predict_records([{**record, "flag": "yes"}]).predictions
    assert yes == mixed.predict_records([{**record, "flag": 1}]).predictions
    unseen = mixed.predict_records([{**record, "color": "purple"}, {**record, "color": None}]).predictions
    assert all(isinstance(v, float) for v in unseen)

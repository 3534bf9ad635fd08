"""compile_onnx converts and verifies, or reports why not; OnnxModel serves like scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podml.serving.contract import InvalidInput
from podml.serving.loader import load_model
from podml.serving.onnx_model import TOLERANCE, compile_onnx
from tests.serving.conftest import ServingModels, TrainedModel


@pytest.mark.parametrize("kind", ["linear", "forest", "classifier", "categorical", "plain"])
def test_converts_verifies_and_serves(serving_models: ServingModels, kind: str, tmp_path: Path) -> None:
    trained: TrainedModel = getattr(serving_models, kind)()
    out = tmp_path / "model.onnx"
    report = compile_onnx(trained.path, out)
    assert report.ok, report.reason
    assert report.reason is None
    assert report.rows >= 200
    assert out.exists()
    assert report.max_abs_diff is not None
    assert report.seconds > 0
    model = load_model(trained.path, name=kind, onnx_path=out)
    assert model.info.serving_path == "onnx"
    got = model.predict_instances(trained.instances).predictions
    expected = trained.expected()
    if model.info.task == "classification":
        assert got == expected
    else:
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    if kind != "plain":
        assert model.predict_records(trained.records).predictions == got


def test_onnx_probabilities_and_classes(classifier_model: TrainedModel, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    assert compile_onnx(classifier_model.path, out).ok
    model = load_model(classifier_model.path, name="c", onnx_path=out)
    assert model.info.classes == ["high", "low", "mid"]
    result = model.predict_records(classifier_model.records, probabilities=True)
    expected = classifier_model.model.predict_proba(classifier_model.frame)
    np.testing.assert_allclose(np.asarray(result.probabilities), expected, atol=TOLERANCE)


def test_onnx_input_errors(linear_model: TrainedModel, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    assert compile_onnx(linear_model.path, out).ok
    model = load_model(linear_model.path, name="l", onnx_path=out)
    with pytest.raises(InvalidInput, match="expected 8 values per instance, got 7"):
        model.predict_instances([[1.0] * 7])
    with pytest.raises(InvalidInput, match="model has no probabilities"):
        model.predict_instances([[1.0] * 8], probabilities=True)
    with pytest.raises(InvalidInput, match=r"unknown feature\(s\) 'y'"):
        model.predict_records([{**linear_model.records[0], "y": 1}])


def test_unconvertible_model_falls_back_with_reason(dated_model: TrainedModel, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    report = compile_onnx(dated_model.path, out)
    assert not report.ok
    assert report.reason is not None
    assert "FunctionTransformer" in report.reason
    assert not out.exists()
    model = load_model(dated_model.path, name="d", onnx_path=out)
    assert model.info.serving_path == "sklearn"
    assert model.info.extra["onnx"] == "no verified ONNX file"
    assert model.predict_records(dated_model.records).predictions == pytest.approx(dated_model.expected())


def test_caller_sample_and_bad_onnx_file(linear_model: TrainedModel, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    report = compile_onnx(linear_model.path, out, sample=linear_model.records)
    assert report.ok
    assert report.rows == len(linear_model.records)
    out.write_bytes(b"garbage")
    model = load_model(linear_model.path, name="l", onnx_path=out)
    assert model.info.serving_path == "sklearn"
    assert "could not be served" in model.info.extra["onnx"]
    assert load_model(linear_model.path, name="l", prefer_onnx=False).info.serving_path == "sklearn"
    broken = compile_onnx(tmp_path / "missing.joblib", tmp_path / "x.onnx")
    assert not broken.ok
    assert broken.reason is not None
    assert "could not be loaded" in broken.reason


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_tree_ensembles_send_missing_values_where_scikit_learn_does(task: str, tmp_path: Path) -> None:
    """A forest with no imputer in front takes NaN down each split's `missing_go_to_left` side;
    the compiled model must too, or a row with a gap gets another prediction (and the build would
    fall back to scikit-learn)."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 5))
    y = X @ rng.normal(size=5)
    estimator = (
        RandomForestRegressor(n_estimators=12, max_depth=6, random_state=0).fit(X, y)
        if task == "regression"
        else RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0).fit(
            X, np.digitize(y, [-1, 1])
        )
    )
    joblib.dump(estimator, tmp_path / "model.joblib")
    report = compile_onnx(tmp_path / "model.joblib", tmp_path / "model.onnx")
    assert report.ok, report.reason
    rows = rng.normal(size=(200, 5))
    rows[rng.random(rows.shape) < 0.3] = np.nan
    model = load_model(tmp_path / "model.joblib", name="f", onnx_path=tmp_path / "model.onnx")
    assert model.info.serving_path == "onnx"
    got = model.predict_instances([[None if np.isnan(v) else float(v) for v in row] for row in rows])
    expected = estimator.predict(rows)
    if task == "regression":
        np.testing.assert_allclose(got.predictions, expected, rtol=TOLERANCE, atol=TOLERANCE)
    else:
        assert got.predictions == expected.tolist()

"""The model catalog: complete, consistent with scikit-learn, and strict about hyperparameters."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from podml import catalog
from podml.trainer.pipeline import estimator_class

REGRESSION = {
    "linear_regression",
    "ridge",
    "lasso",
    "elastic_net",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
    "knn",
    "mlp",
}
CLASSIFICATION = {
    "logistic_regression",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
    "knn",
    "mlp",
    "svm",
}


def test_the_catalog_has_every_model_once() -> None:
    by_task = {
        task: {name for name, spec in catalog.CATALOG.items() if task in spec.tasks} for task in catalog.TASKS
    }
    assert by_task == {"regression": REGRESSION, "classification": CLASSIFICATION}
    assert catalog.DEFAULT_MODEL == "linear_regression"
    for both in ("decision_tree", "random_forest", "gradient_boosting", "knn", "mlp"):
        assert catalog.get(both).tasks == ("regression", "classification")


@pytest.mark.parametrize("spec", catalog.CATALOG.values(), ids=list(catalog.CATALOG))
def test_entry_is_consistent(spec: catalog.ModelSpec) -> None:
    assert spec.title
    assert spec.description
    assert "\n" not in spec.description
    assert len(spec.description) < 120
    assert set(spec.estimators) == set(spec.tasks)
    names = [param.name for param in spec.hyperparameters]
    assert len(names) == len(set(names))
    for param in spec.hyperparameters:
        assert param.check(param.default) == (param.default, None), param.name
        assert param.task is None or param.task in spec.tasks
        if param.type in ("int", "float"):
            assert param.minimum is not None
            assert param.maximum is not None
            assert param.minimum <= param.maximum
        if param.type == "choice":
            assert param.choices
            assert param.default in param.choices or param.default is None
    for task, dotted in spec.estimators.items():
        accepted = inspect.signature(estimator_class(dotted)).parameters
        for param in spec.hyperparameters:
            if param.applies_to(task):  # type: ignore[arg-type]
                assert param.name in accepted, f"{dotted} has no {param.name}"


def test_ranges_keep_jobs_small() -> None:
    limits = {"n_estimators": 1000, "max_iter": 10_000, "n_neighbors": 100}
    for spec in catalog.CATALOG.values():
        for param in spec.hyperparameters:
            if param.name in limits:
                assert param.maximum is not None
                assert param.maximum <= limits[param.name], (spec.name, param.name)
    for name in ("svm", "knn", "random_forest", "mlp"):
        assert catalog.get(name).max_train_rows is not None


def test_validate_fills_defaults() -> None:
    assert catalog.validate_hyperparams("linear_regression", {}) == {"fit_intercept": True}
    assert catalog.validate_hyperparams("ridge", {"alpha": 3}) == {"alpha": 3.0, "fit_intercept": True}
    forest = catalog.validate_hyperparams("random_forest", {"max_depth": None})
    assert forest == {"n_estimators": 100, "max_depth": None, "min_samples_leaf": 1, "class_weight": None}


def test_task_specific_parameters() -> None:
    values = {"class_weight": "balanced", "max_depth": 3}
    assert catalog.validate_hyperparams("decision_tree", values, "regression") == {
        "max_depth": 3,
        "min_samples_leaf": 1,
    }
    assert (
        catalog.validate_hyperparams("decision_tree", values, "classification")["class_weight"] == "balanced"
    )
    assert "class_weight" in catalog.validate_hyperparams("decision_tree", values)


@pytest.mark.parametrize(
    ("name", "values", "problem"),
    [
        ("linear_regression", {"alpha": 1}, "unknown hyperparameter 'alpha' for linear_regression"),
        ("linear_regression", {"fit_intercept": "yes"}, "'fit_intercept' must be true or false"),
        ("random_forest", {"n_estimators": 5000}, "'n_estimators' must be at most 1000"),
        ("random_forest", {"n_estimators": 2.5}, "'n_estimators' must be a whole number"),
        ("random_forest", {"n_estimators": None}, "'n_estimators' may not be null"),
        ("elastic_net", {"l1_ratio": 1.5}, "'l1_ratio' must be at most 1"),
        ("ridge", {"alpha": "big"}, "'alpha' must be a number"),
        ("ridge", {"alpha": float("nan")}, "'alpha' must be a finite number"),
        ("svm", {"kernel": "quantum"}, "'kernel' must be one of 'rbf', 'linear', 'poly'"),
        ("mlp", {"hidden_layer_sizes": "1000,1000"}, "'hidden_layer_sizes' must be one of"),
        ("knn", {"n_neighbors": True}, "'n_neighbors' must be a number"),
    ],
)
def test_invalid_hyperparameters(name: str, values: dict[str, Any], problem: str) -> None:
    with pytest.raises(catalog.CatalogError) as caught:
        catalog.validate_hyperparams(name, values)
    assert any(problem in item for item in caught.value.problems), caught.value.problems


def test_every_problem_is_reported() -> None:
    with pytest.raises(catalog.CatalogError) as caught:
        catalog.validate_hyperparams("knn", {"n_neighbors": 0, "weights": "heavy", "p": 3})
    assert len(caught.value.problems) == 3


def test_unknown_model_and_task_mismatch() -> None:
    with pytest.raises(catalog.CatalogError, match="unknown model_type 'nope'; choose one of: decision_tree"):
        catalog.get("nope")
    with pytest.raises(catalog.CatalogError, match="svm is a classification model"):
        catalog.check_task("svm", "regression")
    catalog.check_task("knn", "regression")


def test_estimator_kwargs() -> None:
    assert catalog.estimator_kwargs("mlp", {"hidden_layer_sizes": "64,32", "alpha": 0.1}) == {
        "hidden_layer_sizes": (64, 32),
        "alpha": 0.1,
    }


def test_as_dict_is_json_for_the_api() -> None:
    items = [spec.as_dict() for spec in catalog.CATALOG.values()]
    data = json.loads(json.dumps(items))
    linear = next(item for item in data if item["name"] == "linear_regression")
    assert linear["hyperparameters"][0]["name"] == "fit_intercept"
    assert set(linear["hyperparameters"][0]) == {
        "name",
        "type",
        "default",
        "description",
        "minimum",
        "maximum",
        "choices",
        "nullable",
        "task",
    }
    forest = next(item for item in data if item["name"] == "random_forest")
    assert forest["tasks"] == ["regression", "classification"]
    assert (
        next(p for p in forest["hyperparameters"] if p["name"] == "class_weight")["task"] == "classification"
    )

"""Load a model artifact into a `LoadedModel`: the only place in PodML that unpickles a model.

It runs inside the model-server process (never the control plane). Three kinds of artifact:

* a PodML-trained Pipeline: its `podml_metadata_` gives the features (with types), task and classes;
* a fitted scikit-learn estimator or pipeline a user uploaded: features from `feature_names_in_`
  (a column is categorical when a fitted encoder holds strings for it, numeric otherwise), else only
  the width from `n_features_in_`; the task from `is_classifier` / `is_regressor`;
* anything else with a `.predict` method: served as is (`serving_path` "python").

With `prefer_onnx` and a verified `.onnx` (written by `compile_onnx`), the ONNX file is served and
the pickle is not even read. `ModelLoadError` says why an artifact cannot be served.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Final, Literal

from podml.serving.contract import Feature, FeatureType, LoadedModel, ModelInfo
from podml.serving.inputs import Schema

METADATA_ATTRIBUTE: Final = "podml_metadata_"
FEATURE_TYPES: Final = frozenset({"numeric", "boolean", "categorical", "text", "datetime"})


class ModelLoadError(Exception):
    """The artifact cannot be served (the version's build fails with this message)."""


def read_artifact(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except FileNotFoundError:
        raise ModelLoadError(f"model file not found: {path}") from None
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            f"the model needs the Python module {exc.name!r}, which is not installed "
            "(declare it in requirements.txt)"
        ) from None
    except Exception as exc:
        raise ModelLoadError(f"the model file could not be loaded: {type(exc).__name__}: {exc}") from None


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {"python": platform.python_version(), "sklearn": sklearn.__version__, "numpy": numpy.__version__}


def _feature_type(value: Any) -> FeatureType:
    kind = str(value)
    if kind in FEATURE_TYPES:
        return kind  # type: ignore[return-value]
    return "categorical"


def _task(model: Any) -> Literal["regression", "classification"] | None:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return "classification"
    if is_regressor(model):
        return "regression"
    return None


def _classes(model: Any) -> list[Any] | None:
    from podml.serving.sklearn_model import json_list

    classes = getattr(model, "classes_", None)
    return None if classes is None else json_list(classes)


def describe(model: Any, name: str) -> tuple[ModelInfo, Schema, bool]:
    """The model's info, the schema its rows are validated with, and whether it takes column names."""
    from sklearn.base import BaseEstimator

    from podml.serving.sklearn_model import categories_of, unnamed_features

    meta = getattr(model, METADATA_ATTRIBUTE, None)
    if isinstance(meta, dict) and isinstance(meta.get("features"), list) and hasattr(model, "predict"):
        features = [Feature(str(f["name"]), _feature_type(f.get("type"))) for f in meta["features"]]
        target = meta.get("target") or {}
        task = meta.get("task") if meta.get("task") in ("regression", "classification") else _task(model)
        classes = target.get("classes") if task == "classification" else None
        extra = {"model_type": meta.get("model_type"), "trained_with": meta.get("library_versions")}
        info = ModelInfo(name, task, features, classes or _classes(model), "sklearn", _versions(), extra)
        return info, Schema(features), True
    fitted_width = getattr(model, "n_features_in_", None)
    if isinstance(model, BaseEstimator) and isinstance(fitted_width, int) and hasattr(model, "predict"):
        task = _task(model)
        classes = _classes(model) if task == "classification" else None
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            provisional = Schema([Feature(str(n)) for n in names])
            categorical = categories_of(model, provisional)
            features = [Feature(str(n), "categorical" if str(n) in categorical else "numeric") for n in names]
            info = ModelInfo(name, task, features, classes, "sklearn", _versions(), {"uploaded": True})
            return info, Schema(features), True
        info = ModelInfo(name, task, None, classes, "sklearn", _versions(), {"uploaded": True})
        info.extra["width"] = fitted_width
        return info, Schema(unnamed_features(fitted_width)), False
    if callable(getattr(model, "predict", None)):
        info = ModelInfo(name, None, None, None, "python", {"python": platform.python_version()})
        return info, Schema([]), False
    raise ModelLoadError(f"the artifact is a {type(model).__name__}, which has no predict method")


def load_model(
    path: Path, *, name: str, prefer_onnx: bool = True, onnx_path: Path | None = None
) -> LoadedModel:
    """The servable model at `path` (a joblib file), or its verified ONNX twin at `onnx_path`."""
    onnx_problem: str | None = None
    if prefer_onnx and onnx_path is not None and onnx_path.exists():
        from podml.serving.onnx_model import OnnxModel

        try:
            return OnnxModel(onnx_path, name)
        except Exception as exc:
            onnx_problem = f"the ONNX file could not be served: {type(exc).__name__}: {exc}"
    elif prefer_onnx:
        onnx_problem = "no verified ONNX file"
    model = read_artifact(path)
    info, schema, named = describe(model, name)
    if onnx_problem is not None and info.serving_path == "sklearn":
        info.extra["onnx"] = onnx_problem
    if info.serving_path == "python":
        from podml.serving.sklearn_model import PythonModel

        return PythonModel(model, info)
    from podml.serving.sklearn_model import SklearnModel

    return SklearnModel(model, info, schema, named=named)

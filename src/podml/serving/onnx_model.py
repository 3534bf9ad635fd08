"""The fast path: a fitted pipeline compiled to ONNX at version build time, served by ONNX Runtime.

`compile_onnx` converts with skl2onnx (one float input per numeric feature, one string input per
categorical/text/datetime feature; a model without feature names gets one `X` matrix), runs
scikit-learn and ONNX Runtime on a sample (the caller's rows, else `SAMPLE_ROWS` synthetic rows that
include missing values and unseen categories) and writes the `.onnx` only when they agree:

* regression: |onnx - sklearn| ≤ `TOLERANCE` x (1 + |sklearn|) for every row (float32 arithmetic);
* classification: identical labels, and every probability within `TOLERANCE` (absolute).

float32 inputs are tried first (what tree ensembles use anyway), then float64 when float32 is not
precise enough. The model's description (features, task, classes, input layout) is stored in the
ONNX file's metadata, so serving it needs neither the pickle nor scikit-learn.

Known limits of skl2onnx (these fall back to scikit-learn, with the reason in the report): custom
functions (PodML's datetime features), `TransformedTargetRegressor` (mlp regression), histogram
gradient boosting with this scikit-learn, one-hot encoders with infrequent categories.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from podml.serving.contract import Feature, InvalidInput, ModelInfo, Prediction
from podml.serving.inputs import Array, Schema, synthetic_rows
from podml.serving.onnx_trees import encode_missing_directions, sklearn_trees
from podml.serving.sklearn_model import NO_PROBABILITIES, categories_of, json_list

TOLERANCE: Final = 1e-4
SAMPLE_ROWS: Final = 256
METADATA_KEY: Final = "podml_info"
NUMERIC_DTYPES: Final = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class OnnxReport:
    ok: bool
    reason: str | None
    max_abs_diff: float | None
    seconds: float
    numeric_type: str | None = None  # "float32" | "float64" when ok
    rows: int = 0  # sample rows compared


# Converting a tree ensemble takes memory in proportion to its nodes (about 1 KiB each, measured on
# a 150-tree forest that needed over 2 GiB): past this, the model is served by scikit-learn.
MAX_TREE_NODES: Final = 500_000


def tree_nodes(estimator: Any) -> int:
    """How many decision-tree nodes the estimator (a pipeline, an ensemble, a tree) holds."""
    return sum(int(tree.node_count) for tree in sklearn_trees(estimator))


def preload() -> None:
    """Import the converter and the runtime (a second or more), e.g. in a process that forks builds."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import skl2onnx.common.data_types  # noqa: F401
    from skl2onnx import to_onnx  # noqa: F401


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def _adapt_for_converter(estimator: Any) -> None:
    """Equivalent settings skl2onnx can convert (on a copy; verification checks the result):
    * string imputers get "" as the missing marker (the served model feeds "" for a missing
      category; the trainer treats "" as missing too, so it is never a real value);
    * a one-hot encoder that found no infrequent category ignores unknown values: the same
      behaviour as `infrequent_if_exist` in that case."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    if isinstance(estimator, SimpleImputer):
        stats = getattr(estimator, "statistics_", None)
        if stats is not None and stats.dtype == object:
            estimator.missing_values = ""
        return
    if isinstance(estimator, OneHotEncoder):
        infrequent = getattr(estimator, "infrequent_categories_", None) or []
        if estimator.handle_unknown == "infrequent_if_exist" and all(i is None for i in infrequent):
            estimator.handle_unknown = "ignore"
        return
    for _, step in getattr(estimator, "steps", None) or []:
        _adapt_for_converter(step)
    for _, transformer, _ in getattr(estimator, "transformers_", None) or []:
        _adapt_for_converter(transformer)


def _feeds(schema: Schema, layout: str, numeric: Any, X: Array) -> dict[str, Array]:
    if layout == "matrix":
        return {"X": np.ascontiguousarray(X, dtype=numeric)}
    feeds: dict[str, Array] = {}
    for j, name in enumerate(schema.names):
        column = X[:, j : j + 1]
        if schema.numeric[j]:
            feeds[name] = column.astype(numeric)
        else:
            feeds[name] = np.array(
                [["" if not isinstance(v, str) else v] for v in column[:, 0]], dtype=object
            ).reshape(-1, 1)
    return feeds


def _session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4  # failures are reported by compile_onnx, not logged
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _compare(task: str | None, expected: tuple[Any, Any], got: list[Any]) -> tuple[float, str | None]:
    """The largest absolute difference, and why the outputs disagree (None when they agree)."""
    labels, proba = expected
    if task == "classification":
        onnx_labels = np.asarray(got[0]).ravel()
        if json_list(onnx_labels) != json_list(np.asarray(labels).ravel()):
            return float("nan"), "the ONNX labels differ from scikit-learn's"
        if proba is None:
            return 0.0, None
        if len(got) < 2:
            return float("nan"), "the ONNX model has no probabilities output"
        diff = float(np.max(np.abs(np.asarray(got[1], dtype=np.float64) - proba), initial=0.0))
        return diff, None if diff <= TOLERANCE else f"probabilities differ by {diff:.3g} > {TOLERANCE:g}"
    y = np.asarray(labels, dtype=np.float64).ravel()
    out = np.asarray(got[0], dtype=np.float64).ravel()
    if out.shape != y.shape:
        return float("nan"), f"the ONNX output has shape {out.shape}, scikit-learn's {y.shape}"
    both_nan = np.isnan(out) & np.isnan(y)
    delta = np.where(both_nan, 0.0, np.abs(out - y))
    diff = float(np.max(delta, initial=0.0))
    bound = TOLERANCE * (1.0 + np.abs(y))
    if np.isnan(delta).any() or (delta > bound).any():
        return diff, f"predictions differ by up to {diff:.3g} (tolerance {TOLERANCE:g} x (1 + |y|))"
    return diff, None


def compile_onnx(model_path: Path, out_path: Path, sample: list[dict[str, Any]] | None = None) -> OnnxReport:
    """Convert the model at `model_path` to ONNX and write `out_path` only if it verifies."""
    from podml.serving.loader import describe, read_artifact

    started = time.perf_counter()

    def failed(reason: str, diff: float | None = None, rows: int = 0) -> OnnxReport:
        return OnnxReport(False, reason, diff, round(time.perf_counter() - started, 4), None, rows)

    try:
        estimator = read_artifact(model_path)
        info, schema, named = describe(estimator, model_path.stem)
    except Exception as exc:
        return failed(f"the model could not be loaded: {_short(exc)}")
    if info.serving_path != "sklearn":
        return failed("not a fitted scikit-learn estimator")
    nodes = tree_nodes(estimator)
    if nodes > MAX_TREE_NODES:
        return failed(
            f"{nodes:,} tree nodes: over {MAX_TREE_NODES:,}, too large to convert within the limits"
        )
    from podml.serving.sklearn_model import SklearnModel

    reference = SklearnModel(estimator, info, schema, named=named)
    proba_wanted = info.task == "classification" and reference.has_proba
    categories = categories_of(estimator, schema)
    candidates = (
        [sample]
        if sample
        else [
            synthetic_rows(schema.features, SAMPLE_ROWS, categories=categories, missing=missing)
            for missing in (True, False)  # a model without imputation refuses missing values
        ]
    )
    problem = "no sample"
    for rows in candidates:
        try:
            X = schema.records(rows) if named else schema.instances([list(r.values()) for r in rows])
            expected = reference._run(X, proba_wanted)
            break
        except (InvalidInput, ValueError, TypeError) as exc:
            problem = f"the sample could not be predicted by scikit-learn: {_short(exc)}"
    else:
        return failed(problem)
    labels = np.asarray(expected.predictions, dtype=object if info.task == "classification" else np.float64)
    truth = (labels, None if expected.probabilities is None else np.asarray(expected.probabilities))
    layout = "columns" if named else "matrix"
    reasons: list[str] = []
    diff: float | None = None
    for numeric_type in ("float32", "float64"):
        try:
            model_bytes = _convert(estimator, schema, layout, numeric_type, info.task)
            session = _session(model_bytes)
            got = session.run(None, _feeds(schema, layout, NUMERIC_DTYPES[numeric_type], X))
        except Exception as exc:
            reasons.append(f"{numeric_type} conversion failed: {_short(exc)}")
            continue
        diff, mismatch = _compare(info.task, truth, got)
        if mismatch is None:
            _write(out_path, model_bytes, info, schema, (layout, numeric_type), proba_wanted)
            seconds = round(time.perf_counter() - started, 4)
            return OnnxReport(True, None, diff, seconds, numeric_type, len(X))
        reasons.append(f"{numeric_type} verification failed: {mismatch}")
    return failed("; ".join(reasons), diff, len(X))


def _convert(estimator: Any, schema: Schema, layout: str, numeric_type: str, task: str | None) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = FloatTensorType if numeric_type == "float32" else DoubleTensorType
    if layout == "matrix":
        initial: list[tuple[str, Any]] = [("X", number([None, schema.width]))]
    else:
        initial = [
            (f.name, number([None, 1]) if schema.numeric[j] else StringTensorType([None, 1]))
            for j, f in enumerate(schema.features)
        ]
    model = copy.deepcopy(estimator)
    _adapt_for_converter(model)
    options = {"zipmap": False} if task == "classification" else None
    onx = to_onnx(model, initial_types=initial, options=options)
    encode_missing_directions(onx, model)
    data: bytes = onx.SerializeToString()
    return data


def _write(
    out_path: Path, model_bytes: bytes, info: ModelInfo, schema: Schema, form: tuple[str, str], proba: bool
) -> None:
    layout, numeric_type = form
    import onnx

    model = onnx.load_from_string(model_bytes)
    description = {
        "format": 1,
        "task": info.task,
        "features": [{"name": f.name, "type": f.type} for f in schema.features],
        "declared_features": info.features is not None,
        "classes": info.classes,
        "layout": layout,
        "numeric_type": numeric_type,
        "probabilities": proba,
        "versions": info.versions,
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, out_path)


class OnnxModel:
    """A `LoadedModel` served by one single-threaded ONNX Runtime session."""

    def __init__(self, path: Path, name: str) -> None:
        import onnxruntime as ort

        self.session = _session(path.read_bytes())
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ValueError(f"{path} was not written by compile_onnx (no {METADATA_KEY} metadata)")
        described: Mapping[str, Any] = json.loads(meta[METADATA_KEY])
        features = [Feature(f["name"], f["type"]) for f in described["features"]]
        self.schema = Schema(features)
        self.layout = str(described["layout"])
        self.numeric = NUMERIC_DTYPES[described["numeric_type"]]
        self.task = described["task"]
        outputs = [o.name for o in self.session.get_outputs()]
        self.label_output = outputs[:1]
        self.proba_output = outputs[1:2] if described.get("probabilities") else []
        self.info = ModelInfo(
            name=name,
            task=self.task,
            features=features if described["declared_features"] else None,
            classes=described["classes"],
            serving_path="onnx",
            versions={**described["versions"], "onnxruntime": ort.__version__},
            extra={"input": self.layout, "numeric_type": described["numeric_type"]},
        )
        self.named = self.layout == "columns"

    def _run(self, X: Array, probabilities: bool) -> Prediction:
        if probabilities and not self.proba_output:
            raise InvalidInput(NO_PROBABILITIES)
        feeds = _feeds(self.schema, self.layout, self.numeric, X)
        names = self.label_output + (self.proba_output if probabilities else [])
        out = self.session.run(names, feeds)
        predictions = np.asarray(out[0])
        if self.task != "classification":
            predictions = predictions.astype(np.float64).ravel()
        else:
            predictions = predictions.ravel()
        proba = json_list(np.asarray(out[1], dtype=np.float64)) if probabilities else None
        return Prediction(json_list(predictions), proba)

    def predict_instances(self, rows: Sequence[Sequence[Any]], *, probabilities: bool = False) -> Prediction:
        return self._run(self.schema.instances(rows), probabilities)

    def predict_records(
        self, rows: Sequence[Mapping[str, Any]], *, probabilities: bool = False
    ) -> Prediction:
        if not self.named:
            raise InvalidInput("this model declares no feature names: send instances (lists of values)")
        return self._run(self.schema.records(rows), probabilities)

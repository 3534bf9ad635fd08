"""The protocol-agnostic data plane: a `LoadedModel`, its readiness, and the work behind every route.

After MLServer's `handlers/dataplane.py` and KServe's `protocol/dataplane.py`: the HTTP adapters in
`podml.serving.app` only decode JSON, call one method here and encode what it returns. Everything a
caller can get wrong raises a `ServingError` subclass carrying its HTTP status and a reason; the
model's own `InvalidInput` is answered 422 by the adapters. Anything else is a bug in the model or
here, and the adapters answer it 500 without details.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from podml import __version__
from podml.serving.contract import InvalidInput, LoadedModel, ModelInfo, Prediction

State = Literal["loading", "ready", "failed", "stopping"]
DEFAULT_MAX_BATCH_ROWS: Final = 10_000
V2_DATATYPES: Final = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
    | {"FP16", "FP32", "FP64", "BYTES"}
)
PREDICT: Final = "predict"
PREDICT_PROBA: Final = "predict_proba"
_PLATFORMS: Final = {"onnx": "onnxruntime", "sklearn": "sklearn", "python": "python"}


class ServingError(Exception):
    """A request the server cannot answer as asked; `status` is its HTTP status code."""

    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ServingError):
    status = 400


class ModelNotFound(ServingError):
    status = 404


class PayloadTooLarge(ServingError):
    status = 413


class Unprocessable(ServingError):
    status = 422


class NotReady(ServingError):
    status = 503


class DataPlane:
    """One named model and its state: loading → ready | failed, then stopping on shutdown."""

    def __init__(self, name: str, *, max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS) -> None:
        self.name = name
        self.max_batch_rows = max_batch_rows
        self.model: LoadedModel | None = None
        self.state: State = "loading"
        self.reason = "the model is loading"
        self._lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------------

    def set_model(self, model: LoadedModel) -> None:
        with self._lock:
            self.model = model
            if self.state != "stopping":
                self.state, self.reason = "ready", "the model is ready"

    def set_failed(self, reason: str) -> None:
        with self._lock:
            if self.state != "stopping":
                self.state, self.reason = "failed", reason

    def set_stopping(self) -> None:
        with self._lock:
            self.state, self.reason = "stopping", "the server is shutting down"

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def readiness(self) -> dict[str, Any]:
        """The /ready document (the caller answers 200 when `ready`, else 503)."""
        answer: dict[str, Any] = {"status": self.state, "model": self.name}
        if self.model is not None and self.state == "ready":
            answer["serving_path"] = self.model.info.serving_path
        else:
            answer["detail"] = self.reason
        return answer

    def check_name(self, name: str) -> None:
        if name != self.name:
            raise ModelNotFound(f"model {name!r} not found; this server serves {self.name!r}")

    def loaded(self, name: str | None = None) -> LoadedModel:
        """The model, for predictions: still served while stopping, so requests in flight finish."""
        if name is not None:
            self.check_name(name)
        model = self.model
        if model is None:
            raise NotReady(f"the model is not ready: {self.reason}")
        return model

    # ---- REST: POST /predict ----------------------------------------------------------------------

    def predict(self, payload: Any) -> dict[str, Any]:
        """`{"instances": [[...]]}` or `{"records": [{...}]}` (+ `"probabilities": true`)."""
        model = self.loaded()
        if not isinstance(payload, dict):
            raise BadRequest('expected a JSON object with "instances" or "records"')
        probabilities = payload.get("probabilities", False)
        if not isinstance(probabilities, bool):
            raise BadRequest('"probabilities" must be true or false')
        instances: Any = payload.get("instances")
        records: Any = payload.get("records")
        if (instances is None) == (records is None):
            raise BadRequest('expected exactly one of "instances" (a list of rows) or "records"')
        if probabilities:
            self._check_probabilities(model.info)
        if instances is not None:
            self._check_batch(instances, "instances", list, "a list of feature values")
            result = model.predict_instances(instances, probabilities=probabilities)
        else:
            self._check_batch(records, "records", dict, "an object of feature values")
            result = model.predict_records(records, probabilities=probabilities)
        answer: dict[str, Any] = {"predictions": result.predictions}
        if probabilities:
            answer["probabilities"] = self._probabilities(result)
        return answer

    def _check_batch(self, rows: Any, key: str, row_type: type, row_text: str) -> None:
        if not isinstance(rows, list):
            raise Unprocessable(f'"{key}" must be a list of rows')
        if not rows:
            raise Unprocessable(f'"{key}" is empty: send at least one row')
        if len(rows) > self.max_batch_rows:
            raise Unprocessable(
                f"{len(rows)} rows is over the limit of {self.max_batch_rows} rows per request"
            )
        for index, row in enumerate(rows):
            if type(row) is not row_type:
                raise Unprocessable(f"{key}[{index}] must be {row_text}")

    @staticmethod
    def _check_probabilities(info: ModelInfo) -> None:
        if info.task == "regression":
            raise Unprocessable(
                "probabilities are only available from classifiers; this model is a regressor"
            )

    @staticmethod
    def _probabilities(result: Prediction) -> list[list[float]]:
        if result.probabilities is None:
            raise Unprocessable("this model does not give probabilities")
        return result.probabilities

    # ---- Open Inference Protocol (V2) -------------------------------------------------------------

    @staticmethod
    def server_metadata() -> dict[str, Any]:
        return {"name": "podml-serving", "version": __version__, "extensions": []}

    def model_metadata(self, name: str) -> dict[str, Any]:
        info = self.loaded(name).info
        if info.features is None:
            inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, info.extra.get("width", -1)]}]
        else:
            inputs = [
                {"name": f.name, "datatype": _feature_datatype(f.type), "shape": [-1]} for f in info.features
            ]
        outputs: list[dict[str, Any]] = [
            {"name": PREDICT, "datatype": _label_datatype(info), "shape": [-1]},
        ]
        if info.task != "regression":
            width = len(info.classes) if info.classes is not None else -1
            outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, width]})
        parameters: dict[str, Any] = {"task": info.task, "serving_path": info.serving_path}
        if info.classes is not None:
            parameters["classes"] = info.classes
        if info.versions:
            parameters["versions"] = info.versions
        return {
            "name": self.name,
            "versions": [],
            "platform": _PLATFORMS.get(info.serving_path, info.serving_path),
            "inputs": inputs,
            "outputs": outputs,
            "parameters": parameters,
        }

    def model_ready(self, name: str) -> dict[str, Any]:
        self.check_name(name)
        return {"name": self.name, "ready": self.ready}

    def infer(self, name: str, payload: Any) -> dict[str, Any]:
        model = self.loaded(name)
        if not isinstance(payload, dict):
            raise BadRequest('expected a JSON object with "inputs"')
        inputs = payload.get("inputs")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
            raise BadRequest('"inputs" must be a non-empty list of tensors')
        request_id = payload.get("id")
        if request_id is not None and not isinstance(request_id, str):
            raise BadRequest('"id" must be a string')
        wanted = self._wanted_outputs(payload, model.info)
        probabilities = PREDICT_PROBA in wanted
        if probabilities:
            self._check_probabilities(model.info)
        tensors = [_tensor(t, index) for index, t in enumerate(inputs)]
        result = self._infer_tensors(model, tensors, probabilities)
        outputs: list[dict[str, Any]] = []
        count = len(result.predictions)
        for output in wanted:
            if output == PREDICT:
                data = result.predictions
                datatype = _values_datatype(data)
                if datatype == "BYTES":
                    data = [v if isinstance(v, str) else str(v) for v in data]
                outputs.append({"name": PREDICT, "datatype": datatype, "shape": [count], "data": data})
            else:
                rows = self._probabilities(result)
                width = len(rows[0]) if rows else 0
                flat = [p for row in rows for p in row]
                outputs.append(
                    {"name": PREDICT_PROBA, "datatype": "FP64", "shape": [count, width], "data": flat}
                )
        answer: dict[str, Any] = {"model_name": self.name, "outputs": outputs}
        if request_id is not None:
            answer["id"] = request_id
        return answer

    @staticmethod
    def _wanted_outputs(payload: Mapping[str, Any], info: ModelInfo) -> list[str]:
        parameters = payload.get("parameters", {})
        if not isinstance(parameters, dict):
            raise BadRequest('"parameters" must be an object')
        requested = payload.get("outputs")
        if requested is None:
            wanted = [PREDICT]
            flag = parameters.get("probabilities", parameters.get(PREDICT_PROBA, False))
            if not isinstance(flag, bool):
                raise BadRequest('parameter "probabilities" must be true or false')
            if flag:
                wanted.append(PREDICT_PROBA)
            return wanted
        if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
            raise BadRequest('"outputs" must be a list of {"name": ...} objects')
        wanted = []
        for output in requested:
            output_name = output.get("name")
            if output_name not in (PREDICT, PREDICT_PROBA):
                raise Unprocessable(
                    f"unknown output {output_name!r}; this model gives {PREDICT!r}, {PREDICT_PROBA!r}"
                )
            if output_name not in wanted:
                wanted.append(output_name)
        return wanted or [PREDICT]

    def _infer_tensors(self, model: LoadedModel, tensors: list[_Tensor], probabilities: bool) -> Prediction:
        info = model.info
        names = [f.name for f in info.features] if info.features is not None else None
        first = tensors[0]
        if (
            len(tensors) == 1
            and len(first.shape) == 2
            and (first.shape[1] != 1 or not names or first.name not in names)
        ):
            rows_count, width = first.shape
            self._check_rows(rows_count)
            data = first.data
            rows = [data[i * width : (i + 1) * width] for i in range(rows_count)]
            return model.predict_instances(rows, probabilities=probabilities)
        columns: dict[str, list[Any]] = {}
        rows_count = -1
        for tensor in tensors:
            if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
                raise Unprocessable(
                    f"input {tensor.name!r} has shape {tensor.shape}: send one tensor per feature with shape "
                    "[N] or [N, 1], or a single tensor with shape [N, features]"
                )
            if names is not None and tensor.name not in names:
                raise Unprocessable(
                    f"unknown input {tensor.name!r}; the model's inputs are: {', '.join(names)}"
                )
            if tensor.name in columns:
                raise Unprocessable(f"input {tensor.name!r} is given twice")
            if rows_count not in (-1, tensor.shape[0]):
                raise Unprocessable(
                    f"input {tensor.name!r} has {tensor.shape[0]} rows; other inputs have {rows_count}"
                )
            rows_count = tensor.shape[0]
            columns[tensor.name] = tensor.data
        self._check_rows(rows_count)
        if names is None:
            keys = list(columns)
            records = [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]
            return model.predict_records(records, probabilities=probabilities)
        missing = [n for n in names if n not in columns]
        if missing:
            raise Unprocessable(f"missing input{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        ordered = [columns[n] for n in names]
        return model.predict_instances(list(zip(*ordered, strict=True)), probabilities=probabilities)

    def _check_rows(self, count: int) -> None:
        if count < 1:
            raise Unprocessable("the batch is empty: send at least one row")
        if count > self.max_batch_rows:
            raise Unprocessable(f"{count} rows is over the limit of {self.max_batch_rows} rows per request")


class _Tensor:
    __slots__ = ("data", "name", "shape")

    def __init__(self, name: str, shape: list[int], data: list[Any]) -> None:
        self.name, self.shape, self.data = name, shape, data


def _tensor(raw: Mapping[str, Any], index: int) -> _Tensor:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f'inputs[{index}] needs a "name"')
    shape = raw.get("shape")
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(f'input {name!r}: "shape" must be a list of non-negative integers')
    datatype = raw.get("datatype")
    if datatype not in V2_DATATYPES:
        raise Unprocessable(f"input {name!r}: unknown datatype {datatype!r}")
    data = raw.get("data")
    if not isinstance(data, list):
        raise BadRequest(f'input {name!r}: "data" must be a list')
    if data and isinstance(data[0], list):
        data = _flatten(data)
    expected = math.prod(shape)
    if len(data) != expected:
        raise Unprocessable(f"input {name!r} has {len(data)} values; its shape {shape} needs {expected}")
    return _Tensor(name, shape, data)


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _feature_datatype(kind: str) -> str:
    return {"numeric": "FP64", "boolean": "BOOL"}.get(kind, "BYTES")


def _label_datatype(info: ModelInfo) -> str:
    if info.task == "regression":
        return "FP64"
    return _values_datatype(info.classes) if info.classes else "BYTES"


def _values_datatype(values: Sequence[Any]) -> str:
    kinds = {type(v) for v in values}
    if kinds <= {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    if all(isinstance(v, bool | int | float) for v in values):  # numpy scalars pass the float test
        return "FP64"
    return "BYTES"


__all__ = [
    "BadRequest",
    "DataPlane",
    "InvalidInput",
    "ModelNotFound",
    "NotReady",
    "PayloadTooLarge",
    "ServingError",
    "Unprocessable",
]

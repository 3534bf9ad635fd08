"""The model contract inside the model server: what a loaded model offers the data plane.

Small on purpose (after MLServer's `load / predict / unload`): the server's REST and Open
Inference Protocol adapters only ever see a `LoadedModel`, whatever served it (ONNX Runtime,
scikit-learn, or a user's own estimator).

Stdlib and numpy only: the server imports this before it knows which path a model will take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ServingPath = Literal["onnx", "sklearn", "python"]
FeatureType = Literal["numeric", "boolean", "categorical", "text", "datetime"]


class InvalidInput(ValueError):
    """The request's data does not fit the model (answered 422 with this message, never 500)."""


@dataclass(frozen=True)
class Feature:
    name: str
    type: FeatureType = "numeric"


@dataclass(frozen=True)
class ModelInfo:
    """What the server can say about a model without running it (V2 metadata, /ready, the UI)."""

    name: str
    task: Literal["regression", "classification"] | None
    features: list[Feature] | None  # None: an uploaded model that declared no signature
    classes: list[Any] | None = None
    serving_path: ServingPath = "sklearn"
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    predictions: list[Any]
    probabilities: list[list[float]] | None = None  # classifiers, when asked and able


class LoadedModel(Protocol):
    info: ModelInfo

    def predict_instances(self, rows: Sequence[Sequence[Any]], *, probabilities: bool = False) -> Prediction:
        """Rows as lists in feature order. Raises `InvalidInput` on wrong width or types."""
        ...

    def predict_records(
        self, rows: Sequence[Mapping[str, Any]], *, probabilities: bool = False
    ) -> Prediction:
        """Rows as {feature: value}. Raises `InvalidInput` on missing or unknown names, bad types."""
        ...

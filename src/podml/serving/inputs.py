"""Request rows → one 2-D array in feature order, validated once per request with precomputed tables.

A `Schema` is built once per model. `Schema.instances(rows)` and `Schema.records(rows)` give a
float64 array when every feature is numeric (or boolean), else an object array holding floats in the
numeric columns and `str` (or NaN for missing) elsewhere. Every problem is an `InvalidInput` that
names the row and the feature. `synthetic_rows` makes a sample that fits a schema (for verifying a
compiled model when the caller gives none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from podml.serving.contract import Feature, InvalidInput
from podml.tabular import parse_bool

NUMERIC_TYPES: Final = frozenset({"numeric", "boolean"})
MAX_NAMED: Final = 10
NAN: Final = float("nan")

Array = np.ndarray[Any, Any]


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in list(names)[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def _number(value: Any, kind: str) -> float | None:
    """A float for a numeric/boolean cell (NaN for missing), or None when it is not one."""
    if value is None:
        return NAN
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        if kind == "boolean" and (flag := parse_bool(value)) is not None:
            return 1.0 if flag else 0.0
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
        return float(value)
    return None


def _text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NAN
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


class Schema:
    """The precomputed structures for validating rows of one model's features."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.features = list(features)
        self.names = [f.name for f in self.features]
        self.width = len(self.names)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.name_set = frozenset(self.names)
        self.numeric = [f.type in NUMERIC_TYPES for f in self.features]
        self.all_numeric = all(self.numeric)
        self.numeric_positions = [i for i, flag in enumerate(self.numeric) if flag]
        self.other_positions = [i for i, flag in enumerate(self.numeric) if not flag]

    def _width_error(self, row: int, got: int) -> InvalidInput:
        return InvalidInput(f"expected {self.width} values per instance, got {got} (instance {row})")

    def _cell_error(self, row: int, position: int, value: Any) -> InvalidInput:
        feature = self.features[position]
        wanted = "a number" if feature.type == "numeric" else f"a {feature.type} value"
        shown = repr(value)[:60]
        return InvalidInput(f"instance {row}: feature {feature.name!r} needs {wanted}, got {shown}")

    def instances(self, rows: Sequence[Sequence[Any]]) -> Array:
        if isinstance(rows, str | bytes) or not isinstance(rows, Sequence | np.ndarray):
            raise InvalidInput("instances must be a list of rows")
        if len(rows) == 0:
            raise InvalidInput("no instances to predict")
        if self.all_numeric:
            try:  # the common case in one C call; any doubt goes to the slow path for a precise error
                array = np.asarray(rows, dtype=np.float64)
                if array.ndim == 2 and array.shape[1] == self.width:
                    return array
            except (ValueError, TypeError):
                pass
        return self._slow(rows)

    def _slow(self, rows: Sequence[Sequence[Any]]) -> Array:
        out = np.empty((len(rows), self.width), dtype=np.float64 if self.all_numeric else object)
        for r, row in enumerate(rows):
            if isinstance(row, str | bytes | Mapping) or not isinstance(row, Sequence | np.ndarray):
                raise InvalidInput(f"instance {r} must be a list of {self.width} values")
            if len(row) != self.width:
                raise self._width_error(r, len(row))
            for j, value in enumerate(row):
                feature = self.features[j]
                cell = _number(value, feature.type) if self.numeric[j] else _text(value)
                if cell is None:
                    raise self._cell_error(r, j, value)
                out[r, j] = cell
        return out

    def records(self, rows: Sequence[Mapping[str, Any]]) -> Array:
        if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Sequence):
            raise InvalidInput("records must be a list of objects")
        if len(rows) == 0:
            raise InvalidInput("no records to predict")
        names = self.names
        ordered: list[list[Any]] = []
        for r, record in enumerate(rows):
            if not isinstance(record, Mapping):
                raise InvalidInput(f"record {r} must be an object of feature: value")
            if len(record) != self.width or not self.name_set.issuperset(record):
                raise self._keys_error(r, record)
            try:
                ordered.append([record[name] for name in names])
            except KeyError:
                raise self._keys_error(r, record) from None
        try:
            return self.instances(ordered)
        except InvalidInput as exc:
            raise InvalidInput(str(exc).replace("instance", "record")) from None

    def _keys_error(self, row: int, record: Mapping[str, Any]) -> InvalidInput:
        missing = [name for name in self.names if name not in record]
        unknown = [str(key) for key in record if key not in self.index]
        parts = []
        if missing:
            parts.append(f"missing feature(s) {_names(missing)}")
        if unknown:
            parts.append(f"unknown feature(s) {_names(unknown)}")
        return InvalidInput(f"record {row}: " + "; ".join(parts) + f" (expected {_names(self.names)})")


def synthetic_rows(
    features: Sequence[Feature],
    n: int = 256,
    seed: int = 0,
    categories: Mapping[str, Sequence[str]] | None = None,
    missing: bool = True,
) -> list[dict[str, Any]]:
    """Rows that fit the features: normal numbers (some large, a few missing), 0/1 booleans, dates,
    and the known categories (`categories`) mixed with unseen spellings; with `missing`, every 17th
    value is None."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for feature in features:
        if feature.type == "numeric":
            values: list[Any] = (rng.normal(size=n) * rng.choice([1.0, 10.0, 100.0], size=n)).tolist()
        elif feature.type == "boolean":
            values = rng.integers(0, 2, size=n).astype(float).tolist()
        elif feature.type == "datetime":
            days = rng.integers(0, 20_000, size=n)
            values = [str(np.datetime64("1990-01-01") + int(d)) for d in days]
        else:
            known = [str(value) for value in (categories or {}).get(feature.name, [])]
            pool = [*known, *(f"unseen-{k}" for k in range(max(2, len(known) // 5)))]
            values = [pool[int(k)] for k in rng.integers(0, len(pool), size=n)]
        for i, value in enumerate(values):
            rows[i][feature.name] = None if missing and i % 17 == 5 else value
    return rows

"""Feature transformations that trained pipelines reference by import path.

A pipeline with datetime features pickles a reference to `datetime_features` and
`datetime_feature_names`, so loading such a model needs `podml` importable (the model server has it).
Keep both names, their signatures and their output stable: saved models depend on them. Models
without datetime features reference only scikit-learn and numpy.

Each datetime column becomes `DATETIME_PARTS`: year, month, day, day of week (Monday = 0), hour, and
days since 1970-01-01 (fractional), all in UTC (timestamps without a zone are taken as UTC). Values
may be datetimes or ISO 8601 strings (`-` or `/` between date parts); anything unparseable is missing.
"""

from __future__ import annotations

from typing import Any

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "epoch_days")


def _to_utc(values: Any) -> Any:
    import pandas as pd

    series = pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.tz_localize("UTC")
    present = series.notna()
    text = (
        series.astype(object).where(present).astype("string").str.strip().str.replace("/", "-", regex=False)
    )
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    retry = stamps.isna() & present
    if retry.any():  # "2024-1-5" and other valid but not strictly ISO spellings: slower, per value
        stamps[retry] = pd.to_datetime(text[retry], format="mixed", utc=True, errors="coerce")
    return stamps


def datetime_features(X: Any) -> Any:
    """A float array with `len(DATETIME_PARTS)` columns per input column (NaN where missing)."""
    import numpy as np
    import pandas as pd

    frame = (
        X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object).reshape(len(X), -1))
    )
    width = len(DATETIME_PARTS)
    out = np.full((len(frame), width * frame.shape[1]), np.nan)
    epoch = pd.Timestamp(0, tz="UTC")
    for j in range(frame.shape[1]):
        stamps = _to_utc(frame.iloc[:, j])
        accessor = stamps.dt
        parts = (
            accessor.year,
            accessor.month,
            accessor.day,
            accessor.day_of_week,
            accessor.hour,
            (stamps - epoch) / pd.Timedelta(days=1),
        )
        for k, part in enumerate(parts):
            out[:, width * j + k] = part.to_numpy(dtype="float64", na_value=np.nan)
    return out


def datetime_feature_names(transformer: Any, input_features: Any) -> Any:
    """Output names for `datetime_features` (FunctionTransformer's `feature_names_out` hook)."""
    import numpy as np

    if input_features is None:
        input_features = getattr(transformer, "feature_names_in_", None)
    if input_features is None:
        input_features = [f"x{i}" for i in range(getattr(transformer, "n_features_in_", 1))]
    return np.asarray([f"{name}_{part}" for name in input_features for part in DATETIME_PARTS], dtype=object)

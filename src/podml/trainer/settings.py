"""Read the trainer's configuration from environment variables, reporting every problem at once."""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from podml import catalog
from podml.tabular import parse_bool
from podml.trainer.errors import ConfigError

TaskChoice = Literal["regression", "classification", "auto"]

DEFAULT_TEST_SIZE = 0.2
DEFAULT_RANDOM_SEED = 42
URL_VARIABLES = ("DATASET_URL", "OUTPUT_MODEL_URL", "OUTPUT_METRICS_URL")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass(frozen=True)
class TrainerConfig:
    dataset_url: str
    model_url: str
    metrics_url: str
    x_columns: list[str]
    y_column: str
    model_type: str = catalog.DEFAULT_MODEL
    hyperparams: dict[str, Any] = field(default_factory=dict)  # as given, checked against the catalog
    fit_intercept: bool | None = None
    task: TaskChoice = "auto"
    test_size: float = DEFAULT_TEST_SIZE
    random_seed: int = DEFAULT_RANDOM_SEED
    csv_delimiter: str | None = None
    csv_encoding: str | None = None
    notes: list[str] = field(default_factory=list)  # harmless oddities worth a line in the log


def _get(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _url(env: Mapping[str, str], name: str, problems: list[str]) -> str:
    value = _get(env, name)
    if value is None:
        problems.append(f"{name} is not set")
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{name} must be an http:// or https:// URL")  # the value may hold a secret
    return value


def _columns(env: Mapping[str, str], problems: list[str], notes: list[str]) -> list[str]:
    raw, single = _get(env, "X_COLUMNS"), env.get("X_COLUMN")
    if raw is None:
        if single is None or not single.strip():
            problems.append("X_COLUMNS (a JSON list of column names) or X_COLUMN is not set")
            return []
        return [single.strip()]
    if single is not None and single.strip():
        notes.append("both X_COLUMNS and X_COLUMN are set; using X_COLUMNS")
    try:
        columns = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems.append(f"X_COLUMNS is not valid JSON ({exc.msg} at character {exc.pos})")
        return []
    if not isinstance(columns, list) or not all(isinstance(c, str) and c.strip() for c in columns):
        problems.append('X_COLUMNS must be a JSON list of column names, e.g. ["age", "income"]')
        return []
    names = [c.strip() for c in columns]
    if not names:
        problems.append("X_COLUMNS is empty; name at least one feature column")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.append(f"X_COLUMNS names {', '.join(repr(n) for n in twice)} more than once")
    return names


def _hyperparams(env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    raw = _get(env, "HYPERPARAMS")
    if raw is None:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems.append(f"HYPERPARAMS is not valid JSON ({exc.msg} at character {exc.pos})")
        return {}
    if not isinstance(values, dict):
        problems.append('HYPERPARAMS must be a JSON object, e.g. {"alpha": 0.5}')
        return {}
    return values


def _task(env: Mapping[str, str], problems: list[str]) -> TaskChoice:
    value = (_get(env, "TASK") or "auto").lower()
    if value in ("regression", "classification", "auto"):
        return value  # type: ignore[return-value]
    problems.append(f"TASK must be regression, classification or auto, not {value!r}")
    return "auto"


def _test_size(env: Mapping[str, str], problems: list[str]) -> float:
    raw = _get(env, "TEST_SIZE")
    if raw is None:
        return DEFAULT_TEST_SIZE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        problems.append(f"TEST_SIZE must be a fraction between 0 and 1 (exclusive), not {raw!r}")
        return DEFAULT_TEST_SIZE
    return value


def _seed(env: Mapping[str, str], problems: list[str]) -> int:
    raw = _get(env, "RANDOM_SEED")
    if raw is None:
        return DEFAULT_RANDOM_SEED
    if not raw.isdigit() or int(raw) >= 2**32:
        problems.append(f"RANDOM_SEED must be a whole number from 0 to 4294967295, not {raw!r}")
        return DEFAULT_RANDOM_SEED
    return int(raw)


def _csv_options(env: Mapping[str, str], problems: list[str]) -> tuple[str | None, str | None]:
    delimiter = env.get("CSV_DELIMITER") or None  # not stripped: the delimiter may be a tab
    if delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(delimiter.strip().lower(), delimiter)
        if len(delimiter) != 1 or delimiter in ('"', "\n", "\r"):
            problems.append(f"CSV_DELIMITER must be one character (or 'tab'), not {delimiter!r}")
            delimiter = None
    encoding = _get(env, "CSV_ENCODING")
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            problems.append(f"CSV_ENCODING {encoding!r} is not an encoding Python knows")
            encoding = None
    return delimiter, encoding


def parse_env(env: Mapping[str, str]) -> TrainerConfig:
    """The configuration, or `ConfigError` listing every missing or invalid variable."""
    problems: list[str] = []
    notes: list[str] = []
    dataset_url, model_url, metrics_url = (_url(env, name, problems) for name in URL_VARIABLES)
    x_columns = _columns(env, problems, notes)
    y_column = (env.get("Y_COLUMN") or "").strip()
    if not y_column:
        problems.append("Y_COLUMN is not set")
    elif y_column in x_columns:
        problems.append(f"Y_COLUMN '{y_column}' is also listed as a feature in X_COLUMNS")
    model_type = _get(env, "MODEL_TYPE") or catalog.DEFAULT_MODEL
    hyperparams = _hyperparams(env, problems)
    task = _task(env, problems)
    fit_intercept: bool | None = None
    raw_intercept = _get(env, "FIT_INTERCEPT")
    if raw_intercept is not None:
        fit_intercept = parse_bool(raw_intercept)
        if fit_intercept is None:
            problems.append(f"FIT_INTERCEPT must be true or false, not {raw_intercept!r}")
    try:
        spec = catalog.get(model_type)
    except catalog.CatalogError as exc:
        problems.extend(exc.problems)
    else:
        try:
            catalog.validate_hyperparams(model_type, hyperparams)
        except catalog.CatalogError as exc:
            problems.extend(f"HYPERPARAMS: {problem}" for problem in exc.problems)
        if task != "auto":
            try:
                catalog.check_task(model_type, task)
            except catalog.CatalogError as exc:
                problems.extend(f"TASK: {problem}" for problem in exc.problems)
        has_intercept = any(p.name == "fit_intercept" for p in spec.hyperparameters)
        if fit_intercept is not None and not has_intercept:
            notes.append(f"FIT_INTERCEPT is ignored: {model_type} has no intercept setting")
            fit_intercept = None
        elif fit_intercept is not None and "fit_intercept" in hyperparams:
            if hyperparams["fit_intercept"] != fit_intercept:
                notes.append("FIT_INTERCEPT is ignored: HYPERPARAMS sets fit_intercept")
            fit_intercept = None
    delimiter, encoding = _csv_options(env, problems)
    test_size = _test_size(env, problems)
    seed = _seed(env, problems)
    if problems:
        raise ConfigError(problems)
    return TrainerConfig(
        dataset_url=dataset_url,
        model_url=model_url,
        metrics_url=metrics_url,
        x_columns=x_columns,
        y_column=y_column,
        model_type=model_type,
        hyperparams=hyperparams,
        fit_intercept=fit_intercept,
        task=task,
        test_size=test_size,
        random_seed=seed,
        csv_delimiter=delimiter,
        csv_encoding=encoding,
        notes=notes,
    )


def resolved_hyperparams(config: TrainerConfig, task: catalog.Task) -> dict[str, Any]:
    """The model's hyperparameters for `task`: HYPERPARAMS over FIT_INTERCEPT over the defaults."""
    values = dict(config.hyperparams)
    if config.fit_intercept is not None:
        values.setdefault("fit_intercept", config.fit_intercept)
    return catalog.validate_hyperparams(config.model_type, values, task)

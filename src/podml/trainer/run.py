"""The trainer's steps, as one importable function: `main(env) -> exit code`.

`main` never raises: it logs each step to stdout, and on failure prints `error: <reason>` to stderr,
writes the reason to `TERMINATION_MESSAGE_PATH` when that is set, and returns the exit code of
`podml.trainer.errors`. A worker that has already imported the heavy libraries (see `preload`) can
call it once per job. Signed URLs are never printed: every line is scrubbed of their query strings.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO
from urllib.parse import urlsplit

import httpx

from podml import catalog
from podml.trainer import transfer
from podml.trainer.errors import EXIT_OK, EXIT_UNEXPECTED, DataError, TrainerError
from podml.trainer.settings import URL_VARIABLES, TrainerConfig, parse_env, resolved_hyperparams
from podml.trainer.transfer import redact

if TYPE_CHECKING:
    from podml.trainer.data import Table

MIN_ROWS: Final = 10
MAX_CLASSES: Final = 200
MAX_WARNINGS: Final = 10
TERMINATION_MESSAGE_LIMIT: Final = 4096  # what Kubernetes keeps of a termination message

Log = Callable[[str], None]


class _Output:
    """Timestamped log lines on stdout and the error line on stderr, scrubbed of URL secrets."""

    def __init__(self, env: Mapping[str, str], stdout: TextIO, stderr: TextIO) -> None:
        self.stdout, self.stderr = stdout, stderr
        self.secrets: list[tuple[str, str]] = []
        for name in URL_VARIABLES:
            url = (env.get(name) or "").strip()
            if url:
                self.secrets.append((url, redact(url)))
                query = urlsplit(url).query
                if query:
                    self.secrets.append((query, "<redacted>"))

    def scrub(self, text: str) -> str:
        for secret, replacement in self.secrets:
            text = text.replace(secret, replacement)
        return text

    def log(self, message: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        print(f"{stamp} {self.scrub(message)}", file=self.stdout, flush=True)

    def error(self, reason: str) -> str:
        line = " ".join(self.scrub(reason).split())
        print(f"error: {line}", file=self.stderr, flush=True)
        return line


def preload(model_types: Iterable[str] | None = None) -> None:
    """Import everything a job needs (all catalog estimators by default), so a pre-forked worker pays
    the import time once instead of per job."""
    import joblib  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import sklearn.compose
    import sklearn.impute
    import sklearn.metrics
    import sklearn.model_selection
    import sklearn.pipeline
    import sklearn.preprocessing  # noqa: F401

    from podml.trainer import data, evaluate, features, pipeline  # noqa: F401

    for name in model_types if model_types is not None else catalog.CATALOG:
        for dotted in catalog.get(name).estimators.values():
            pipeline.estimator_class(dotted)


def main(env: Mapping[str, str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one training job configured by `env`; the process exit code."""
    out = _Output(env, stdout or sys.stdout, stderr or sys.stderr)
    try:
        config = parse_env(env)
        _train(config, out.log)
        return EXIT_OK
    except TrainerError as exc:
        reason, code = exc.reason, exc.exit_code
    except Exception as exc:
        out.log("unexpected failure:\n" + "".join(traceback.format_exception(exc)))
        reason, code = f"unexpected {type(exc).__name__}: {exc}", EXIT_UNEXPECTED
    line = out.error(reason)
    termination_path = (env.get("TERMINATION_MESSAGE_PATH") or "").strip()
    if termination_path:
        try:
            Path(termination_path).write_text(
                line.encode()[:TERMINATION_MESSAGE_LIMIT].decode(errors="ignore")
            )
        except OSError as exc:
            out.log(f"could not write the termination message to {termination_path}: {exc}")
    return code


def _train(config: TrainerConfig, log: Log) -> None:
    started = time.perf_counter()
    spec = catalog.get(config.model_type)
    log(
        f"job: {config.model_type} ({config.task}), target {config.y_column!r}, "
        f"{len(config.x_columns)} feature(s), test size {config.test_size:g}, seed {config.random_seed}"
    )
    with tempfile.TemporaryDirectory(prefix="podml-trainer-") as tmp, transfer.client() as http:
        workdir = Path(tmp)
        dataset = workdir / "dataset.csv"
        log(f"downloading the dataset from {redact(config.dataset_url)}")
        fetching = _Background(transfer.download, http, config.dataset_url, dataset, log)
        mark = time.perf_counter()
        preload([spec.name])  # overlaps with the download
        imported = time.perf_counter() - mark
        log(f"imported the libraries in {imported:.2f} s")
        size, seconds = fetching.result()
        timings = {"import_seconds": imported, "download_seconds": seconds}
        log(f"downloaded {size / 1e6:.1f} MB in {seconds:.2f} s")
        _train_on(config, spec, dataset, workdir, http, timings, started, log)


class _Background:
    """`function(*args)` in a daemon thread (so a terminated job does not wait for it), timed."""

    def __init__(self, function: Callable[..., int], *args: Any) -> None:
        self._outcome: tuple[int, float] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., int], *args: Any) -> None:
        mark = time.perf_counter()
        try:
            self._outcome = function(*args), time.perf_counter() - mark
        except BaseException as exc:
            self._outcome = exc

    def result(self) -> tuple[int, float]:
        """The function's result and its duration in seconds; its exception, re-raised."""
        self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome


def _train_on(
    config: TrainerConfig,
    spec: catalog.ModelSpec,
    dataset: Path,
    workdir: Path,
    http: httpx.Client,
    timings: dict[str, float],
    started: float,
    log: Log,
) -> None:
    from podml.trainer import data
    from podml.trainer import pipeline as pipelines
    from podml.trainer.artifacts import build_metrics, evaluate_model, save_and_upload

    mark = time.perf_counter()
    table = data.load(dataset, config.x_columns, config.y_column, config.csv_delimiter, config.csv_encoding)
    dataset.unlink()
    timings["read_seconds"] = time.perf_counter() - mark
    kinds = ", ".join(f"{name} ({kind})" for name, kind in list(table.kinds.items())[:20])
    log(
        f"read {table.rows_read:,} rows in {timings['read_seconds']:.2f} s "
        f"(delimiter {table.delimiter!r}, {table.encoding}); features: {kinds}"
        + (" ..." if len(table.kinds) > 20 else "")
    )
    notes: list[str] = list(config.notes)
    if table.rows_dropped_missing_target:
        notes.append(f"dropped {table.rows_dropped_missing_target:,} row(s) with a missing target")
    for name in table.empty_features:
        notes.append(f"feature {name!r} has no values; the model ignores it")
    task = _decide_task(config, spec, table)
    params = resolved_hyperparams(config, task)
    train, test, split_notes = pipelines.split(
        table.target, task, config.test_size, config.random_seed, spec.max_train_rows
    )
    notes.extend(split_notes)
    neighbours = params.get("n_neighbors")
    if isinstance(neighbours, int) and neighbours > len(train):
        raise DataError(
            f"n_neighbors={neighbours} needs at least that many training rows, and there are {len(train)}; "
            "lower n_neighbors or add rows"
        )
    for note in notes:
        log(f"note: {note}")
    model = pipelines.build(spec, task, params, table.kinds, config.random_seed)
    X_train, y_train = table.features.iloc[train], table.target.iloc[train]
    estimator = getattr(model[-1], "regressor", model[-1])
    log(f"fitting {type(estimator).__name__} on {len(train):,} rows ({task}), holding out {len(test):,}")
    caught: list[str] = []
    mark = time.perf_counter()
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        pipelines.fit(model, X_train, y_train)
        timings["fit_seconds"] = time.perf_counter() - mark
        log(f"fitted in {timings['fit_seconds']:.2f} s")
        mark = time.perf_counter()
        evaluation = evaluate_model(model, spec, task, table, X_train, test, config.random_seed)
        timings["evaluate_seconds"] = time.perf_counter() - mark
    for record in recorded:
        text = f"{record.category.__name__}: {' '.join(str(record.message).split())[:300]}"
        if text not in caught and len(caught) < MAX_WARNINGS:
            caught.append(text)
            log(f"warning: {text}")
    log(f"evaluated on {evaluation['test_size']:,} rows: {_summary(evaluation['metrics'])}")
    metrics = build_metrics(
        config, spec, task, params, table, model, len(train), evaluation, notes, caught, timings
    )
    save_and_upload(config, model, metrics, workdir, http, started, log)


def _decide_task(config: TrainerConfig, spec: catalog.ModelSpec, table: Table) -> catalog.Task:
    """The task (explicit, the model's only one, or from the target's kind), after checking that the
    target suits it and that there are enough rows."""
    if config.task != "auto":
        task: catalog.Task = config.task
    elif len(spec.tasks) == 1:
        task = spec.tasks[0]
    else:
        task = "regression" if table.target_kind == "numeric" else "classification"
    target = table.target
    if task == "regression" and table.target_kind != "numeric":
        examples = ", ".join(repr(str(v)) for v in target.dropna().unique()[:3])
        raise DataError(
            f"target {config.y_column!r} is not numeric ({table.target_kind} values such as {examples}), "
            f"so {config.model_type} cannot learn it as regression; choose a classification model "
            "or another target"
        )
    usable = len(target)
    if usable < MIN_ROWS:
        dropped = table.rows_dropped_missing_target
        extra = f" (after dropping {dropped:,} with a missing target)" if dropped else ""
        raise DataError(
            f"only {usable} usable row(s){extra}; at least {MIN_ROWS} are needed to train and test"
        )
    if task == "classification":
        classes = target.unique()
        if len(classes) < 2:
            raise DataError(
                f"target {config.y_column!r} has only one class ({str(classes[0])!r}) in {usable:,} rows; "
                "classification needs at least two"
            )
        if len(classes) > MAX_CLASSES:
            raise DataError(
                f"target {config.y_column!r} has {len(classes):,} distinct values, too many classes "
                f"(at most {MAX_CLASSES}); is it a number to predict with a regression model?"
            )
    return task


def _summary(metrics: dict[str, Any]) -> str:
    shown = []
    for key, value in metrics.items():
        if isinstance(value, float):
            shown.append(f"{key}={value:.4g}")
    return ", ".join(shown)

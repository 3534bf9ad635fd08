"""Each failure ends with a distinct exit code, one clear `error:` line on stderr, the same reason in
the termination-message file, nothing uploaded, and no signed-URL secret anywhere in the output."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from podml.trainer import run
from tests.trainer.conftest import Jobs, Outcome, assert_no_secret, classification_frame, regression_frame
from tests.trainer.storage_server import StorageServer


def check_failure(outcome: Outcome, code: int, *phrases: str, uploads: int = 0) -> str:
    assert outcome.code == code, f"exit {outcome.code}\n{outcome.stdout}\n{outcome.stderr}"
    line = outcome.error_line()
    assert line.startswith("error: ")
    reason = line.removeprefix("error: ")
    for phrase in phrases:
        assert phrase in reason, reason
    assert outcome.termination == reason
    assert "Traceback" not in outcome.stderr
    assert_no_secret(outcome.stdout, outcome.stderr, outcome.termination or "")
    uploaded = [u for u in (outcome.model_upload, outcome.metrics_upload) if u is not None]
    assert len(uploaded) == uploads
    return reason


def test_missing_variables_are_reported_together(jobs: Jobs, tmp_path: object) -> None:
    env = {"TERMINATION_MESSAGE_PATH": jobs.env("x\n", None, None)["TERMINATION_MESSAGE_PATH"]}
    reason = check_failure(jobs.run(env), 2, "invalid configuration")
    for name in ("DATASET_URL", "OUTPUT_MODEL_URL", "OUTPUT_METRICS_URL", "X_COLUMNS", "Y_COLUMN"):
        assert name in reason


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        ({"X_COLUMNS": "[x"}, "X_COLUMNS is not valid JSON"),
        ({"X_COLUMNS": '"x"'}, "X_COLUMNS must be a JSON list"),
        ({"HYPERPARAMS": "{alpha: 1}"}, "HYPERPARAMS is not valid JSON"),
        ({"HYPERPARAMS": '{"alpha": 1}'}, "unknown hyperparameter 'alpha'"),
        ({"MODEL_TYPE": "ridge", "HYPERPARAMS": '{"alpha": -1}'}, "'alpha' must be at least 0"),
        ({"MODEL_TYPE": "quantum_forest"}, "unknown model_type 'quantum_forest'"),
        ({"TASK": "classification"}, "linear_regression is a regression model"),
        ({"TASK": "clustering"}, "TASK must be regression, classification or auto"),
        ({"TEST_SIZE": "1.5"}, "TEST_SIZE must be a fraction"),
        ({"RANDOM_SEED": "-3"}, "RANDOM_SEED must be a whole number"),
        ({"FIT_INTERCEPT": "maybe"}, "FIT_INTERCEPT must be true or false"),
        ({"Y_COLUMN": "x"}, "also listed as a feature"),
        ({"OUTPUT_MODEL_URL": "ftp://example.com/model?sig=S3CR3T"}, "OUTPUT_MODEL_URL must be an http"),
        ({"CSV_ENCODING": "klingon"}, "CSV_ENCODING 'klingon'"),
    ],
)
def test_bad_configuration(jobs: Jobs, storage: StorageServer, extra: dict[str, str], phrase: str) -> None:
    env = jobs.env(regression_frame(rows=20), ["x"], "y", **extra)
    check_failure(jobs.run(env), 2, phrase)
    assert storage.count("GET") == 0


def test_column_not_in_the_dataset(jobs: Jobs) -> None:
    env = jobs.env(regression_frame(rows=20), ["x", "width"], "y")
    check_failure(jobs.run(env), 2, "column 'width' not in the dataset", "available columns: 'x', 'y'")


def test_target_not_in_the_dataset(jobs: Jobs) -> None:
    env = jobs.env(regression_frame(rows=20), ["x"], "price")
    check_failure(jobs.run(env), 2, "column 'price' not in the dataset")


def test_non_numeric_regression_target(jobs: Jobs) -> None:
    env = jobs.env(classification_frame(rows=30), ["a", "b"], "label", MODEL_TYPE="ridge")
    check_failure(jobs.run(env), 2, "target 'label' is not numeric", "'left'", "regression")


def test_non_numeric_target_with_an_explicit_regression_task(jobs: Jobs) -> None:
    env = jobs.env(classification_frame(rows=30), ["a", "b"], "label", MODEL_TYPE="knn", TASK="regression")
    check_failure(jobs.run(env), 2, "not numeric")


def test_too_few_rows(jobs: Jobs) -> None:
    frame = regression_frame(rows=12).astype({"y": object})
    frame.loc[:3, "y"] = ""
    check_failure(jobs.run(jobs.env(frame, ["x"], "y")), 2, "only 8 usable row(s)", "dropping 4")


def test_a_test_split_that_leaves_no_training_rows(jobs: Jobs) -> None:
    env = jobs.env(regression_frame(rows=12), ["x"], "y", TEST_SIZE="0.9")
    check_failure(jobs.run(env), 2, "TEST_SIZE=0.9 leaves 1 training row(s) of 12")


def test_a_header_without_rows(jobs: Jobs) -> None:
    check_failure(jobs.run(jobs.env("x,y\n", ["x"], "y")), 2, "a header but no data rows")


def test_an_empty_file(jobs: Jobs) -> None:
    check_failure(jobs.run(jobs.env("", ["x"], "y")), 2, "the dataset is empty")


def test_only_one_class(jobs: Jobs) -> None:
    frame = classification_frame(rows=40)
    frame["label"] = "left"
    env = jobs.env(frame, ["a", "b"], "label", MODEL_TYPE="logistic_regression")
    check_failure(jobs.run(env), 2, "has only one class ('left')")


def test_too_many_classes(jobs: Jobs) -> None:
    frame = pd.DataFrame({"x": range(500), "id": [f"id-{i}" for i in range(500)]})
    check_failure(jobs.run(jobs.env(frame, ["x"], "id", MODEL_TYPE="svm")), 2, "too many classes")


def test_ragged_rows(jobs: Jobs) -> None:
    text = "x,y\n" + "".join(f"{i},{i}\n" for i in range(20)) + "1,2,3\n"
    check_failure(jobs.run(jobs.env(text, ["x"], "y")), 2, "could not be parsed as CSV")


@pytest.mark.parametrize(
    ("status", "phrase"), [(403, "refused (HTTP 403 Forbidden)"), (404, "nothing found")]
)
def test_download_refused(jobs: Jobs, storage: StorageServer, status: int, phrase: str) -> None:
    env = jobs.env(regression_frame(rows=20), ["x"], "y")
    storage.fail("GET", env["DATASET_URL"], status)
    reason = check_failure(jobs.run(env), 3, "downloading the dataset", phrase)
    assert storage.count("GET") == 1  # a refusal is not retried
    assert "/datasets/" in reason
    assert "?" not in reason
    if status == 403:
        assert "signature does not match" in reason
        assert "expired" in reason


def test_transient_download_errors_are_retried(jobs: Jobs, storage: StorageServer) -> None:
    env = jobs.env(regression_frame(rows=50), ["x"], "y")
    storage.fail("GET", env["DATASET_URL"], 503, 500)
    outcome = jobs.run(env)
    outcome.check_ok()
    assert storage.count("GET") == 3
    assert "retrying" in outcome.stdout
    assert_no_secret(outcome.stdout)


def test_a_download_that_keeps_failing(jobs: Jobs, storage: StorageServer) -> None:
    env = jobs.env(regression_frame(rows=50), ["x"], "y")
    storage.fail("GET", env["DATASET_URL"], 500, 502, 503, 504)
    check_failure(jobs.run(env), 3, "failed after 4 attempts", "HTTP 504")
    assert storage.count("GET") == 4


def test_storage_unreachable(jobs: Jobs) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = jobs.env(regression_frame(rows=20), ["x"], "y")
    env["DATASET_URL"] = f"http://127.0.0.1:{port}/data.csv?sig=S3CR3T"
    check_failure(jobs.run(env), 3, "ConnectError", f"127.0.0.1:{port}/data.csv")


def test_model_upload_refused(jobs: Jobs, storage: StorageServer) -> None:
    env = jobs.env(regression_frame(rows=50), ["x"], "y")
    storage.fail("PUT", env["OUTPUT_MODEL_URL"], 403)
    check_failure(jobs.run(env), 3, "uploading the model was refused (HTTP 403")
    assert storage.count("PUT") == 1  # the metrics are not sent for a model that is not there


def test_metrics_upload_refused(jobs: Jobs, storage: StorageServer) -> None:
    env = jobs.env(regression_frame(rows=50), ["x"], "y")
    storage.fail("PUT", env["OUTPUT_METRICS_URL"], 413)
    check_failure(jobs.run(env), 3, "uploading the metrics was refused as too large", uploads=1)


def test_transient_upload_errors_are_retried(jobs: Jobs, storage: StorageServer) -> None:
    env = jobs.env(regression_frame(rows=50), ["x"], "y")
    storage.fail("PUT", env["OUTPUT_MODEL_URL"], 502)
    storage.fail("PUT", env["OUTPUT_METRICS_URL"], 503)
    outcome = jobs.run(env)
    outcome.check_ok()
    assert storage.count("PUT") == 4
    assert outcome.pipeline().podml_metadata_["model_type"] == "linear_regression"


def test_more_neighbours_than_rows(jobs: Jobs) -> None:
    env = jobs.env(regression_frame(rows=20), ["x"], "y", MODEL_TYPE="knn", HYPERPARAMS='{"n_neighbors": 50}')
    check_failure(jobs.run(env), 2, "n_neighbors=50 needs at least that many training rows, and there are 16")


def test_training_failure(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import Ridge

    def fail(*args: object, **kwargs: object) -> None:
        raise ValueError("the solver\ndid not converge")

    monkeypatch.setattr(Ridge, "fit", fail)
    env = jobs.env(regression_frame(rows=20), ["x"], "y", MODEL_TYPE="ridge")
    check_failure(jobs.run(env), 4, "training failed: the solver did not converge")


def test_unexpected_failure(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    env = jobs.env(regression_frame(rows=20), ["x"], "y")

    def explode(*args: object) -> None:
        raise RuntimeError(f"boom at {env['DATASET_URL']}")  # even a bug's message is scrubbed

    monkeypatch.setattr(run, "_decide_task", explode)
    outcome = jobs.run(env)
    check_failure(outcome, 1, "unexpected RuntimeError: boom at http://127.0.0.1")
    assert "Traceback" in outcome.stdout  # the details go to the log

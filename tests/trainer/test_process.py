"""`python -m podml.trainer` as the executor runs it: a fresh process with nothing but its variables."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.trainer.conftest import Jobs, assert_no_secret, classification_frame, regression_frame
from tests.trainer.storage_server import StorageServer
from tests.trainer.test_failures import check_failure
from tests.trainer.test_models import check_documents

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S")
WEB_SIDE = (
    "podml.api",
    "podml.main",
    "podml.deps",
    "podml.database",
    "podml.auth",
    "podml.datasets",
    "podml.configurations",
    "podml.jobs",
    "podml.storage",
    "podml.config",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "pydantic",
)


def test_trains_and_uploads_as_a_process(jobs: Jobs, storage: StorageServer) -> None:
    outcome = jobs.run_process(jobs.env(regression_frame(rows=1000), ["x"], "y", FIT_INTERCEPT="true"))
    metrics = check_documents(outcome, "linear_regression", "regression")
    assert metrics["metrics"]["r2"] > 0.99
    lines = outcome.stdout.splitlines()
    assert len(lines) >= 8, outcome.stdout
    assert all(TIMESTAMPED.match(line) for line in lines), outcome.stdout
    assert_no_secret(outcome.stdout, outcome.stderr)
    assert (storage.count("GET"), storage.count("PUT")) == (1, 2)


def test_a_classifier_as_a_process(jobs: Jobs) -> None:
    env = jobs.env(classification_frame(), ["a", "b"], "label", MODEL_TYPE="gradient_boosting")
    outcome = jobs.run_process(env)
    metrics = check_documents(outcome, "gradient_boosting", "classification")
    assert metrics["metrics"]["accuracy"] > 0.95


def test_a_missing_column_as_a_process(jobs: Jobs) -> None:
    outcome = jobs.run_process(jobs.env(regression_frame(rows=30), ["z"], "y"))
    check_failure(outcome, 2, "column 'z' not in the dataset; available columns: 'x', 'y'")
    assert outcome.stderr.count("\n") == 1  # exactly one line


def test_a_refused_download_as_a_process(jobs: Jobs, storage: StorageServer) -> None:
    env = jobs.env(regression_frame(rows=30), ["x"], "y")
    storage.fail("GET", env["DATASET_URL"], 403)
    check_failure(jobs.run_process(env), 3, "HTTP 403 Forbidden")


def test_bad_configuration_as_a_process(jobs: Jobs) -> None:
    env = jobs.env(regression_frame(rows=30), ["x"], None, HYPERPARAMS="[1]")
    check_failure(jobs.run_process(env), 2, "Y_COLUMN is not set", "HYPERPARAMS must be a JSON object")


def test_sigterm_removes_the_temporary_files(jobs: Jobs, storage: StorageServer, tmp_path: Path) -> None:
    env = jobs.env(regression_frame(rows=30), ["x"], "y")
    storage.delay(env["DATASET_URL"], 30)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "podml.trainer"],
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(scratch), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "downloading the dataset" in process.stdout.readline() + process.stdout.readline()
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    assert list(scratch.iterdir()) == []
    process.stdout.close()
    assert process.stderr is not None
    process.stderr.close()


def test_the_trainer_imports_nothing_from_the_web_side() -> None:
    code = (
        "import sys\n"
        "import podml.trainer, podml.trainer.run, podml.trainer.settings\n"
        "assert 'numpy' not in sys.modules  # __main__ sets NUMPY_MADVISE_HUGEPAGE after this import\n"
        "podml.trainer.run.preload()\n"
        "from podml.trainer import artifacts, data, evaluate, features, pipeline, transfer\n"
        f"web = sorted(m for m in sys.modules if m.startswith({WEB_SIDE!r}))\n"
        "assert not web, web\n"
        "assert 'sklearn' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_catalog_and_tabular_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import podml.catalog, podml.tabular\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sklearn', 'numpy', 'pandas', 'pyarrow', 'scipy', 'httpx', 'fastapi'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

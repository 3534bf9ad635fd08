"""Real-world CSV files train without cleaning: categories, missing values, booleans, dates, dialects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.trainer.conftest import Jobs, regression_frame
from tests.trainer.test_models import check_documents


def messy_frame(rows: int = 300, seed: int = 3) -> pd.DataFrame:
    """price = 10 * size + a colour bonus, with holes in every feature."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(1, 10, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    bonus = np.select([colour == "red", colour == "green"], [50.0, 20.0], 0.0)
    price = 10 * size + bonus + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(
        {"size": size.round(3).astype(object), "colour": colour.astype(object), "price": price.round(2)}
    )
    frame.loc[::13, "size"] = "NA"
    frame.loc[::17, "colour"] = ""
    frame.loc[::19, "colour"] = "null"
    return frame


@pytest.mark.parametrize("model_type", ["linear_regression", "random_forest", "knn"])
def test_categorical_column_with_missing_values(jobs: Jobs, model_type: str) -> None:
    frame = messy_frame()
    outcome = jobs.run(jobs.env(frame, ["size", "colour"], "price", MODEL_TYPE=model_type))
    metrics = check_documents(outcome, model_type, "regression")
    assert metrics["model"]["features"] == [
        {"name": "size", "type": "numeric"},
        {"name": "colour", "type": "categorical"},
    ]
    assert metrics["metrics"]["r2"] > 0.7  # imputed holes cost some accuracy
    assert metrics["rows_dropped_missing_target"] == 0
    importances = {item["feature"]: item["importance"] for item in metrics["feature_importances"] or []}
    if model_type != "knn":
        assert set(importances) == {"size", "colour"}  # one-hot columns add up to their input column
    # The artifact takes raw rows: missing values, an unseen category, extra columns.
    pipeline = outcome.pipeline()
    rows = pd.DataFrame(
        {"size": [5.0, np.nan, 2.0], "colour": ["red", "purple", np.nan], "unused": [1, 2, 3]}
    )
    predictions = pipeline.predict(rows)
    assert predictions.shape == (3,)
    assert np.isfinite(predictions).all()
    assert predictions[0] == pytest.approx(100, abs=10)


def test_rows_with_a_missing_target_are_dropped_and_counted(jobs: Jobs) -> None:
    frame = regression_frame(rows=100).astype({"y": object})
    frame.loc[[3, 30, 60], "y"] = ["", "NA", "NaN"]
    outcome = jobs.run(jobs.env(frame, ["x"], "y"))
    metrics = check_documents(outcome, "linear_regression", "regression")
    assert (metrics["rows_read"], metrics["rows_used"], metrics["rows_dropped_missing_target"]) == (
        100,
        97,
        3,
    )
    assert "dropped 3 row(s) with a missing target" in outcome.stdout


def test_booleans_and_datetimes(jobs: Jobs) -> None:
    rng = np.random.default_rng(5)
    rows = 240
    member = rng.integers(0, 2, rows).astype(bool)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    spend = 100 + 40 * member + 0.5 * day.day_of_year.to_numpy() + rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {
            "member": np.where(member, "Yes", "no"),
            "signed_up": day.strftime("%Y-%m-%d"),
            "visited": (day + pd.Timedelta(hours=9)).strftime("%Y/%m/%d %H:%M:%S"),
            "spend": spend.round(2),
        }
    )
    frame.loc[::23, "member"] = "N/A"
    frame.loc[::29, "visited"] = ""
    outcome = jobs.run(jobs.env(frame, ["member", "signed_up", "visited"], "spend", MODEL_TYPE="ridge"))
    metrics = check_documents(outcome, "ridge", "regression")
    assert metrics["model"]["features"] == [
        {"name": "member", "type": "boolean"},
        {"name": "signed_up", "type": "datetime"},
        {"name": "visited", "type": "datetime"},
    ]
    assert metrics["metrics"]["r2"] > 0.95
    pipeline = outcome.pipeline()
    predictions = pipeline.predict(
        pd.DataFrame(
            {
                "member": [True, False],
                "signed_up": ["2024-06-01", None],
                "visited": ["2024-06-01T09:00:00Z", "x"],
            }
        )
    )
    assert np.isfinite(predictions).all()


def test_boolean_target_is_classification(jobs: Jobs) -> None:
    rng = np.random.default_rng(8)
    score = rng.uniform(0, 100, 200)
    frame = pd.DataFrame({"score": score.round(1), "passed": np.where(score > 50, "TRUE", "false")})
    outcome = jobs.run(jobs.env(frame, ["score"], "passed", MODEL_TYPE="decision_tree"))
    metrics = check_documents(outcome, "decision_tree", "classification")
    assert metrics["model"]["target"] == {"name": "passed", "type": "boolean", "classes": [False, True]}
    assert metrics["metrics"]["accuracy"] > 0.95


def test_dialect_bom_semicolons_and_padded_header(jobs: Jobs) -> None:
    lines = ["\ufeff x ; label "] + [f"{i % 20},{'big' if i % 20 >= 10 else 'small'}" for i in range(60)]
    text = "\n".join(line.replace(",", ";") for line in lines) + "\n"
    outcome = jobs.run(jobs.env(text, ["x"], "label", MODEL_TYPE="logistic_regression"))
    outcome.check_ok()
    assert "delimiter ';'" in outcome.stdout
    assert outcome.metrics["metrics"]["accuracy"] > 0.9


def test_explicit_delimiter_and_encoding(jobs: Jobs) -> None:
    lines = ["température\tcatégorie"] + [f"{i}\t{'chaud' if i > 15 else 'froid'}" for i in range(30)]
    body = ("\n".join(lines) + "\n").encode("latin-1")
    env = jobs.env(
        body, ["température"], "catégorie", CSV_DELIMITER="tab", CSV_ENCODING="latin-1", MODEL_TYPE="svm"
    )
    outcome = jobs.run(env)
    outcome.check_ok()
    assert outcome.metrics["model"]["target"]["classes"] == ["chaud", "froid"]


def test_quoted_fields_with_line_breaks(jobs: Jobs) -> None:
    rows = [f'{i},"note {i}\nsecond line",{2 * i + 1}' for i in range(40)]
    text = "x,note,y\n" + "\n".join(rows) + "\n"
    outcome = jobs.run(jobs.env(text, ["x"], "y"))
    outcome.check_ok()
    assert outcome.metrics["rows_read"] == 40


def test_an_empty_feature_is_ignored(jobs: Jobs) -> None:
    frame = regression_frame(rows=60)
    frame["blank"] = ""
    outcome = jobs.run(jobs.env(frame, ["x", "blank"], "y"))
    outcome.check_ok()
    assert "feature 'blank' has no values" in outcome.stdout
    assert outcome.metrics["metrics"]["r2"] > 0.99

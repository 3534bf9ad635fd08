"""The training program: `python -m podml.trainer` (the pod contract of DESIGN.md).

Configured only by environment variables; talks to storage only through the URLs it is given; imports
nothing from PodML's web side (only `podml.catalog`, `podml.tabular` and this package).

Environment (blank counts as unset):
  DATASET_URL         required  GET: the CSV file (streamed to a temporary file)
  OUTPUT_MODEL_URL    required  PUT: the model artifact, Content-Type application/octet-stream
  OUTPUT_METRICS_URL  required  PUT: the metrics document, Content-Type application/json
  X_COLUMNS           required  JSON list of feature columns; or X_COLUMN, one column name
  Y_COLUMN            required  the target column
  MODEL_TYPE          linear_regression   a `podml.catalog` model name
  HYPERPARAMS         {}        JSON object, checked against the catalog; defaults fill the rest
  FIT_INTERCEPT       (unset)   true/false for models with `fit_intercept`; HYPERPARAMS wins
  TASK                auto      regression | classification | auto (numeric target → regression,
                                unless the model only classifies; anything else → classification)
  TEST_SIZE           0.2       held-out fraction, 0 < TEST_SIZE < 1
  RANDOM_SEED         42        split, sampling and estimator seed
  CSV_DELIMITER       sniffed   one character (or "tab")
  CSV_ENCODING        utf-8     any Python codec name (a UTF-8 byte order mark is detected)
  TERMINATION_MESSAGE_PATH      on failure, the one-line reason is written there (Kubernetes'
                                termination-message convention)

Exit codes (on failure stderr ends with one line `error: <reason>`):
  0  trained, and both the model and the metrics were uploaded
  1  unexpected failure (a bug: the traceback is in the log)
  2  bad configuration or data: a missing or invalid variable, a column not in the CSV, a
     non-numeric regression target, fewer than 10 usable rows, a single class...
  3  storage or network: the download or an upload was refused or kept failing
  4  training failed: the estimator raised while fitting or predicting

Model artifact: `joblib.dump` of the fitted scikit-learn `Pipeline` (preprocessing + estimator; see
`podml.trainer.pipeline`: numbers imputed with the median and scaled where the model needs it,
categories one-hot (ordinal codes for trees), booleans as 0/1, datetimes expanded to year, month,
day, day of week, hour and days since 1970). `joblib.load(path).predict(frame)` takes a pandas
DataFrame with the feature columns; only a model with datetime features needs `podml` importable
to load (it references `podml.trainer.features`). Its `podml_metadata_` attribute is a plain dict:
format_version (1), model_type, task, hyperparams, features [{name, type: numeric | boolean |
datetime | categorical}], target {name, type, classes (a list for classifiers, else null)},
library_versions {python, sklearn, pandas, numpy, joblib}, created_at (ISO 8601 UTC).

Metrics document (JSON, no NaN: missing numbers are null): task, model_type, hyperparams, metrics
(regression: r2, rmse, mae; classification: accuracy, f1_macro, precision_macro, recall_macro,
roc_auc (two classes only, else null), confusion_matrix {labels, matrix[true][predicted]}),
rows_read, rows_used, rows_dropped_missing_target, train_size, train_sampled_from, test_size,
test_sampled_from (null unless a slow model was fitted or scored on a sample), fit_seconds,
feature_importances [{feature, importance}] (top 50, summing to 1, or null) and
feature_importance_method (impurity | coefficients | permutation | null), predictions_sample
(regression: up to 200 {actual, predicted} test pairs; else null), notes, warnings, timings
{import_seconds, download_seconds, read_seconds, fit_seconds, evaluate_seconds, total_seconds},
and model (the same dict as `podml_metadata_`).

`podml.trainer.run.main(env)` is the whole program as a function returning the exit code, and
`podml.trainer.run.preload()` imports what it needs, for a worker that forks per job. The download
runs in a thread while the libraries are imported. `python -m podml.trainer` also sets
NUMPY_MADVISE_HUGEPAGE=0 unless set (see `__main__`), turns SIGTERM into a clean exit (code 143,
temporary files removed) and skips the interpreter's teardown once the job is done.
"""

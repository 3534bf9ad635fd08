"""Read the columns a job needs from the downloaded CSV file, typed the way dataset inspection types them.

Only the feature and target columns are parsed (pyarrow's multithreaded reader, `include_columns`).
Header names are trimmed, as at upload. Cells are trimmed too; `NA_TOKENS` are missing; a column is
numeric when every value parses as a number, boolean when every value is a `BOOLEAN_TOKENS` token
(booleans become 0/1 features), datetime when every value is an ISO 8601 date or timestamp, and
categorical otherwise. Infinite numbers count as missing. Rows whose target is missing are dropped
and counted.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from podml.tabular import BOOLEAN_TOKENS, DATETIME_PATTERN, NA_TOKENS, TRUE_TOKENS, boolean_spellings
from podml.tabular import sniff_delimiter as sniff
from podml.trainer.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE: Final = 64 * 1024
MAX_HEADER_SIZE: Final = 8 * 1024 * 1024
BLOCK_SIZE: Final = 8 * 1024 * 1024
MAX_LISTED_COLUMNS: Final = 50
_PROBE: Final = 1000  # values tried before a whole column
_NA: Final = pa.array(sorted(NA_TOKENS), pa.string())
_BOOLEANS: Final = pa.array(sorted(BOOLEAN_TOKENS), pa.string())
_TRUE: Final = pa.array(sorted(TRUE_TOKENS), pa.string())


@dataclass
class Table:
    features: pd.DataFrame  # the feature columns, in X_COLUMNS order
    target: pd.Series[Any]
    kinds: dict[str, str]  # feature name → numeric | boolean | datetime | categorical
    target_kind: str
    rows_read: int
    rows_dropped_missing_target: int
    delimiter: str
    encoding: str
    empty_features: list[str] = field(default_factory=list)  # no value at all: the model ignores them


def read_header(path: Path, delimiter: str | None, encoding: str | None) -> tuple[list[str], str, str]:
    """The trimmed column names, the delimiter (sniffed unless given) and the encoding."""
    with path.open("rb") as f:
        sample = f.read(SAMPLE_SIZE)
        while sample and sample.count(b"\n") < 2 and len(sample) < MAX_HEADER_SIZE:
            more = f.read(SAMPLE_SIZE)
            if not more:
                break
            sample += more
    if not sample.strip():
        raise DataError("the dataset is empty")
    if encoding is None:
        encoding = "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8"
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
    if delimiter is None:
        delimiter = sniff(text)
    try:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next((row for row in records if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        raise DataError(f"the dataset's header cannot be read as CSV: {exc}") from None
    if header is None:
        raise DataError("the dataset has no header line")
    return [name.strip() for name in header], delimiter, encoding


def _column_list(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:MAX_LISTED_COLUMNS])
    more = len(names) - MAX_LISTED_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "")


def _positions(header: list[str], wanted: list[str]) -> list[int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name, i)
    missing = [name for name in wanted if name not in index]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise DataError(
            f"{noun} {_column_list(missing)} not in the dataset; available columns: {_column_list(header)}"
        )
    twice = [name for name in wanted if header.count(name) > 1]
    if twice:
        raise DataError(f"the dataset has more than one column named {_column_list(twice)}")
    return [index[name] for name in wanted]


def _read(path: Path, header: list[str], positions: list[int], delimiter: str, encoding: str) -> pa.Table:
    true_values, false_values = boolean_spellings()
    keys = [f"c{i}" for i in range(len(header))]
    read_options = pa_csv.ReadOptions(
        column_names=keys,
        skip_rows=1,
        block_size=BLOCK_SIZE,
        encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
    )
    convert_options = pa_csv.ConvertOptions(
        include_columns=[keys[i] for i in positions],
        null_values=sorted(NA_TOKENS),
        strings_can_be_null=True,
        true_values=true_values,
        false_values=false_values,
    )
    problem = ""
    for newlines_in_values in (False, True):  # quoted line breaks are rare and slow to allow for
        parse_options = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values)
        try:
            return pa_csv.read_csv(
                path, read_options=read_options, parse_options=parse_options, convert_options=convert_options
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            problem = " ".join(str(exc).split())[:300]
    if "UTF8" in problem or "utf-8" in problem:
        problem = "the file is not UTF-8 text (set CSV_ENCODING if it uses another encoding)"
    raise DataError(f"the dataset could not be parsed as CSV: {problem}")


def _holds(values: pa.ChunkedArray, test: Callable[[Any], Any]) -> bool:
    """Whether `test` is true for every value, trying the first `_PROBE` values first (cheap no)."""
    if len(values) > _PROBE and not pc.all(test(values.slice(0, _PROBE))).as_py():
        return False
    return bool(pc.all(test(values)).as_py())


def refine(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, str]:
    """The column, converted, and its kind: numeric, boolean, datetime or categorical."""
    kind = column.type
    if pa.types.is_null(kind):
        return column.cast(pa.float64()), "numeric"
    if pa.types.is_boolean(kind):
        return column, "boolean"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        if not pa.types.is_integer(kind):
            column = column.cast(pa.float64())
            if pc.any(pc.is_inf(column)).as_py():
                column = pc.if_else(pc.is_inf(column), pa.scalar(None, pa.float64()), column)
        return column, "numeric"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return column, "datetime"
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return column.cast(pa.string()), "categorical"
    trimmed = pc.ascii_trim_whitespace(column)
    if pc.any(pc.is_in(trimmed, value_set=_NA)).as_py():
        trimmed = pc.if_else(pc.is_in(trimmed, value_set=_NA), pa.scalar(None, trimmed.type), trimmed)
    present = pc.drop_null(trimmed)
    if len(present) == 0:
        return trimmed.cast(pa.float64()), "numeric"
    try:
        pc.cast(present.slice(0, _PROBE), pa.float64())
        return refine(pc.cast(trimmed, pa.float64()))[0], "numeric"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if _holds(present, lambda v: pc.is_in(pc.utf8_lower(v), value_set=_BOOLEANS)):
        lowered = pc.utf8_lower(trimmed)
        flags = pc.is_in(lowered, value_set=_TRUE)
        return pc.if_else(pc.is_null(lowered), pa.scalar(None, pa.bool_()), flags), "boolean"
    if _holds(present, lambda v: pc.match_substring_regex(v, DATETIME_PATTERN)):
        return trimmed, "datetime"
    return trimmed, "categorical"


def load(
    path: Path, x_columns: list[str], y_column: str, delimiter: str | None, encoding: str | None
) -> Table:
    """Read and type the feature and target columns; drop the rows whose target is missing."""
    header, delimiter, encoding = read_header(path, delimiter, encoding)
    positions = _positions(header, [*x_columns, y_column])
    raw = _read(path, header, positions, delimiter, encoding)
    rows_read = raw.num_rows
    if rows_read == 0:
        raise DataError("the dataset has a header but no data rows")
    columns: dict[str, pa.ChunkedArray] = {}
    kinds: dict[str, str] = {}
    for name, position in zip([*x_columns, y_column], positions, strict=True):
        column, kind = refine(raw.column(f"c{position}"))
        if name != y_column and kind in ("boolean", "numeric"):
            # One float64 block for every numeric feature: scikit-learn then gets a view, not a copy.
            column = column.cast(pa.float64())  # booleans become 0/1; missing stays missing
        kinds[name] = kind
        columns[name] = column
    del raw
    target_kind = kinds.pop(y_column)
    target = columns[y_column]
    if target_kind == "datetime" and not pa.types.is_string(target.type):
        target = pc.cast(target, pa.string())  # dates as class labels
        columns[y_column] = target
    empty = [name for name in x_columns if columns[name].null_count == rows_read]
    if x_columns and len(empty) == len(x_columns):
        raise DataError(f"the feature columns have no values at all: {_column_list(empty)}")
    dropped = target.null_count
    features = pa.table({name: columns[name] for name in x_columns})
    if dropped:
        keep = pc.is_valid(target)
        features, target = features.filter(keep), target.filter(keep)
    del columns
    # Consolidated blocks (one 2-D float64 array for all numeric features), built without the target
    # (removing a column from a pandas frame splits its blocks, and later costs a copy per column).
    frame = features.to_pandas(date_as_object=False)
    y = target.to_pandas(date_as_object=False).rename(y_column)
    return Table(
        features=frame,
        target=y,
        kinds=kinds,
        target_kind=target_kind,
        rows_read=rows_read,
        rows_dropped_missing_target=dropped,
        delimiter=delimiter,
        encoding=encoding,
        empty_features=empty,
    )

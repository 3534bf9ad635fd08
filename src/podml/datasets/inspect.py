"""Validate an uploaded CSV file and infer its schema in one streaming pass.

`inspect_csv` is synchronous and CPU-bound (callers run it in a worker thread); its memory is bounded
by two pyarrow blocks of `BLOCK_SIZE` bytes plus, per column, a few counters and at most
`CATEGORICAL_HARD_CAP` distinct values, whatever the file size.

* Encoding: UTF-8 with or without a byte order mark ("utf-8-sig" / "utf-8"); else refused with the
  byte offset of the first invalid byte. Delimiter: `,` `;` tab or `|`, from the first 64 KiB
  (`csv.Sniffer`, checked against the field counts of the sampled lines). Quoting: RFC 4180.
  Empty lines, and whitespace-only lines when there are several columns, are skipped.
* Missing: after trimming ASCII whitespace, "" and `NA_TOKENS` ("NA", "N/A", "null", "NaN", "None"
  in lower, UPPER or Title case). Types, judged on the non-missing values of a column:
  "numeric": every value parses as a decimal number ("1", "-2.5", "1e-3", "inf"); 0/1 is numeric.
  "boolean": every value is in `BOOLEAN_TOKENS` (true/false/yes/no/t/f/y/n, any case).
  "datetime": every value matches `DATETIME_PATTERN` (ISO 8601 date or timestamp, `-` or `/`).
  "categorical": at most `CATEGORICAL_MAX_DISTINCT` distinct values each seen twice on average, or
  at most `CATEGORICAL_HARD_CAP` distinct values and no more than `CATEGORICAL_MAX_RATIO` of them.
  "text": anything else, and a column with no value at all. Numeric columns get `stats`
  {min, max, mean} over their finite values.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from podml.tabular import BOOLEAN_TOKENS as BOOLEAN_TOKENS  # re-exported
from podml.tabular import NA_TOKENS as NA_TOKENS  # re-exported

DELIMITERS: Final = (",", ";", "\t", "|")
DATETIME_PATTERN: Final = (
    r"^\d{4}[-/](0?[1-9]|1[0-2])[-/](0?[1-9]|[12]\d|3[01])"
    r"([T ]([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d([.,]\d{1,9})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)?$"
)
CATEGORICAL_MAX_DISTINCT: Final = 50
CATEGORICAL_MAX_RATIO: Final = 0.05
CATEGORICAL_HARD_CAP: Final = 1000

SAMPLE_SIZE: Final = 64 * 1024
MAX_SAMPLE_SIZE: Final = 8 * 1024 * 1024
BLOCK_SIZE: Final = 1024 * 1024  # measured: bigger blocks are no faster and hold much more memory
MAX_BLOCK_SIZE: Final = 64 * 1024 * 1024
_PROBE: Final = 256  # values checked before a whole batch, so a failing type test stays cheap
_NA_ARRAY: Final = pa.array(sorted(NA_TOKENS), pa.string())
_BOOL_ARRAY: Final = pa.array(sorted(BOOLEAN_TOKENS), pa.string())


class CsvError(ValueError):
    """The file is not a usable CSV file; `reason` says why, in words meant for the uploader."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    dtype: str  # "numeric" | "boolean" | "datetime" | "categorical" | "text"
    missing: int
    stats: dict[str, float] | None = None  # numeric columns: min, max, mean of the finite values


@dataclass(frozen=True)
class CsvSchema:
    delimiter: str
    encoding: str  # "utf-8" | "utf-8-sig"
    row_count: int  # data rows, without the header
    columns: list[ColumnInfo]


def is_missing(value: str) -> bool:
    """Whether one raw cell counts as missing (the same rule `inspect_csv` counts by)."""
    return value.strip(" \t\n\r\f\v") in NA_TOKENS


def inspect_csv(path: Path) -> CsvSchema:
    """Validate the CSV file at `path` and infer its schema; raise `CsvError` when it is unusable."""
    sample, complete = _read_sample(path)
    encoding, text = _decode_sample(sample, complete)
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut < 0:
            raise CsvError(f"not a CSV file: no line break in the first {len(sample)} bytes")
        text = text[: cut + 1]
    if not text.strip():
        raise CsvError("the file is empty")
    delimiter = _choose_delimiter(text)
    records = _parse(text, delimiter)
    if not records:
        raise CsvError("not a CSV file: its first line cannot be read as a header")
    names = _column_names(records[0])
    # pyarrow needs the header inside its first block; the sample holds the header.
    block_size = max(BLOCK_SIZE, 2 * len(sample))
    while (scanned := _scan(path, delimiter, names, encoding, block_size)) is None:
        if block_size >= MAX_BLOCK_SIZE:  # else retry with bigger blocks: rarely needed
            raise CsvError(f"a row is longer than {MAX_BLOCK_SIZE >> 20} MiB, which is not supported")
        block_size = min(block_size * 8, MAX_BLOCK_SIZE)
    columns, row_count = scanned
    if row_count == 0:
        raise CsvError("the file has a header but no data rows")
    return CsvSchema(delimiter=delimiter, encoding=encoding, row_count=row_count, columns=columns)


def _read_sample(path: Path) -> tuple[bytes, bool]:
    """The first 64 KiB, extended until it holds two lines; and whether it is the whole file."""
    with path.open("rb") as f:
        sample, more = bytearray(), f.read(SAMPLE_SIZE)
        lf = cr = 0
        while more:
            sample += more
            lf, cr = lf + more.count(b"\n"), cr + more.count(b"\r")
            if max(lf, cr) >= 2 or len(sample) >= MAX_SAMPLE_SIZE:
                return bytes(sample), f.read(1) == b""
            more = f.read(SAMPLE_SIZE)
        return bytes(sample), True


def _decode_sample(sample: bytes, complete: bool) -> tuple[str, str]:
    """The encoding and text of the sample (a character cut by the end of the sample is dropped)."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvError(
            "file is not UTF-8 text: it starts with a UTF-16 byte order mark (byte offset 0); "
            "save it as UTF-8 and upload it again"
        )
    if (nul := sample.find(b"\x00")) >= 0:
        raise CsvError(f"not a CSV file: it contains binary data (a NUL byte at byte offset {nul})")
    bom = len(codecs.BOM_UTF8) if sample.startswith(codecs.BOM_UTF8) else 0
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(sample[bom:], final=complete)
    except UnicodeDecodeError as exc:
        raise _not_utf8(sample[: bom + exc.start + 1]) from None
    return ("utf-8-sig" if bom else "utf-8"), text


def _parse(text: str, delimiter: str) -> list[list[str]]:
    """The records of `text`, without blank and whitespace-only lines."""
    records: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if row and not (len(row) == 1 and not row[0].strip()):
                records.append(row)
    except csv.Error:
        pass  # a field over the csv module's size limit (128 KiB): judge by the records before it
    return records


def _choose_delimiter(text: str) -> str:
    sniffed: str | None
    try:
        # csv.Sniffer is slow when it finds nothing (0.7 s for 64 KiB of one column): 50 lines do.
        head = "\n".join(text[:SAMPLE_SIZE].splitlines()[:50])
        sniffed = csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    scores: dict[str, tuple[float, float, int]] = {}
    row_widths: dict[str, float] = {}
    for delimiter in DELIMITERS:
        header, *rows = _parse(text, delimiter) or [[]]
        width = len(header)
        consistent = sum(len(row) == width for row in rows) / len(rows) if rows else 1.0
        structured = sum(len(row) > 1 for row in rows) / len(rows) if rows else 1.0
        row_widths[delimiter] = sum(len(row) for row in rows) / len(rows) if rows else 1.0
        if width > 1:
            scores[delimiter] = (consistent, structured, width)
    if not scores:
        # No candidate splits the header: one column. Pick the delimiter the rows use, if any, so
        # that a row which does split is reported as ragged instead of read as one long value.
        widest = max(DELIMITERS, key=lambda d: row_widths[d])
        return widest if row_widths[widest] > 1 else ","
    best = max(scores, key=lambda d: scores[d])
    if sniffed in scores and scores[sniffed][:2] >= scores[best][:2]:
        best = sniffed  # csv.Sniffer breaks ties between equally consistent candidates
    if scores[best][1] >= 0.5:  # most rows split: a ragged one is reported later, by line
        return best
    raise CsvError(
        "not a CSV file: its lines do not split into a consistent number of fields "
        "on any delimiter (tried comma, semicolon, tab and pipe)"
    )


def _column_names(record: list[str]) -> list[str]:
    header = [name.strip() for name in record]
    if blank := [str(i) for i, name in enumerate(header, start=1) if not name]:
        if len(blank) == 1:
            raise CsvError(f"column {blank[0]} has a blank name")
        raise CsvError(f"columns {', '.join(blank)} have blank names")
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(i)
    twice = {name: where for name, where in positions.items() if len(where) > 1}
    if twice:
        named = (f"{name!r} (columns {', '.join(map(str, where))})" for name, where in twice.items())
        raise CsvError(f"duplicate column names: {'; '.join(named)}")
    return header


@dataclass
class _ColumnAccumulator:
    missing: int = 0
    present: int = 0
    numeric: bool = True
    boolean: bool = True
    datetime: bool = True
    distinct: set[str] | None = field(default_factory=set)  # None once over CATEGORICAL_HARD_CAP
    finite: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, column: pa.Array) -> None:
        trimmed = pc.ascii_trim_whitespace(column)
        is_na = pc.is_in(trimmed, value_set=_NA_ARRAY)
        missing = pc.sum(is_na).as_py() or 0
        values = pc.filter(trimmed, pc.invert(is_na)) if missing else trimmed
        self.missing, self.present = self.missing + missing, self.present + len(values)
        if len(values) == 0:
            return
        if self.numeric:
            self._add_numbers(values)
        if self.boolean:
            self.boolean = _all(values, lambda v: pc.is_in(pc.utf8_lower(v), value_set=_BOOL_ARRAY))
        if self.datetime:
            self.datetime = _all(values, lambda v: pc.match_substring_regex(v, DATETIME_PATTERN))
        if self.distinct is not None:
            unique = pc.unique(values)
            if len(unique) <= CATEGORICAL_HARD_CAP:
                self.distinct.update(unique.to_pylist())
            if len(unique) > CATEGORICAL_HARD_CAP or len(self.distinct) > CATEGORICAL_HARD_CAP:
                self.distinct = None

    def _add_numbers(self, values: pa.Array) -> None:
        try:
            pc.cast(values.slice(0, _PROBE), pa.float64())
            numbers = pc.cast(values, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self.numeric = False
            return
        finite = pc.filter(numbers, pc.is_finite(numbers))
        if len(finite):
            bounds = pc.min_max(finite)
            self.low = min(self.low, bounds["min"].as_py())
            self.high = max(self.high, bounds["max"].as_py())
            self.total += pc.sum(finite).as_py()
            self.finite += len(finite)

    def dtype(self) -> str:
        if self.present == 0:
            return "text"
        if self.numeric:
            return "numeric"
        if self.boolean:
            return "boolean"
        if self.datetime:
            return "datetime"
        if self.distinct is not None and _is_categorical(len(self.distinct), self.present):
            return "categorical"
        return "text"

    def info(self, name: str) -> ColumnInfo:
        dtype = self.dtype()
        stats = None
        if dtype == "numeric" and self.finite:
            stats = {"min": self.low, "max": self.high, "mean": self.total / self.finite}
        return ColumnInfo(name=name, dtype=dtype, missing=self.missing, stats=stats)


def _is_categorical(distinct: int, present: int) -> bool:
    few = distinct <= CATEGORICAL_MAX_DISTINCT and 2 * distinct <= present
    return few or (distinct <= CATEGORICAL_HARD_CAP and distinct <= CATEGORICAL_MAX_RATIO * present)


def _all(values: pa.Array, test: Callable[[pa.Array], pa.Array]) -> bool:
    """Whether `test` holds for every value, trying the first few values before the whole batch."""
    if len(values) > _PROBE and not pc.all(test(values.slice(0, _PROBE))).as_py():
        return False
    return bool(pc.all(test(values)).as_py())


def _add_batch(accumulators: list[_ColumnAccumulator], batch: pa.RecordBatch) -> None:
    for accumulator, column in zip(accumulators, batch.columns, strict=True):
        accumulator.add(column)


def _scan(
    path: Path, delimiter: str, names: list[str], encoding: str, block_size: int
) -> tuple[list[ColumnInfo], int] | None:
    """Read the whole file; None when a row does not fit in two blocks of `block_size` bytes."""
    keys = [f"f{i}" for i in range(len(names))]
    bad_rows: list[Any] = []

    def on_invalid_row(row: Any) -> str:
        if row.actual_columns == 1 and not row.text.strip():
            return "skip"  # a whitespace-only line, as harmless as an empty one
        bad_rows.append(row)
        return "error"

    accumulators = [_ColumnAccumulator() for _ in names]
    row_count = 0
    try:
        reader = pa_csv.open_csv(  # without threads: as fast here, and bad rows get their number
            path,
            read_options=pa_csv.ReadOptions(
                use_threads=False, block_size=block_size, autogenerate_column_names=True
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(keys, pa.string()), strings_can_be_null=False
            ),
        )
        if reader.schema.names != keys:
            found = len(reader.schema.names)
            raise CsvError(f"could not parse the file as CSV: its header has {len(names)} or {found} fields")
        # Parse the next block while the previous one is being profiled: pyarrow releases the GIL in
        # both, so the two stages overlap on two cores. At most two blocks are in memory.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-inspect") as pool:
            pending: Future[Any] = pool.submit(int)  # a no-op to start the chain
            for index, batch in enumerate(reader):
                rows = batch.slice(1) if index == 0 else batch  # the first row is the header
                row_count += rows.num_rows
                pending.result()
                pending = pool.submit(_add_batch, accumulators, rows)
            pending.result()
    except pa.ArrowInvalid as exc:
        if bad_rows:
            raise _ragged(path, encoding, delimiter, bad_rows[0]) from None
        if "UTF8" in str(exc):
            raise _locate_invalid_utf8(path) from None
        if "straddl" in str(exc):
            return None
        if "Empty CSV" not in str(exc):  # "Empty CSV" is a header without a line break after it
            raise CsvError(f"could not parse the file as CSV: {exc}") from None
    return [acc.info(name) for acc, name in zip(accumulators, names, strict=True)], row_count


def _ragged(path: Path, encoding: str, delimiter: str, row: Any) -> CsvError:
    """Turn pyarrow's record number (1-based, header included, blank lines not counted) into the
    physical line the record starts on, by reading the file up to there with the csv module."""
    expected, actual = int(row.expected_columns), int(row.actual_columns)
    fields = f"{actual} field{'s' if actual != 1 else ''}, expected {expected}"
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        index = last_line = 0
        try:
            for record in reader:
                start, last_line = last_line + 1, reader.line_num
                index += bool(record)
                if record and index == row.number:
                    return CsvError(f"line {start} has {fields}")
        except csv.Error:
            pass  # a field over the csv module's size limit: fall back to pyarrow's record number
    return CsvError(f"row {row.number} has {fields}")


def _locate_invalid_utf8(path: Path) -> CsvError:
    """Find the first byte that is not UTF-8, reading 1 MiB at a time."""
    with path.open("rb") as f:
        carry, lines, base = b"", 0, 0
        while True:
            chunk = f.read(1 << 20)
            data = carry + chunk
            try:
                data.decode("utf-8")
                carry = b""
            except UnicodeDecodeError as exc:
                if not chunk or exc.reason != "unexpected end of data":
                    return _not_utf8(data[: exc.start + 1], base=base, lines=lines)
                carry = data[exc.start :]  # a character cut by the chunk boundary
            if not chunk:
                return CsvError("file is not UTF-8 text")
            consumed = data[: len(data) - len(carry)]
            lines += consumed.count(b"\n")
            base += len(consumed)


def _not_utf8(data: bytes, *, base: int = 0, lines: int = 0) -> CsvError:
    """The error for the last byte of `data`, which starts at byte offset `base` after `lines` lines."""
    offset, line = base + len(data) - 1, lines + data.count(b"\n") + 1
    return CsvError(
        f"file is not UTF-8 text: invalid byte 0x{data[-1]:02X} on line {line} "
        f"(byte offset {offset}); save it as UTF-8 and upload it again"
    )

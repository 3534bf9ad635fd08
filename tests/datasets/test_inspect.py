"""inspect_csv: encodings, delimiters, quoting, type inference, missing values and every error."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from podml.datasets import inspect as inspect_module
from podml.datasets.inspect import ColumnInfo, CsvError, CsvSchema, inspect_csv, is_missing

WriteCsv = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteCsv:
    def _write(content: str | bytes, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return _write


def columns(schema: CsvSchema) -> dict[str, ColumnInfo]:
    return {column.name: column for column in schema.columns}


def dtypes(schema: CsvSchema) -> dict[str, str]:
    return {column.name: column.dtype for column in schema.columns}


def reason(path: Path) -> str:
    with pytest.raises(CsvError) as caught:
        inspect_csv(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# --- reading: encodings, delimiters, quoting ------------------------------------------------------


def test_basic_schema(write: WriteCsv) -> None:
    schema = inspect_csv(write("id,score,label\n1,2.5,yes\n2,3.5,no\n3,,yes\n"))
    assert schema == CsvSchema(
        delimiter=",",
        encoding="utf-8",
        row_count=3,
        columns=[
            ColumnInfo("id", "numeric", 0, {"min": 1.0, "max": 3.0, "mean": 2.0}),
            ColumnInfo("score", "numeric", 1, {"min": 2.5, "max": 3.5, "mean": 3.0}),
            ColumnInfo("label", "boolean", 0),
        ],
    )


def test_utf8_bom_is_reported_and_not_part_of_the_first_name(write: WriteCsv) -> None:
    schema = inspect_csv(write(b"\xef\xbb\xbfcity,temp\nZ\xc3\xbcrich,21\n"))
    assert schema.encoding == "utf-8-sig"
    assert [c.name for c in schema.columns] == ["city", "temp"]


def test_non_ascii_utf8_without_bom(write: WriteCsv) -> None:
    schema = inspect_csv(write("ville,note\nSão Paulo,1\nKraków,2\n東京,3\n"))
    assert schema.encoding == "utf-8"
    assert schema.row_count == 3


@pytest.mark.parametrize(
    ("content", "delimiter"),
    [
        ("a;b;c\n1,5;2,5;x\n3,5;4,5;y\n", ";"),  # decimal commas must not fool the sniffer
        ("a\tb\tc\n1\t2\thello, world\n3\t4\tagain, here\n", "\t"),
        ("a|b\n1|2\n3|4\n", "|"),
        ("a,b\n1,2\n3,4\n", ","),
        ('"a;x","b;y"\n"1;2","3;4"\n"5;6","7;8"\n', ","),  # quoted semicolons in a comma file
    ],
)
def test_delimiter_is_sniffed(write: WriteCsv, content: str, delimiter: str) -> None:
    schema = inspect_csv(write(content))
    assert schema.delimiter == delimiter
    assert schema.row_count == 2


def test_semicolon_file_columns(write: WriteCsv) -> None:
    schema = inspect_csv(write("name;price;stock\nwidget;1,50;3\ngadget;2,25;4\n"))
    assert schema.delimiter == ";"
    assert dtypes(schema) == {"name": "text", "price": "text", "stock": "numeric"}


def test_tab_file(write: WriteCsv) -> None:
    schema = inspect_csv(write("x\ty\n1\t2\n3\t4\n"))
    assert schema.delimiter == "\t"
    assert [c.name for c in schema.columns] == ["x", "y"]


def test_single_column_file(write: WriteCsv) -> None:
    schema = inspect_csv(write("value\n1\n2\nNA\n3\n"))
    assert schema.delimiter == ","
    assert schema.columns == [ColumnInfo("value", "numeric", 1, {"min": 1.0, "max": 3.0, "mean": 2.0})]


def test_quoted_fields_with_delimiters_newlines_and_quotes(write: WriteCsv) -> None:
    content = (
        'id,comment,n\n1,"hello, world",5\n2,"line one\nline two\r\nline three",6\n'
        '3,"she said ""hi""",7\n4,"",8\n'
    )
    schema = inspect_csv(write(content))
    assert schema.row_count == 4
    assert columns(schema)["comment"].missing == 1
    assert columns(schema)["n"].stats == {"min": 5.0, "max": 8.0, "mean": 6.5}


def test_quoted_header_with_newline(write: WriteCsv) -> None:
    schema = inspect_csv(write('"first\nname",age\nAda,36\n'))
    assert [c.name for c in schema.columns] == ["first\nname", "age"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(write: WriteCsv, newline: str) -> None:
    schema = inspect_csv(write(newline.join(["a,b", "1,2", "3,4", ""])))
    assert schema.row_count == 2
    assert dtypes(schema) == {"a": "numeric", "b": "numeric"}


def test_trailing_and_inner_blank_lines_are_fine(write: WriteCsv) -> None:
    schema = inspect_csv(write("a,b\n1,2\n\n3,4\n   \n\n \t\n"))
    assert schema.row_count == 2


def test_no_trailing_newline(write: WriteCsv) -> None:
    assert inspect_csv(write("a,b\n1,2\n3,4")).row_count == 2


def test_header_names_are_stripped(write: WriteCsv) -> None:
    schema = inspect_csv(write(" a , b\t\n1,2\n"))
    assert [c.name for c in schema.columns] == ["a", "b"]


def test_row_longer_than_a_block_is_read(write: WriteCsv) -> None:
    long_text = "x" * (3 * inspect_module.BLOCK_SIZE)
    schema = inspect_csv(write(f'a,b\n1,"{long_text}"\n2,short\n'))
    assert schema.row_count == 2
    assert dtypes(schema) == {"a": "numeric", "b": "text"}


# --- types and missing values ---------------------------------------------------------------------


def test_each_dtype_is_inferred(write: WriteCsv) -> None:
    rows = ["num,flag,when,colour,note"]
    for i in range(100):
        rows.append(
            f"{i * 1.5},{'TRUE' if i % 2 else 'false'},2024-01-{i % 28 + 1:02d},{'rgb'[i % 3]},note {i}"
        )
    schema = inspect_csv(write("\n".join(rows) + "\n"))
    assert dtypes(schema) == {
        "num": "numeric",
        "flag": "boolean",
        "when": "datetime",
        "colour": "categorical",
        "note": "text",
    }
    assert columns(schema)["num"].stats == {"min": 0.0, "max": 148.5, "mean": 74.25}
    assert all(c.stats is None for c in schema.columns if c.dtype != "numeric")


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (["1", "-2", "+3", "4.5", ".5", "6.", "1e3", "-2.5E-2", " 7 "], "numeric"),
        (["0", "1", "1", "0"], "numeric"),  # 0/1 stays numeric
        (["1", "NA", "2", "", "null"], "numeric"),
        (["true", "false"], "boolean"),
        (["True", "FALSE", "tRuE"], "boolean"),
        (["yes", "no", "Y", "N"], "boolean"),
        (["t", "f", "T"], "boolean"),
        (["yes", "NA", "", "no"], "boolean"),
        (["2024-01-31", "1999-12-01"], "datetime"),
        (["2024-01-31T13:45:00", "2024-01-31 13:45", "2024-02-01T00:00:00.123456Z"], "datetime"),
        (["2024-01-31T13:45:00+02:00", "2024-01-31T13:45:00-0500"], "datetime"),
        (["2024/1/5", "2024/12/31"], "datetime"),
        (["2024-13-01", "2024-01-01"], "text"),  # month 13
        (["2024-01-32", "2024-01-01"], "text"),  # day 32
        (["31/01/2024", "01/02/2024"], "text"),  # not ISO-like
        (["2024-01-01", "tomorrow"], "text"),
        (["1", "2", "x"], "text"),
    ],
)
def test_dtype(write: WriteCsv, values: list[str], dtype: str) -> None:
    schema = inspect_csv(write("v,pad\n" + "".join(f"{v},p\n" for v in values)))
    assert columns(schema)["v"].dtype == dtype


def test_numeric_stats_skip_infinities(write: WriteCsv) -> None:
    schema = inspect_csv(write("x\n1\ninf\n-Infinity\n3\n"))
    assert columns(schema)["x"].dtype == "numeric"
    assert columns(schema)["x"].stats == {"min": 1.0, "max": 3.0, "mean": 2.0}


def test_numeric_without_finite_values_has_no_stats(write: WriteCsv) -> None:
    assert columns(inspect_csv(write("x\ninf\n-inf\n")))["x"].stats is None


def test_mixed_values_fall_back_to_strings(write: WriteCsv) -> None:
    values = ["1", "2", "true", "2024-01-01"] * 5
    schema = inspect_csv(write("m\n" + "\n".join(values) + "\n"))
    assert columns(schema)["m"].dtype == "categorical"  # 4 distinct values, each seen 5 times


def test_type_is_decided_over_the_whole_file(write: WriteCsv) -> None:
    """A value that breaks a type far beyond the first block still counts."""
    rows = 300_000
    content = "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(rows)) + "oops,x\n"
    assert len(content) > 2 * inspect_module.BLOCK_SIZE
    schema = inspect_csv(write(content))
    assert dtypes(schema) == {"a": "text", "b": "categorical"}
    assert schema.row_count == rows + 1


@pytest.mark.parametrize(
    ("distinct", "rows", "dtype"),
    [
        (3, 10, "categorical"),
        (5, 8, "text"),  # values seen less than twice on average
        (50, 100, "categorical"),
        (51, 102, "text"),  # over 50 distinct and over 5% of the values
        (500, 10_000, "categorical"),  # 5% rule
        (600, 10_000, "text"),
        (1001, 100_000, "text"),  # over the hard cap
    ],
)
def test_categorical_versus_text(write: WriteCsv, distinct: int, rows: int, dtype: str) -> None:
    values = [f"v{i % distinct}" for i in range(rows)]
    schema = inspect_csv(write("c\n" + "\n".join(values) + "\n"))
    assert columns(schema)["c"].dtype == dtype


def test_missing_tokens(write: WriteCsv) -> None:
    tokens = [
        "",
        "NA",
        "na",
        "N/A",
        "n/a",
        "null",
        "NULL",
        "Null",
        "NaN",
        "nan",
        "None",
        "none",
        "  ",
        " NA ",
    ]
    schema = inspect_csv(write("x,y\n" + "".join(f"{t},1\n" for t in tokens) + "5,1\nnil,1\n-,1\n"))
    x = columns(schema)["x"]
    assert x.missing == len(tokens)
    assert x.dtype == "text"  # "5", "nil" and "-" are values, not missing
    assert columns(schema)["y"].missing == 0
    assert all(is_missing(t) for t in tokens)
    assert not any(is_missing(t) for t in ["nil", "-", "0", "false", "NAN!"])


def test_column_with_no_values_is_text(write: WriteCsv) -> None:
    schema = inspect_csv(write("a,b\n1,\n2,NA\n3,\n"))
    assert columns(schema)["b"] == ColumnInfo("b", "text", 3)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n"])
def test_empty_file(write: WriteCsv, content: bytes) -> None:
    assert reason(write(content)) == "the file is empty"


@pytest.mark.parametrize("content", ["a,b,c\n", "a,b,c", "a,b,c\n\n\n", "a\n", "a;b\r\n  \r\n"])
def test_header_only(write: WriteCsv, content: str) -> None:
    assert reason(write(content)) == "the file has a header but no data rows"


def test_duplicate_column_names_are_named(write: WriteCsv) -> None:
    message = reason(write("id,name,age,name, id\n1,a,2,b,3\n"))
    assert message == "duplicate column names: 'id' (columns 1, 5); 'name' (columns 2, 4)"


def test_blank_column_name_gives_its_position(write: WriteCsv) -> None:
    assert reason(write("a,,c\n1,2,3\n")) == "column 2 has a blank name"
    assert reason(write("a, ,c,\n1,2,3,4\n")) == "columns 2, 4 have blank names"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,c\n1,2,3\n4,5,6,7\n", "line 3 has 4 fields, expected 3"),
        ("a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields, expected 3"),
        ("a,b,c\n1,2,3\n4\n", "line 3 has 1 field, expected 3"),
        # a quoted value over two lines and a blank line come before the bad row: lines, not rows
        ('a,b,c\n1,"x\ny",3\n\n4,5,6\n7,8,9,10,11\n', "line 6 has 5 fields, expected 3"),
        ("a;b\r\n1;2\r\n3;4;5\r\n", "line 3 has 3 fields, expected 2"),
    ],
)
def test_ragged_rows(write: WriteCsv, content: str, message: str) -> None:
    assert reason(write(content)) == message


def test_ragged_row_far_into_a_large_file(write: WriteCsv) -> None:
    body = "".join(f"{i},{i}\n" for i in range(200_000))
    assert reason(write("a,b\n" + body + "1,2,3\n" + body)) == "line 200002 has 3 fields, expected 2"


def test_not_utf8_in_the_sample(write: WriteCsv) -> None:
    message = reason(write("name,city\nJos\xe9,Paris\n".encode("latin-1")))
    assert message.startswith("file is not UTF-8 text")
    assert "invalid byte 0xE9 on line 2 (byte offset 13)" in message


def test_not_utf8_far_into_the_file(write: WriteCsv) -> None:
    # Many two-byte characters, so one of them straddles the locator's 1 MiB read boundary.
    line = "é,ü\n".encode()
    body = line * 400_000
    offset = 4 + len(body) + 2
    message = reason(write(b"a,b\n" + body + b"1,\xff\n" + line))
    assert f"invalid byte 0xFF on line 400002 (byte offset {offset})" in message


def test_truncated_utf8_at_the_end(write: WriteCsv) -> None:
    message = reason(write(b"a,b\n" + b"1,2\n" * 30_000 + b"3,\xc3"))
    assert "invalid byte 0xC3 on line 30002 (byte offset 120006)" in message


def test_utf16_is_not_utf8(write: WriteCsv) -> None:
    message = reason(write("a,b\n1,2\n".encode("utf-16")))
    assert message.startswith("file is not UTF-8 text")
    assert "(byte offset 0)" in message


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"PK\x03\x04\x14\x00\x06\x00",  # a zip (xlsx)
        b"a,b\n1,2\n3,\x00\n",
    ],
)
def test_binary_is_not_a_csv(write: WriteCsv, content: bytes) -> None:
    assert reason(write(content)).startswith("not a CSV file: it contains binary data (a NUL byte")


def test_prose_is_not_a_csv(write: WriteCsv) -> None:
    text = "Dear team,\nthe meeting moved to Friday\nbring the slides\nthanks\nBob\n"
    assert reason(write(text)).startswith("not a CSV file: its lines do not split")


def test_long_line_without_break_is_not_a_csv(write: WriteCsv) -> None:
    text = "a" * (inspect_module.MAX_SAMPLE_SIZE + 10)
    assert reason(write(text)).startswith("not a CSV file: no line break in the first")


# --- scale ----------------------------------------------------------------------------------------


def test_a_million_rows(write: WriteCsv) -> None:
    rng = random.Random(7)
    rows = 1_000_000
    colours = ["red", "green", "blue"]
    lines = ["id,x,colour,ok,day,comment"]
    lines.extend(
        f"{i},{'' if i % 100 == 0 else rng.randint(-500, 500)},{colours[i % 3]},"
        f"{'yes' if i % 2 else 'no'},2024-03-{i % 28 + 1:02d},c{i}"
        for i in range(rows)
    )
    path = write("\n".join(lines) + "\n")
    started = time.perf_counter()
    schema = inspect_csv(path)
    elapsed = time.perf_counter() - started
    assert schema.row_count == rows
    assert dtypes(schema) == {
        "id": "numeric",
        "x": "numeric",
        "colour": "categorical",
        "ok": "boolean",
        "day": "datetime",
        "comment": "text",
    }
    found = columns(schema)
    assert found["x"].missing == rows // 100
    assert found["id"].stats == {"min": 0.0, "max": rows - 1.0, "mean": (rows - 1) / 2}
    x_stats = found["x"].stats
    assert x_stats is not None
    assert -500 <= x_stats["min"] < x_stats["mean"] < x_stats["max"] <= 500
    assert elapsed < 10  # about 0.5 s on a 2-core machine

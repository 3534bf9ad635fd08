"""preview_rows and read_head: the first rows of a file, from as few bytes as possible."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from podml.datasets.inspect import inspect_csv
from podml.datasets.preview import preview_rows, read_head


def preview(
    head: bytes | str, rows: int = 10, delimiter: str = ",", encoding: str = "utf-8"
) -> list[dict[str, object]]:
    data = head.encode() if isinstance(head, str) else head
    return preview_rows(data, delimiter=delimiter, encoding=encoding, rows=rows)


class Chunks:
    """An async generator over fixed chunks that records how many were pulled and if it was closed."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = list(chunks)
        self.pulled = 0
        self.closed = False

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self.chunks:
                self.pulled += 1
                yield chunk
        finally:
            self.closed = True


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- preview_rows ---------------------------------------------------------------------------------


def test_rows_are_dicts_of_strings_with_none_for_missing() -> None:
    rows = preview("id,name,score\n1,Ada,3.5\n2,,NA\n3, Bob ,null\n")
    assert rows == [
        {"id": "1", "name": "Ada", "score": "3.5"},
        {"id": "2", "name": None, "score": None},
        {"id": "3", "name": " Bob ", "score": None},
    ]
    json.dumps(rows)  # JSON-safe


def test_row_limit() -> None:
    head = "a\n" + "".join(f"{i}\n" for i in range(100))
    assert preview(head, rows=3) == [{"a": "0"}, {"a": "1"}, {"a": "2"}]
    assert preview(head, rows=0) == []
    assert len(preview(head, rows=1000)) == 100


def test_header_names_are_stripped_like_inspection() -> None:
    assert preview(" a , b \n1,2\n") == [{"a": "1", "b": "2"}]


def test_semicolon_and_tab() -> None:
    assert preview("a;b\n1,5;x\n", delimiter=";") == [{"a": "1,5", "b": "x"}]
    assert preview("a\tb\n1\t2\n", delimiter="\t") == [{"a": "1", "b": "2"}]


def test_bom_is_removed_with_utf8_sig() -> None:
    assert preview(b"\xef\xbb\xbfa,b\n1,2\n", encoding="utf-8-sig") == [{"a": "1", "b": "2"}]


def test_quoted_values_with_delimiters_newlines_and_quotes() -> None:
    rows = preview('a,b\n"x, y","line 1\nline 2"\n"say ""hi""",z\n')
    assert rows == [{"a": "x, y", "b": "line 1\nline 2"}, {"a": 'say "hi"', "b": "z"}]


def test_blank_lines_are_skipped() -> None:
    assert preview("a,b\n\n1,2\n   \n\r\n3,4\n") == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_whitespace_line_is_a_missing_value_in_a_single_column() -> None:
    assert preview("a\n1\n  \n2\n") == [{"a": "1"}, {"a": None}, {"a": "2"}]


def test_cut_last_line_is_dropped() -> None:
    assert preview("a,b,c\n1,2,3\n4,5") == [{"a": "1", "b": "2", "c": "3"}]


def test_cut_inside_a_quoted_value_is_dropped() -> None:
    assert preview('a,b\n1,2\n3,"multi\nline, cut her') == [{"a": "1", "b": "2"}]
    assert preview('a,b\n1,2\n3,"multi\n') == [{"a": "1", "b": "2"}]


def test_complete_last_line_without_line_break_is_kept() -> None:
    assert preview("a,b\n1,2\n3,4") == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


def test_cut_multibyte_character_is_ignored() -> None:
    head = "a,b\n1,é\n2,ü\n".encode()[:-2]  # cut inside "ü": the last record is cut too
    assert preview(head) == [{"a": "1", "b": "é"}]
    assert preview("a,b\n1,ü\n".encode()[:-1]) == [{"a": "1", "b": "ü"}]


def test_short_rows_are_padded_and_long_rows_cut() -> None:
    assert preview("a,b,c\n1\n1,2,3,4\n", rows=2) == [
        {"a": "1", "b": None, "c": None},
        {"a": "1", "b": "2", "c": "3"},
    ]


def test_empty_head() -> None:
    assert preview(b"") == []
    assert preview("a,b\n") == []


def test_huge_field_stops_the_preview_instead_of_failing() -> None:
    head = "a,b\n1,2\n3," + "x" * 200_000 + "\n5,6\n"
    assert preview(head) == [{"a": "1", "b": "2"}]


# --- read_head ------------------------------------------------------------------------------------


async def test_read_head_stops_after_the_rows_it_needs() -> None:
    data = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(10_000))
    source = Chunks(split(data, 100))
    head = await read_head(source.stream(), max_rows=5)
    assert head == b"a,b\n0,0\n1,1\n2,2\n3,3\n4,4\n"
    assert source.pulled == 1
    assert source.closed


async def test_read_head_reads_across_chunks() -> None:
    data = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(100))
    source = Chunks(split(data, 3))
    head = await read_head(source.stream(), max_rows=20)
    assert head == b"".join(data.splitlines(keepends=True)[:21])
    assert source.pulled == -(-len(head) // 3)


async def test_read_head_does_not_count_quoted_line_breaks() -> None:
    data = b'a,b\n1,"x\ny\nz"\n2,"p\r\nq"\n3,w\n4,v\n'
    head = await read_head(Chunks(split(data, 2)).stream(), max_rows=2)
    assert head == b'a,b\n1,"x\ny\nz"\n2,"p\r\nq"\n'
    assert preview(head, rows=2) == [{"a": "1", "b": "x\ny\nz"}, {"a": "2", "b": "p\r\nq"}]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
async def test_read_head_counts_crlf_once_even_when_split(size: int) -> None:
    data = b"a,b\r\n1,2\r\n3,4\r\n5,6\r\n7,8\r\n"
    head = await read_head(Chunks(split(data, size)).stream(), max_rows=2)
    # The LF of the last CRLF is included when it came in the same chunk as its CR.
    assert head in (b"a,b\r\n1,2\r\n3,4\r\n", b"a,b\r\n1,2\r\n3,4\r")
    assert preview(head) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


async def test_read_head_old_mac_line_ends() -> None:
    data = b"a,b\r1,2\r3,4\r5,6\r"
    assert await read_head(Chunks([data]).stream(), max_rows=2) == b"a,b\r1,2\r3,4\r"


async def test_read_head_stops_at_max_bytes_on_a_record_end() -> None:
    source = Chunks([b"a,b\n1,2\n3," + b"x" * 1000, b"y" * 1000, b"z" * 1000, b"\n4,5\n"])
    head = await read_head(source.stream(), max_rows=5, max_bytes=1500)
    assert head == b"a,b\n1,2\n"  # the cut record is left out
    assert source.pulled == 2
    assert source.closed


async def test_read_head_max_bytes_inside_the_header() -> None:
    head = await read_head(Chunks([b"a" * 100, b",b\n1,2\n"]).stream(), max_rows=5, max_bytes=50)
    assert head == b"a" * 50
    assert preview(head) == []


async def test_read_head_short_stream() -> None:
    data = b"a,b\n1,2\n3,4"
    assert await read_head(Chunks(split(data, 4)).stream(), max_rows=50) == data
    assert await read_head(Chunks([]).stream(), max_rows=5) == b""


async def test_read_head_accepts_a_plain_async_iterator() -> None:
    class Plain:
        def __init__(self) -> None:
            self.items = [b"a\n1\n", b"2\n3\n"]

        def __aiter__(self) -> Plain:
            return self

        async def __anext__(self) -> bytes:
            if not self.items:
                raise StopAsyncIteration
            return self.items.pop(0)

    assert await read_head(Plain(), max_rows=2) == b"a\n1\n2\n"


async def test_preview_of_an_inspected_file(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    lines = ["\ufeffid;label;note"] + [
        f'{i};{"NA" if i % 4 == 0 else f"l{i}"};"n\n{i}"' for i in range(1, 500)
    ]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    schema = inspect_csv(path)
    source = Chunks(split(path.read_bytes(), 64))
    head = await read_head(source.stream(), max_rows=4)
    rows = preview_rows(head, delimiter=schema.delimiter, encoding=schema.encoding, rows=4)
    assert rows == [
        {"id": "1", "label": "l1", "note": "n\n1"},
        {"id": "2", "label": "l2", "note": "n\n2"},
        {"id": "3", "label": "l3", "note": "n\n3"},
        {"id": "4", "label": None, "note": "n\n4"},
    ]
    assert source.pulled < 5

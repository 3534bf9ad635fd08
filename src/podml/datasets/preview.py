"""The first rows of a stored dataset, for `GET /api/datasets/{id}/preview`.

`read_head` pulls just enough bytes from a storage stream; `preview_rows` parses them with the
delimiter and encoding that `inspect_csv` recorded. Values are JSON-safe and typed the same way
for every column: the cell's text exactly as written (not trimmed), or None when the cell is
missing (see `podml.datasets.inspect.is_missing`). Converting values is left to the reader of the
schema, so a preview never disagrees with the dtype that inspection reported.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final

from podml.datasets.inspect import is_missing

DEFAULT_HEAD_BYTES: Final = 8 * 1024 * 1024
_SPECIAL: Final = re.compile(rb'["\r\n]')


async def read_head(
    chunks: AsyncIterator[bytes], *, max_rows: int, max_bytes: int = DEFAULT_HEAD_BYTES
) -> bytes:
    """Read the header line and `max_rows` records from `chunks`, and nothing much after them.

    Stops after max_rows + 1 line ends (CR, LF or CRLF, counting only those outside double quotes,
    so a quoted value spanning lines does not end a record), after `max_bytes` bytes, or at the end
    of the stream. Except at the end of the stream, the result stops right after the last line end
    counted, so it never holds a cut record (unless `max_bytes` is smaller than the header). An
    async generator is closed when reading stops.
    """
    buffer = bytearray()
    counter = _RecordCounter()
    try:
        async for chunk in chunks:
            chunk = chunk[: max_bytes - len(buffer)]
            buffer += chunk
            if counter.feed(chunk, max_rows + 1):
                return bytes(buffer[: counter.last_end])
            if len(buffer) >= max_bytes:
                return bytes(buffer[: counter.last_end or max_bytes])
        return bytes(buffer)
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()


class _RecordCounter:
    """Counts record ends (CR, LF or CRLF outside double quotes) across chunks."""

    def __init__(self) -> None:
        self.count = 0
        self.quoted = False  # a doubled quote inside a quoted value flips this twice: still inside
        self.fed = 0  # bytes seen so far
        self.last_end = 0  # offset just after the last record end
        self._cr_at = -2  # offset of the last record-ending CR

    def feed(self, chunk: bytes, wanted: int) -> bool:
        """Count the record ends in `chunk`; True once there are `wanted` of them."""
        base, self.fed = self.fed, self.fed + len(chunk)
        for match in _SPECIAL.finditer(chunk):
            at, char = base + match.start(), match.group()
            if char == b'"':
                self.quoted = not self.quoted
            elif char == b"\n" and at == self._cr_at + 1:
                self.last_end = at + 1  # the LF of a CRLF already counted
            elif not self.quoted:
                self.count += 1
                self.last_end = at + 1
                if char == b"\r":
                    self._cr_at = at
                if self.count >= wanted:
                    if char == b"\r" and chunk[match.end() : match.end() + 1] == b"\n":
                        self.last_end += 1
                    return True
        return False


def preview_rows(head: bytes, *, delimiter: str, encoding: str, rows: int) -> list[dict[str, object]]:
    """The first `rows` data rows of a CSV file, from its first bytes, as {column: value} dicts.

    `head` may end anywhere: a character or a record cut by its end is left out (a last record
    without a line break is kept only when no character was cut, its quotes are balanced and it
    has as many fields as the header: the end of a file that has no final line break). Blank lines
    are skipped. A short row gets None for its missing fields; extra fields are dropped.
    """
    if rows <= 0:
        return []
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(head, final=False)
    cut_character = bool(decoder.getstate()[0])  # bytes of a character cut by the end of `head`
    records = _records(text, delimiter)
    if not records:
        return []
    header = [name.strip() for name in records[0]]
    if len(header) > 1:  # as in inspection, a whitespace-only line is blank unless there is one column
        records = [record for record in records if len(record) > 1 or record[0].strip()]
    body = records[1 : rows + 2]
    balanced = text.count('"') % 2 == 0
    # A last record without a line break after it may be cut; keep it only if it looks whole.
    ends_cleanly = balanced and text.endswith(("\n", "\r"))
    last = body[-1] if body else []
    looks_whole = not cut_character and balanced and len(last) == len(header)
    if body and len(body) <= rows and not ends_cleanly and not looks_whole:
        body.pop()
    return [_row(header, record) for record in body[:rows]]


def _records(text: str, delimiter: str) -> list[list[str]]:
    """The non-empty records of `text`; those after a field over the csv module's 128 KiB limit
    are left out (inspection, which uses pyarrow, accepts such fields; the preview stops there)."""
    records: list[list[str]] = []
    with contextlib.suppress(csv.Error):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if row:
                records.append(row)
    return records


def _row(header: list[str], record: list[str]) -> dict[str, object]:
    """Missing cells become None; a short record is padded with missing cells, a long one cut."""
    values = (record + [""] * len(header))[: len(header)]
    return {name: None if is_missing(value) else value for name, value in zip(header, values, strict=True)}

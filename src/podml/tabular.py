"""The CSV conventions PodML applies everywhere a table is read: upload inspection and the trainer.

Pure standard library, so anything (the API, the trainer, the model server) can import it cheaply.

* Missing values: after trimming ASCII whitespace, "" and `NA_TOKENS` ("NA", "N/A", "null", "NaN",
  "None" in lower, UPPER or Title case).
* Booleans: `BOOLEAN_TOKENS` (true/false/yes/no/t/f/y/n) in any case; `TRUE_TOKENS` are the true ones.
  A column is boolean only when every non-missing value is such a token, so 0/1 stays numeric.
* Datetimes: values matching `DATETIME_PATTERN`: an ISO 8601 date or timestamp, `-` or `/` between
  the date parts, an optional time with seconds, fractions and a zone.
* Delimiters: `,` `;` tab or `|`.
"""

from __future__ import annotations

import csv
import itertools
import re
from typing import Final

NA_TOKENS: Final = frozenset(
    variant
    for token in ("", "NA", "N/A", "null", "NaN", "None")
    for variant in (token, token.lower(), token.upper(), token.title())
)
BOOLEAN_TOKENS: Final = frozenset({"true", "false", "yes", "no", "t", "f", "y", "n"})
TRUE_TOKENS: Final = frozenset({"true", "yes", "t", "y"})
FALSE_TOKENS: Final = BOOLEAN_TOKENS - TRUE_TOKENS
DATETIME_PATTERN: Final = (
    r"^\d{4}[-/](0?[1-9]|1[0-2])[-/](0?[1-9]|[12]\d|3[01])"
    r"([T ]([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d([.,]\d{1,9})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)?$"
)
DELIMITERS: Final = (",", ";", "\t", "|")
WHITESPACE: Final = " \t\n\r\f\v"

_DATETIME_RE: Final = re.compile(DATETIME_PATTERN)


def is_missing(value: str) -> bool:
    """Whether one raw cell counts as missing."""
    return value.strip(WHITESPACE) in NA_TOKENS


def parse_bool(value: str) -> bool | None:
    """True or False for a boolean token (any case, surrounding whitespace ignored), else None."""
    token = value.strip(WHITESPACE).lower()
    if token in TRUE_TOKENS:
        return True
    if token in FALSE_TOKENS:
        return False
    return None


def is_datetime(value: str) -> bool:
    """Whether one (trimmed) cell is an ISO 8601 date or timestamp in PodML's sense."""
    return _DATETIME_RE.match(value.strip(WHITESPACE)) is not None


def case_variants(token: str) -> frozenset[str]:
    """Every upper/lower-case spelling of `token` ("yes" → "yes", "Yes", "yEs", ..., "YES"), for
    readers that compare strings exactly (pyarrow's `true_values` / `false_values`)."""
    pairs = [(ch.lower(), ch.upper()) if ch.lower() != ch.upper() else (ch,) for ch in token]
    return frozenset("".join(chars) for chars in itertools.product(*pairs))


def boolean_spellings() -> tuple[list[str], list[str]]:
    """All case spellings of the true tokens and of the false tokens, each sorted."""
    true = sorted(set().union(*(case_variants(token) for token in TRUE_TOKENS)))
    false = sorted(set().union(*(case_variants(token) for token in FALSE_TOKENS)))
    return true, false


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV text sample: the one of `DELIMITERS` that splits the header into the
    most fields while the next lines agree with it; `,` when none splits the header."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if not lines:
        return ","
    try:
        sniffed: str | None = csv.Sniffer().sniff("\n".join(lines), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    scores: dict[str, tuple[float, int]] = {}
    for delimiter in DELIMITERS:
        try:
            header, *rows = list(csv.reader(lines, delimiter=delimiter))
        except csv.Error:
            continue
        if len(header) > 1:
            consistent = sum(len(row) == len(header) for row in rows) / len(rows) if rows else 1.0
            scores[delimiter] = (consistent, len(header))
    if not scores:
        return ","
    best = max(scores, key=lambda d: scores[d])
    if sniffed in scores and scores[sniffed][0] >= scores[best][0]:
        return sniffed
    return best

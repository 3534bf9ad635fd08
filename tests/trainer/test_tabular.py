"""The CSV conventions shared by dataset inspection and the trainer."""

from __future__ import annotations

import pytest

from podml import tabular
from podml.datasets import inspect


def test_inspection_uses_the_shared_tokens() -> None:
    assert inspect.NA_TOKENS is tabular.NA_TOKENS
    assert inspect.BOOLEAN_TOKENS is tabular.BOOLEAN_TOKENS


def test_na_tokens() -> None:
    assert {
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
        "NAN",
        "None",
        "none",
    } <= tabular.NA_TOKENS
    assert len(tabular.NA_TOKENS) == 16
    assert tabular.is_missing("  NA ")
    assert tabular.is_missing("\t")
    assert not tabular.is_missing("0")
    assert not tabular.is_missing("nil")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        (" YES ", True),
        ("t", True),
        ("Y", True),
        ("False", False),
        ("no", False),
        ("F", False),
        ("n", False),
        ("1", None),
        ("0", None),
        ("maybe", None),
        ("", None),
    ],
)
def test_parse_bool(value: str, expected: bool | None) -> None:
    assert tabular.parse_bool(value) is expected


def test_true_and_false_tokens_split_the_boolean_tokens() -> None:
    assert tabular.TRUE_TOKENS | tabular.FALSE_TOKENS == tabular.BOOLEAN_TOKENS
    assert not tabular.TRUE_TOKENS & tabular.FALSE_TOKENS


def test_case_variants() -> None:
    assert tabular.case_variants("no") == {"no", "No", "nO", "NO"}
    assert tabular.case_variants("n/a") == {"n/a", "N/a", "n/A", "N/A"}
    true, false = tabular.boolean_spellings()
    assert "tRuE" in true
    assert "YES" in true
    assert "fAlSe" in false
    assert "N" in false
    assert not set(true) & set(false)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05", True),
        ("2024/1/5", True),
        ("2024-01-05T10:20:30Z", True),
        ("2024-01-05 10:20:30.123+02:00", True),
        ("2024-13-05", False),
        ("05/01/2024", False),
        ("yesterday", False),
    ],
)
def test_is_datetime(value: str, expected: bool) -> None:
    assert tabular.is_datetime(value) is expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b\n1,2\n", ","),
        ("a;b\n1,5;2\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ("single\n1\n2\n", ","),
        ("", ","),
    ],
)
def test_sniff_delimiter(sample: str, expected: str) -> None:
    assert tabular.sniff_delimiter(sample) == expected

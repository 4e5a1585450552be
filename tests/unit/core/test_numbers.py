"""Numbers others send are read only when they are plain ASCII digits: '²' and other
Unicode digits pass str.isdigit() but are not a Content-Length, a count or an id."""

from __future__ import annotations

import argparse

import pytest

from coursehub.cli.stats import _days
from coursehub.core.numbers import whole_number


@pytest.mark.parametrize("text", ["0", "7", "1048576", "0012"])
def test_plain_digits_are_read(text: str) -> None:
    assert whole_number(text) == int(text)


@pytest.mark.parametrize(
    "text", [None, "", "²", "1²", "٣", "１２", "-1", "+1", " 1", "1e3", "9" * 19]
)
def test_anything_else_is_not_a_number(text: str | None) -> None:
    assert whole_number(text) is None


def test_cli_days_refuses_unicode_digits_with_the_rule() -> None:
    assert _days("30") == 30
    for bad in ("²", "0", "٣"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number of days"):
            _days(bad)

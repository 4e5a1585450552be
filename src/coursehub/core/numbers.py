"""Whole numbers read from text others send (headers, query strings, forms, LMS answers).

`str.isdigit()` is also true for '²' and other Unicode digits, which `int()` then
refuses (an error page instead of a clear answer) or reads as a number nobody typed.
"""

from __future__ import annotations


def whole_number(text: str | None, max_digits: int = 18) -> int | None:
    """`text` as an int when it is 1..max_digits ASCII digits, else None."""
    if text is None or not 0 < len(text) <= max_digits:
        return None
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)

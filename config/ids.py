"""Ids and numbers as clients write them in paths and query strings: ASCII digits only.

``str.isdigit()`` is true for "²" and "١", which ``int()`` then refuses (a 500) or reads as another
number than the client meant; and a row's id is a database bigint, so more than 18 digits name no
row. Every place that takes an id from a person or a program goes through ``parse_id``, and routes
match ``ID_PATTERN``.
"""

import re

# Up to 18 ASCII digits: every such number fits a bigint (2**63 - 1 has 19 digits).
ID_PATTERN = r"[0-9]{1,18}"
_ID = re.compile(ID_PATTERN)


def parse_id(value: object) -> int | None:
    """The id a path segment or parameter names (ASCII digits that fit a bigint), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, str) and _ID.fullmatch(value):
        return int(value)
    return None

"""The sandbox's `$filter` subset behaves like F&O's (case-insensitive strings, enum literals)."""

from __future__ import annotations

import pytest

from local.commerce.filters import FilterError, compile_filter

ROWS = [{"Name": "Ana Ruiz", "No": 3, "IsActive": "Yes"}, {"Name": "O'Brien", "No": 7, "IsActive": "No"}]
FIELDS = ["Name", "No", "IsActive"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Name eq 'ana ruiz'", ["Ana Ruiz"]),
        ("Name eq 'O''Brien'", ["O'Brien"]),
        ("Name ne 'Ana Ruiz'", ["O'Brien"]),
        ("No gt 3 or Name eq 'x'", ["O'Brien"]),
        ("not (No le 3) and IsActive eq Microsoft.Dynamics.DataEntities.NoYes'No'", ["O'Brien"]),
        ("contains(Name,'RUI') or startswith(Name,'o''')", ["Ana Ruiz", "O'Brien"]),
        ("tolower(Name) eq 'ana ruiz'", ["Ana Ruiz"]),
    ],
)
def test_filter_selects(text: str, names: list[str]) -> None:
    predicate = compile_filter(text, FIELDS)
    assert [r["Name"] for r in ROWS if predicate(r)] == names


@pytest.mark.parametrize("text", ["Nope eq 1", "Name eq", "Name eq 'x' and", "(Name eq 'x'"])
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text, FIELDS)

"""The `$filter` subset F&O clients use, compiled to a Python predicate over a row.

Supported: `eq ne gt ge lt le`, `and or not`, parentheses, `contains/startswith/endswith(f,'x')`,
`tolower/toupper`, string/number/bool/null literals, F&O enum literals
(`Microsoft.Dynamics.DataEntities.NoYes'Yes'` → 'Yes') and bare date/time literals. String
comparisons ignore case, as F&O's SQL collation does. Not supported (F&O lacks it too): `in`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

Row = dict[str, Any]
Expr = Callable[[Row], Any]


class FilterError(ValueError):
    """An invalid `$filter`: the server answers 400 with this message."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<enum>[A-Za-z_][\w.]*'(?:[^']|'')*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),])
    | (?P<name>[A-Za-z_@][\w.]*)
    )""",
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"contains", "startswith", "endswith", "tolower", "toupper"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"Syntax error at position {pos} in '{text}'.")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)  # type: ignore[arg-type]
        if kind == "str":
            out.append(("lit", value[1:-1].replace("''", "'")))
        elif kind == "enum":
            out.append(("lit", value[value.index("'") + 1 : -1].replace("''", "'")))
        elif kind == "datetime":
            out.append(("lit", value))
        elif kind == "num":
            out.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "punct":
            out.append((value, value))
        else:
            low = value.lower()
            if low in ("true", "false"):
                out.append(("lit", low == "true"))
            elif low == "null":
                out.append(("lit", None))
            else:
                out.append(("name", value))
    return out


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _norm(left), _norm(right)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        return bool({"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op])
    except TypeError:
        return False


_NO = object()


def _any_of(a: Expr, b: Expr) -> Expr | None:
    """`f eq 'x' or f eq 'y' or ...` as one set lookup (the client's `or` chains of up to ~40
    ids over 20,000 workers made the sandbox, not the app, the bottleneck of a 1,000-store run).
    Same result as the chain: string equality is case-insensitive either way."""
    ea, eb = getattr(a, "equals", None), getattr(b, "equals", None)
    if ea is None or eb is None or ea[0] != eb[0]:
        return None
    field, values = ea[0], ea[1] | eb[1]

    def test(r: Row) -> bool:
        v = r.get(field)
        return isinstance(v, str) and v.casefold() in values

    test.equals = (field, values)  # type: ignore[attr-defined]
    return test


class _Parser:
    def __init__(self, text: str, fields: Collection[str], type_name: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.fields = {f.casefold(): f for f in fields}
        self.type_name = type_name

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise FilterError("Unexpected end of $filter.")
        self.i += 1
        return tok

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] == "name" and tok[1].lower() in words:
            self.i += 1
            return str(tok[1]).lower()
        return None

    def expect(self, kind: str) -> None:
        tok = self.take()
        if tok[0] != kind:
            raise FilterError(f"Expected '{kind}' in $filter, found '{tok[1]}'.")

    def parse(self) -> Expr:
        expr = self.or_()
        if self.peek() is not None:
            raise FilterError(f"Unexpected '{self.peek()[1]}' in $filter.")  # type: ignore[index]
        return expr

    def or_(self) -> Expr:
        left = self.and_()
        while self.keyword("or"):
            right = self.and_()
            left = _any_of(left, right) or (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.keyword("and"):
            right = self.not_()
            both: Expr = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
            # Rows matching `a and b` are among those matching `a`: the server may look those up.
            narrow = getattr(left, "equals", None) or getattr(right, "equals", None)
            if narrow is not None:
                both.equals = narrow  # type: ignore[attr-defined]
            left = both
        return left

    def not_(self) -> Expr:
        if self.keyword("not"):
            inner = self.not_()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.primary()
        op = self.keyword(*_COMPARE)
        if op is None:
            return left
        right = self.primary()
        expr: Expr = lambda r: _compare(op, left(r), right(r))  # noqa: E731
        field, value = getattr(left, "field", None), getattr(right, "literal", _NO)
        if op == "eq" and field is not None and value is not _NO and isinstance(value, str):
            expr.equals = (field, {value.casefold()})  # type: ignore[attr-defined]
        return expr

    def primary(self) -> Expr:
        kind, value = self.take()
        if kind == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if kind == "lit":
            lit: Expr = lambda r: value  # noqa: E731
            lit.literal = value  # type: ignore[attr-defined]
            return lit
        if kind == "name":
            if value.lower() in _FUNCS and self.peek() and self.peek()[0] == "(":  # type: ignore[index]
                return self.function(value.lower())
            field = self.fields.get(value.casefold())
            if field is None:
                raise FilterError(
                    f"Could not find a property named '{value}' on type "
                    f"'Microsoft.Dynamics.DataEntities.{self.type_name}'."
                )
            get: Expr = lambda r: r.get(field)  # noqa: E731
            get.field = field  # type: ignore[attr-defined]
            return get
        raise FilterError(f"Unexpected '{value}' in $filter.")

    def function(self, name: str) -> Expr:
        self.expect("(")
        args = [self.or_()]
        while self.peek() and self.peek()[0] == ",":  # type: ignore[index]
            self.take()
            args.append(self.or_())
        self.expect(")")
        if name in ("tolower", "toupper"):
            (arg,) = args
            return lambda r: str(arg(r)).lower() if name == "tolower" else str(arg(r)).upper()
        if len(args) != 2:
            raise FilterError(f"{name} takes two arguments.")
        hay, needle = args

        def test(r: Row) -> bool:
            h, n = hay(r), needle(r)
            if h is None or n is None:
                return False
            h, n = str(h).casefold(), str(n).casefold()
            return (
                n in h if name == "contains" else h.startswith(n) if name == "startswith" else h.endswith(n)
            )

        return test


def compile_filter(text: str, fields: Collection[str], type_name: str = "Entity") -> Expr:
    """`$filter` text → predicate(row). Raises `FilterError` for bad syntax or unknown fields."""
    return _Parser(text, fields, type_name).parse()

"""A small OData ``$filter`` compiler to SQL over the JSON documents.

Supports what the product sends: ``field eq 'x'`` (strings compare case-insensitively, as
directory ``eq`` does), ``eq true|false|number``, ``startswith(field,'x')``,
``collection/any(x:x eq 'v')`` (e.g. ``resourceProvisioningOptions/Any(x:x eq 'Team')``,
https://learn.microsoft.com/graph/teams-list-all-teams), ``field in ('a','b')`` (at most
`MAX_IN` values; strings compared case-insensitively, as ``eq``), joined by ``and``/``or`` (no
parentheses). Anything else is a 400, as Graph answers unsupported queries.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import GraphError

_FIELD = r"([A-Za-z][A-Za-z0-9]*)"
_STR = r"'((?:[^']|'')*)'"
_EQ_STR = re.compile(rf"^{_FIELD}\s+eq\s+{_STR}$", re.I)
_EQ_LIT = re.compile(rf"^{_FIELD}\s+eq\s+(true|false|null|-?\d+(?:\.\d+)?)$", re.I)
_STARTS = re.compile(rf"^startswith\(\s*{_FIELD}\s*,\s*{_STR}\s*\)$", re.I)
_ANY = re.compile(rf"^{_FIELD}/any\(\s*(\w+)\s*:\s*\2\s+eq\s+{_STR}\s*\)$", re.I)
MAX_IN = 15
"""'When using the "in" operator, the request is limited to 15 expressions in the filter clause by
default' (Graph known issues, "Some limitations apply to query parameters",
https://developer.microsoft.com/graph/known-issues/?search=13635). The refusal's wording is that
of public reports of the directory's answer (e.g. https://stackoverflow.com/questions/66579149),
not documented; its code and status are Graph's for an unsupported query."""
_IN = re.compile(rf"^{_FIELD}\s+in\s+\(\s*({_STR}(?:\s*,\s*{_STR})*)\s*\)$", re.I)


def _unquote(s: str) -> str:
    return s.replace("''", "'")


def _split(expr: str) -> tuple[list[str], str]:
    """Split on top-level `` and `` / `` or `` (outside quotes/parens); mixing them is refused."""
    parts: list[str] = []
    ops: set[str] = set()
    depth, quoted, start, i = 0, False, 0, 0
    low = expr.lower()
    while i < len(expr):
        c = expr[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0:
            for op in (" and ", " or "):
                if low.startswith(op, i):
                    parts.append(expr[start:i].strip())
                    ops.add(op.strip())
                    i += len(op)
                    start = i
                    break
            else:
                i += 1
                continue
            continue
        i += 1
    parts.append(expr[start:].strip())
    if len(ops) > 1:
        raise GraphError(
            400, "Request_UnsupportedQuery", "Mixing 'and' and 'or' is not supported by the sandbox."
        )
    return parts, (ops.pop() if ops else "and")


def compile_filter(expr: str) -> tuple[str, list[Any]]:
    """``$filter`` → ``(sql, args)`` over the ``objects.data`` JSON column."""
    parts, op = _split(expr.strip())
    sqls: list[str] = []
    args: list[Any] = []
    for part in parts:
        sql, a = _clause(part)
        sqls.append(sql)
        args.extend(a)
    return f" {op.upper()} ".join(f"({s})" for s in sqls), args


def _clause(part: str) -> tuple[str, list[Any]]:
    if m := _EQ_STR.match(part):
        if m[1] == "id":
            return "id=?", [_unquote(m[2])]
        return f"lower(json_extract(data, '$.{m[1]}'))=lower(?)", [_unquote(m[2])]
    if m := _EQ_LIT.match(part):
        lit = m[2].lower()
        if lit == "null":
            return f"json_extract(data, '$.{m[1]}') IS NULL", []
        value: Any = {"true": 1, "false": 0}.get(lit, None)
        if value is None:
            value = float(lit) if "." in lit else int(lit)
        return f"json_extract(data, '$.{m[1]}')=?", [value]
    if m := _STARTS.match(part):
        prefix = _unquote(m[2]).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"lower(json_extract(data, '$.{m[1]}')) LIKE lower(?) ESCAPE '\\'", [prefix + "%"]
    if m := _ANY.match(part):
        return (
            f"EXISTS (SELECT 1 FROM json_each(data, '$.{m[1]}') WHERE lower(value)=lower(?))",
            [_unquote(m[3])],
        )
    if m := _IN.match(part):
        values = [_unquote(v) for v in re.findall(_STR, m[2])]
        if len(values) > MAX_IN:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                "Too many child clauses specified in search filter expression containing 'OR' operators: "
                f"{len(values)}. Max allowed: {MAX_IN}.",
            )
        if m[1] == "id":
            return f"id IN ({','.join('?' * len(values))})", values
        marks = ",".join("lower(?)" for _ in values)
        return f"lower(json_extract(data, '$.{m[1]}')) IN ({marks})", values
    raise GraphError(
        400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause specified: '{part}'."
    )

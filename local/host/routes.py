"""HTTP trigger routes: the ASP.NET Core route templates Azure Functions uses, matched locally.

Supports literal segments, ``{name}``, optional ``{name?}``, defaults ``{name=value}``, catch-all
``{*name}``, parameters mixed with literals in one segment (``{file}.{ext}``), and the common
inline constraints (``int``, ``long``, ``bool``, ``guid``, ``alpha``, ``decimal``, ``double``,
``float``, ``datetime``, ``min(n)``, ``max(n)``, ``range(a,b)``, ``minlength(n)``, ``maxlength(n)``,
``length(n)``, ``regex(...)``). Literals match case-insensitively, as in Azure.
See https://learn.microsoft.com/aspnet/core/fundamentals/routing#route-template-reference
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

_PARAM = re.compile(r"\{([^{}]+)\}")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$|^\{[0-9a-fA-F-]{36}\}$")


class RouteError(ValueError):
    """A route template the local host cannot parse."""


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _constraint(text: str) -> Callable[[str], bool]:
    name, _, arg = text.partition("(")
    arg = arg[:-1] if arg.endswith(")") else arg
    name = name.lower()
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: re.fullmatch(r"-?\d+", v) is not None,
        "long": lambda v: re.fullmatch(r"-?\d+", v) is not None,
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": lambda v: _GUID.match(v) is not None,
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "decimal": _number,
        "double": _number,
        "float": _number,
        "datetime": _datetime,
    }
    if name in simple:
        return simple[name]
    try:
        if name == "min":
            return lambda v: re.fullmatch(r"-?\d+", v) is not None and int(v) >= int(arg)
        if name == "max":
            return lambda v: re.fullmatch(r"-?\d+", v) is not None and int(v) <= int(arg)
        if name == "range":
            low, high = (int(x) for x in arg.split(","))
            return lambda v: re.fullmatch(r"-?\d+", v) is not None and low <= int(v) <= high
        if name == "minlength":
            return lambda v: len(v) >= int(arg)
        if name == "maxlength":
            return lambda v: len(v) <= int(arg)
        if name == "length":
            if "," in arg:
                low, high = (int(x) for x in arg.split(","))
                return lambda v: low <= len(v) <= high
            return lambda v: len(v) == int(arg)
        if name == "regex":
            pattern = re.compile(arg, re.IGNORECASE)
            return lambda v: pattern.search(v) is not None
    except (ValueError, re.error) as exc:
        raise RouteError(f"bad constraint '{text}': {exc}") from exc
    raise RouteError(f"unknown route constraint '{name}'")


@dataclass(frozen=True)
class _Param:
    name: str
    optional: bool
    default: str | None
    catch_all: bool
    checks: tuple[Callable[[str], bool], ...]


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    regex: re.Pattern[str]
    params: tuple[_Param, ...]
    precedence: tuple[int, ...]  # lower sorts first: literal < constrained < plain < optional < catch-all

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        template = template.strip("/")
        pattern = ""
        params: list[_Param] = []
        precedence: list[int] = []
        segments = template.split("/") if template else []
        for index, segment in enumerate(segments):
            if not segment:
                raise RouteError("empty segment ('//')")
            pieces = _PARAM.split(segment)  # literal, param, literal, param, ..., literal
            if "{" in pieces[0] or "}" in pieces[-1]:
                raise RouteError(f"unbalanced braces in segment '{segment}'")
            seg_regex = ""
            seg_rank = 1
            whole_optional = False
            for i, piece in enumerate(pieces):
                if i % 2 == 0:
                    if "{" in piece or "}" in piece:
                        raise RouteError(f"unbalanced braces in segment '{segment}'")
                    seg_regex += re.escape(piece)
                    continue
                param = _parse_param(piece)
                if param.name in {p.name for p in params}:
                    raise RouteError(f"parameter '{param.name}' appears twice")
                params.append(param)
                if param.catch_all:
                    if index != len(segments) - 1 or len(pieces) != 3 or pieces[0] or pieces[2]:
                        raise RouteError("a catch-all parameter must be the whole last segment")
                    seg_regex += f"(?P<{_group(param.name)}>.*)"
                    seg_rank = 5
                    whole_optional = True
                else:
                    seg_regex += f"(?P<{_group(param.name)}>[^/]+)"
                    seg_rank = max(seg_rank, 2 if param.checks else 3)
                    if param.optional or param.default is not None:
                        if len(pieces) != 3 or pieces[0] or pieces[2]:
                            raise RouteError("an optional parameter must be a whole segment")
                        whole_optional = True
                        seg_rank = 4
            sep = "/" if index else ""
            pattern += f"(?:{sep}{seg_regex})?" if whole_optional else f"{sep}{seg_regex}"
            precedence.append(seg_rank)
        return cls(template, re.compile(f"^{pattern}$", re.IGNORECASE), tuple(params), tuple(precedence))

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters for ``path`` (relative to the route prefix), or None if it does not match."""
        found = self.regex.match(path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for param in self.params:
            value = found.group(_group(param.name))
            if value is None or value == "":
                if param.default is not None:
                    values[param.name] = param.default
                continue
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _parse_param(text: str) -> _Param:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    default = None
    if "=" in text:
        text, default = text.split("=", 1)
    optional = text.endswith("?")
    text = text.rstrip("?")
    name, *constraints = _split_constraints(text)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteError(f"bad parameter name '{name}'")
    return _Param(name, optional, default, catch_all, tuple(_constraint(c) for c in constraints))


def _split_constraints(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    parts.append(current)
    return parts

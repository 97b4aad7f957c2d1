"""The ops functions' query parameters: the validation model of the HTTP edge. Pure, no I/O.

Each `parse_*` turns the query (a str -> str mapping, as the Functions host gives it) into what
the function acts on, or a `ParamProblem` with a reason code and a message for a 400; it never
raises. Ids go through the id rules of shared/domain/ids.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.bus.replay import DeadLetterFilter
from shared.domain.ids import commerce_id_problem
from shared.ops.dlq import BadFilter, build_filter

MAX_LIST_ITEMS = 1000
"""Values per comma-separated parameter (store=a,b,...): more is not an operator's request."""


@dataclass(frozen=True)
class ParamProblem:
    reason: str  # invalid_id | no_scope | bad_filter | bad_number | too_many
    detail: str


@dataclass(frozen=True)
class ReconcileRequest:
    dry_run: bool
    stores: tuple[str, ...]  # empty: every team (only with all=true for a real run)
    full: bool = False  # read every team, not only those the nightly delta shows changed


def _flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (params.get(name) or "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no")


def _list(params: Mapping[str, str], name: str) -> list[str] | ParamProblem:
    raw = params.get(name) or ""
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if len(values) > MAX_LIST_ITEMS:
        return ParamProblem("too_many", f"{name}: at most {MAX_LIST_ITEMS} values")
    return values


def parse_reconcile(params: Mapping[str, str]) -> ReconcileRequest | ParamProblem:
    """`store=a,b` and/or `all=true`, `dry_run` (default true), `full` (default false: the
    nightly choice of changed teams, docs/sync.md). A real run needs a scope."""
    stores = _list(params, "store")
    if isinstance(stores, ParamProblem):
        return stores
    for store in stores:
        problem = commerce_id_problem(store)
        if problem is not None:
            return ParamProblem("invalid_id", f"bad store: {problem}")
    dry_run = _flag(params, "dry_run", True)
    if not dry_run and not stores and not _flag(params, "all", False):
        return ParamProblem("no_scope", "a real reconciliation needs store= or all=true")
    full = _flag(params, "full", False)
    return ReconcileRequest(dry_run=dry_run, stores=tuple(dict.fromkeys(stores)), full=full)


def parse_dead_letter_selection(params: Mapping[str, str]) -> DeadLetterFilter | ParamProblem:
    """The DLQ functions' filters: `reason`, `event_type`, `store` (comma-separated), `since`,
    `until`, `seq` (numbers), `limit`, `all=true`."""
    lists: dict[str, list[str]] = {}
    for name in ("reason", "event_type", "store", "seq"):
        values = _list(params, name)
        if isinstance(values, ParamProblem):
            return values
        lists[name] = values
    for store in lists["store"]:
        problem = commerce_id_problem(store)
        if problem is not None:
            return ParamProblem("invalid_id", f"bad store: {problem}")
    try:
        seqs = [int(s) for s in lists["seq"]]
        limit = int(params["limit"]) if (params.get("limit") or "").strip() else None
    except ValueError:
        return ParamProblem("bad_number", "seq and limit must be whole numbers")
    if any(s < 0 or s >= 2**63 for s in seqs) or (limit is not None and limit >= 2**31):
        return ParamProblem("bad_number", "seq must be a sequence number and limit below 2^31")
    try:
        return build_filter(
            reasons=lists["reason"] or None,
            event_types=lists["event_type"] or None,
            stores=lists["store"] or None,
            since=params.get("since") or None,
            until=params.get("until") or None,
            sequence_numbers=seqs or None,
            limit=limit,
            everything=_flag(params, "all", False),
        )
    except BadFilter as exc:
        return ParamProblem("bad_filter", str(exc))

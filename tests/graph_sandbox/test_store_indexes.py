"""The Graph sandbox's store: the look-ups Graph serves fast on a big tenant stay indexed, and only
the kinds looked up pay for the indexes (local/graph/store.py, INDEXED_KINDS)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from local.graph.filters import compile_filter
from local.graph.store import INDEXED_FIELDS, INDEXED_KINDS, Store


def _plan(store: Store, sql: str) -> str:
    return " ".join(str(r[3]) for r in store._db.execute("EXPLAIN QUERY PLAN " + sql))


def _query_sql(store: Store, kind: str, where: str, args: list[object]) -> str:
    """The SQL `Store.query` runs, its bound values inlined (the connection's trace callback)."""
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    try:
        store.query(kind, where=where, args=args, limit=16)  # as list_users pages
    finally:
        store._db.set_trace_callback(None)
    (sql,) = [s for s in seen if s.startswith("SELECT rowid")]
    return sql


def _tenant(tmp_path: Path, stores: int = 50) -> Store:
    """A small tenant: 20 users per store and a team, a group and 20 members each (the planner
    chose a parent-index scan of every user over a partial index that named the field alone)."""
    store = Store(str(tmp_path / "tenant.db"))
    with store.tx():
        for s in range(stores):
            store.put(
                "group", {"id": f"g{s}", "displayName": f"Store {s:04}", "mailNickname": f"store-{s:04}"}
            )
            store.put("team", {"id": f"g{s}", "displayName": f"Store {s:04}"})
            for w in range(20):
                n = s * 20 + w
                upn = f"w{n}@contoso.com"
                store.put(
                    "user", {"id": f"u{n}", "userPrincipalName": upn, "mail": upn, "employeeId": f"{n:06}"}
                )
                store.put("member", {"id": f"m{n}", "userId": f"u{n}", "email": upn}, parent=f"g{s}")
    return store


@pytest.mark.parametrize(
    ("kind", "expr"),
    [
        # 15 values: what the gateway sends (shared/graph/users.py); with 2 the planner chose well anyway
        ("user", "userPrincipalName in (" + ",".join(f"'w{n}@contoso.com'" for n in range(15)) + ")"),
        ("user", "employeeId eq '000123'"),
        ("user", "mail eq 'a@contoso.com'"),
        ("group", "mailNickname eq 'store-0001'"),
        ("group", "displayName eq 'Store 0001'"),
        ("team", "displayName eq 'Store 0001'"),
    ],
)
def test_lookups_by_indexed_fields_use_an_index(tmp_path: Path, kind: str, expr: str) -> None:
    store = _tenant(tmp_path)
    where, args = compile_filter(expr)
    plan = _plan(store, _query_sql(store, kind, where, args))
    assert f"USING INDEX ix_{kind}_" in plan and "<expr>=?" in plan, plan


def test_find_one_uses_the_kinds_index(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "tenant.db"))
    store.put("user", {"id": "u1", "userPrincipalName": "Ana@Contoso.com"})
    store.put("group", {"id": "g1", "userPrincipalName": "ana@contoso.com"})  # another kind: not found
    assert store.find_one("user", "userPrincipalName", "ana@contoso.COM") == {
        "id": "u1",
        "userPrincipalName": "Ana@Contoso.com",
    }
    assert store.find_one("team", "userPrincipalName", "ana@contoso.com") is None


def test_the_json_indexes_hold_only_the_kinds_looked_up(tmp_path: Path) -> None:
    """Every look-up index is partial to its kind, so a member, channel, plan or task row is
    written without evaluating any of them."""
    store = Store(str(tmp_path / "tenant.db"))
    rows = store._db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql LIKE '%json_extract%'"
    )
    found = {name: sql for name, sql in rows}
    assert set(found) == {f"ix_{k}_{f}" for k in INDEXED_KINDS for f in INDEXED_FIELDS}
    for name, sql in found.items():
        assert sql.endswith(f"WHERE kind='{name.split('_')[1]}'"), sql


def test_a_file_from_before_loses_its_old_indexes(tmp_path: Path) -> None:
    path = tmp_path / "tenant.db"
    Store(str(path)).close()
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX ix_objects_mail ON objects(kind, lower(json_extract(data, '$.mail')))")
    db.commit()
    db.close()
    store = Store(str(path))
    names = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "ix_objects_mail" not in names
    assert {f"ix_{k}_{f}" for k in INDEXED_KINDS for f in INDEXED_FIELDS} <= names


def test_a_kind_is_a_name(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "tenant.db"))
    with pytest.raises(ValueError):
        store.query("user' OR 1=1 --")

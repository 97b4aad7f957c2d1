"""The Dataverse sandbox: the Web API (OData v4) under `/api/data/v9.2/` for the tables in
`tables.py`, a side channel under `/_sandbox/`, and Dataverse-shaped data events
(`RemoteExecutionContext`) published to the local broker.

Wire behaviour imitated (sources next to each rule):
- Query: `$select`, `$filter` (the comparison/`and`/`or`/`not` subset of local/commerce/filters.py;
  Edm.Guid literals are unquoted), `$top`, `$orderby`, `$count`. Paging: `Prefer:
  odata.maxpagesize=n` (default and maximum 5,000), answered with `Preference-Applied` and an
  `@odata.nextLink` carrying a `$skiptoken` paging cookie.
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
- Create: POST -> 204 with `OData-EntityId`, or 201 with the row for `Prefer: return=representation`;
  lookups are set with `<nav>@odata.bind: "/<set>(<id>)"`.
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
- Update: PATCH with `If-Match: *` (update only, 404 when missing), `If-Match: <etag>` (412 when the
  row changed), or no If-Match (upsert). Delete: DELETE, 404 when missing.
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
  (412 code 0x80060882 "The version of the existing record doesn't match the RowVersion property provided.")
- Errors: `{"error": {"code": "0x…", "message": …}}`; 404 code 0x80040217.
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
- Service protection (per user, 5-minute sliding window): 6,000 requests, 52 concurrent requests
  (and 20 minutes of execution time, not modelled) -> 429 with `Retry-After` (seconds) and codes
  -2147015902 (0x80072322, requests), -2147015898 (0x80072326, concurrency).
  https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
  `scale` shrinks the window so tests can reach the limit; injected 429s use the same body.
- `OData-Version: 4.0` on every answer; `MSCRM.SuppressDuplicateDetection` and
  `MSCRM.BypassCustomPluginExecution` must be "true"/"false" (the sandbox runs no duplicate rules
  or plug-ins, so either value changes nothing).
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.commerce.filters import FilterError, compile_filter
from local.dataverse.publisher import EventPublisher
from local.dataverse.tables import BY_LOGICAL, BY_SET, TABLES, Lookup, Table
from shared.bus.protocol import BusSender

API = "/api/data/v9.2"
MAX_PAGE = 5000
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_BARE_GUID = re.compile(
    r"(?<!['\w-])([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])"
)
_KEY = re.compile(r"^(?P<set>[a-z_]+)(?:\((?P<id>[^)]*)\))?$")
_BIND = re.compile(r"^/?(?P<set>[a-z_]+)\((?P<id>[0-9a-fA-F-]{36})\)$")
REQUEST_LIMIT = 6000
WINDOW_SECONDS = 300.0
CONCURRENCY_LIMIT = 52
THROTTLE_CODES = {
    "requests": (
        "0x80072322",
        "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    ),
    "concurrency": ("0x80072326", "Number of concurrent requests exceeded the limit of 52."),
}


class DataverseError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_response(err: DataverseError) -> Response:
    return JSONResponse(
        {"error": {"code": err.code, "message": err.message}},
        status_code=err.status,
        headers={"OData-Version": "4.0", **err.headers},
    )


def not_found(table: Table, ident: str) -> DataverseError:
    return DataverseError(404, "0x80040217", f"Entity '{table.logical}' With Id = {ident} Does Not Exist")


class ServiceProtection:
    """Dataverse's per-user sliding window (requests) and concurrency limit, time-scaled."""

    def __init__(
        self, scale: float = 1.0, requests: int = REQUEST_LIMIT, concurrency: int = CONCURRENCY_LIMIT
    ):
        self.scale = scale
        self.requests = requests
        self.concurrency = concurrency
        self.window = WINDOW_SECONDS * scale
        self.stamps: deque[float] = deque()
        self.in_flight = 0

    def enter(self) -> None:
        now = time.monotonic()
        while self.stamps and now - self.stamps[0] > self.window:
            self.stamps.popleft()
        if self.in_flight >= self.concurrency:
            raise _throttled("concurrency", 1.0 * max(self.scale, 0.01))
        if len(self.stamps) >= self.requests:
            raise _throttled("requests", max(0.01, self.window - (now - self.stamps[0])))
        self.stamps.append(now)
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1


def _throttled(kind: str, retry_after: float) -> DataverseError:
    code, message = THROTTLE_CODES[kind]
    # Retry-After is in seconds; Dataverse sends whole seconds, the scaled sandbox may send less.
    value = f"{retry_after:.0f}" if retry_after >= 1 else f"{retry_after:.2f}"
    return DataverseError(429, code, message, {"Retry-After": value})


class Faults:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clear()

    def clear(self) -> None:
        self.throttle_ratio = 0.0
        self.error_ratio = 0.0
        self.retry_after = 0.05

    def configure(self, cfg: dict[str, Any]) -> None:
        self.throttle_ratio = float(cfg.get("throttle_ratio", self.throttle_ratio))
        self.error_ratio = float(cfg.get("error_ratio", self.error_ratio))
        self.retry_after = float(cfg.get("retry_after", self.retry_after))

    def pick(self) -> DataverseError | None:
        if self.throttle_ratio and self.rng.random() < self.throttle_ratio:
            return _throttled("requests", self.retry_after)
        if self.error_ratio and self.rng.random() < self.error_ratio:
            return DataverseError(
                503, "0x80040216", "An unexpected error occurred. (injected by the sandbox)"
            )
        return None


class Dataverse:
    """The organisation's rows (in memory) and every rule of the Web API the app relies on."""

    def __init__(
        self,
        *,
        sender: BusSender | None = None,
        topic: str = "dataverse-events",
        token: str = "sandbox-token",
        seed: int | None = None,
        scale: float = 1.0,
        page_size: int = MAX_PAGE,
        event_tables: Iterable[str] = ("account", "opportunity"),
        organization: str = "crm-sandbox",
    ) -> None:
        self.rows: dict[str, dict[str, dict[str, Any]]] = {t.logical: {} for t in TABLES}
        self.targets: dict[tuple[str, str, str], str] = {}  # (table, id, lookup) -> target logical
        self.token = token
        self.page_size = page_size
        self.faults = Faults(random.Random(seed))
        self.protection = ServiceProtection(scale)
        self.counters: Counter[str] = Counter()
        self.version = 1000
        self.event_tables = frozenset(event_tables)
        self.organization = organization
        self.publisher = EventPublisher(sender, topic, seed, organization)

    # --- rows --------------------------------------------------------------------------------

    def _next_version(self) -> int:
        self.version += 1
        return self.version

    def table(self, set_name: str) -> Table:
        table = BY_SET.get(set_name)
        if table is None:
            raise DataverseError(404, "0x80060888", f"Resource not found for the segment '{set_name}'.")
        return table

    def get(self, table: Table, ident: str) -> dict[str, Any]:
        row = self.rows[table.logical].get(ident.lower())
        if row is None:
            raise not_found(table, ident)
        return row

    def etag(self, row: dict[str, Any]) -> str:
        return f'W/"{row["versionnumber"]}"'

    def _apply(self, table: Table, row: dict[str, Any], body: dict[str, Any], ident: str) -> dict[str, Any]:
        """Validate a create/update body and return the column changes (lookups resolved)."""
        changes: dict[str, Any] = {}
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                nav = name[: -len("@odata.bind")]
                lookup, target = self._nav(table, nav)
                if value is None:
                    changes[table.lookup_column(lookup)] = None
                    continue
                m = _BIND.match(str(value))
                if not m:
                    raise DataverseError(
                        400, "0x80048d19", f"Invalid value for {name}: expected '/<set>(<id>)'."
                    )
                bound = self.table(m.group("set"))
                if target is not None and bound.logical != target:
                    raise DataverseError(
                        400, "0x80048d19", f"{name} must point at {target}, not {bound.logical}."
                    )
                if bound.logical not in lookup.targets:
                    raise DataverseError(400, "0x80048d19", f"{lookup.name} cannot refer to {bound.logical}.")
                self.get(bound, m.group("id"))
                changes[table.lookup_column(lookup)] = m.group("id").lower()
                self.targets[(table.logical, ident, lookup.name)] = bound.logical
            elif name.startswith("@odata"):
                continue
            elif name not in table.columns:
                raise DataverseError(
                    400,
                    "0x80060888",
                    f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{table.logical}'. "
                    "Make sure to only use property names that are defined by the type.",
                )
            else:
                if name == "regardingobjectid" and value is not None and not GUID.match(str(value)):
                    raise DataverseError(400, "0x80048d19", "regardingobjectid must be a GUID.")
                changes[name] = value
        return changes

    def _nav(self, table: Table, nav: str) -> tuple[Lookup, str | None]:
        for lookup in table.lookups:
            if nav == lookup.name and len(lookup.targets) == 1:
                return lookup, lookup.targets[0]
            for target in lookup.targets:
                if nav == f"{lookup.name}_{target}":
                    return lookup, target
        raise DataverseError(
            400,
            "0x80060888",
            f"An undeclared property '{nav}' which only has property annotations in the payload but no "
            "property value was found in the payload.",
        )

    async def create(self, table: Table, body: dict[str, Any], *, publish: bool = True) -> dict[str, Any]:
        ident = str(body.pop(table.primary_key, None) or uuid.uuid4()).lower()
        if ident in self.rows[table.logical]:
            raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
        changes = self._apply(table, {}, body, ident)
        missing = sorted(c for c in table.required if changes.get(c) in (None, ""))
        if missing:
            raise DataverseError(400, "0x80040200", f"Required field(s) missing: {', '.join(missing)}.")
        now = _now()
        row: dict[str, Any] = {c: None for c in table.all_columns}
        row.update({"statecode": 0, "statuscode": 1} if "statecode" in table.columns else {})
        row.update(changes)
        row.update(
            {
                table.primary_key: ident,
                "createdon": now,
                "modifiedon": now,
                "versionnumber": self._next_version(),
            }
        )
        self.rows[table.logical][ident] = row
        if publish:
            await self._event(table, "Create", None, row)
        return row

    async def update(
        self, table: Table, ident: str, body: dict[str, Any], if_match: str | None, *, publish: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """(row, created). No If-Match: upsert; `*`: must exist; an etag: must be current."""
        existing = self.rows[table.logical].get(ident.lower())
        if existing is None:
            if if_match:
                raise not_found(table, ident)
            return await self.create(table, {table.primary_key: ident, **body}, publish=publish), True
        if if_match and if_match.strip() != "*" and if_match.strip() != self.etag(existing):
            raise DataverseError(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            )
        before = dict(existing)
        changes = self._apply(table, existing, body, ident.lower())
        existing.update(changes)
        existing["modifiedon"] = _now()
        existing["versionnumber"] = self._next_version()
        if publish:
            await self._event(table, "Update", before, existing)
        return existing, False

    async def delete(
        self, table: Table, ident: str, if_match: str | None = None, *, publish: bool = True
    ) -> None:
        row = self.get(table, ident)
        if if_match and if_match.strip() != "*" and if_match.strip() != self.etag(row):
            raise DataverseError(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            )
        del self.rows[table.logical][row[table.primary_key]]
        if publish:
            await self._event(table, "Delete", row, None)

    async def _event(
        self, table: Table, message: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        if table.logical in self.event_tables:
            await self.publisher.publish(table, message, before, after, self.targets)

    # --- queries -----------------------------------------------------------------------------

    def project(self, table: Table, row: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        names = select or sorted(table.all_columns)
        out: dict[str, Any] = {"@odata.etag": self.etag(row)}
        for name in names:
            out[name] = row.get(name)
            if name.startswith("_") and name.endswith("_value") and row.get(name):
                lookup = name[1:-6]
                target = self.targets.get((table.logical, row[table.primary_key], lookup))
                if target:
                    out[f"{name}@Microsoft.Dynamics.CRM.lookuplogicalname"] = target
        out.setdefault(table.primary_key, row[table.primary_key])
        return out

    def _select(self, table: Table, text: str | None) -> list[str] | None:
        if not text:
            return None
        names = [n.strip() for n in text.split(",") if n.strip()]
        for name in names:
            if name not in table.all_columns:
                raise DataverseError(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type "
                    f"'Microsoft.Dynamics.CRM.{table.logical}'.",
                )
        return names

    def query(
        self, table: Table, params: dict[str, str], prefer: str, base: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        select = self._select(table, params.get("$select"))
        rows = list(self.rows[table.logical].values())
        if params.get("$filter"):
            text = _BARE_GUID.sub(lambda m: f"'{m.group(1).lower()}'", params["$filter"])
            try:
                predicate = compile_filter(text, table.all_columns, f"Microsoft.Dynamics.CRM.{table.logical}")
            except FilterError as exc:
                raise DataverseError(400, "0x80060888", str(exc)) from None
            rows = [r for r in rows if predicate(r)]
        order = params.get("$orderby")
        if order:
            for term in reversed([t.strip() for t in order.split(",") if t.strip()]):
                name, _, direction = term.partition(" ")
                if name not in table.all_columns:
                    raise DataverseError(400, "0x80060888", f"Could not find a property named '{name}'.")
                rows.sort(
                    key=lambda r: (r.get(name) is None, str(r.get(name) or "").casefold()),
                    reverse=direction.strip().lower() == "desc",
                )
        else:
            rows.sort(key=lambda r: str(r[table.primary_key]))
        if "$top" in params:
            try:
                top = int(params["$top"])
            except ValueError:
                raise DataverseError(400, "0x80060888", "$top must be a non-negative integer.") from None
            rows = rows[:top]
        size = self.page_size
        headers: dict[str, str] = {}
        m = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        if m:
            size = max(1, min(int(m.group(1)), MAX_PAGE))
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        page_number = 1
        if params.get("$skiptoken"):
            cookie = re.search(r'pagenumber="(\d+)"', unquote(params["$skiptoken"]))
            if cookie is None:
                raise DataverseError(400, "0x80040203", "Invalid $skiptoken.")
            page_number = int(cookie.group(1))
        start = (page_number - 1) * size
        page = rows[start : start + size]
        ctx_cols = f"({','.join(select)})" if select else ""
        body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{table.set_name}{ctx_cols}"}
        if params.get("$count", "").lower() == "true":
            body["@odata.count"] = len(rows)
        body["value"] = [self.project(table, r, select) for r in page]
        if start + size < len(rows):
            last = page[-1][table.primary_key]
            token = (
                f'<cookie pagenumber="{page_number + 1}" pagingcookie="{quote(last)}" istracking="False" />'
            )
            nxt = {k: v for k, v in params.items() if k != "$skiptoken"} | {"$skiptoken": token}
            body["@odata.nextLink"] = f"{base}/{table.set_name}?{urlencode(nxt, quote_via=quote, safe='$,')}"
        return body, headers


def _bool_header(request: Request, name: str) -> None:
    value = request.headers.get(name)
    if value is not None and value.strip().lower() not in ("true", "false"):
        raise DataverseError(400, "0x80048d19", f"Header {name} must be 'true' or 'false'.")


def create_app(**kw: Any) -> Starlette:
    dv = Dataverse(**kw)

    async def api(request: Request) -> Response:
        path = request.path_params["path"].strip("/")
        base = f"{str(request.base_url).rstrip('/')}{API}"
        label = f"{request.method} {path.split('(')[0]}"
        status = 500
        entered = False
        try:
            if request.headers.get("authorization", "") != f"Bearer {dv.token}":
                status = 401
                return Response(
                    status_code=401, headers={"WWW-Authenticate": "Bearer", "OData-Version": "4.0"}
                )
            injected = dv.faults.pick()
            if injected is not None:
                raise injected
            dv.protection.enter()
            entered = True
            for name in ("MSCRM.SuppressDuplicateDetection", "MSCRM.BypassCustomPluginExecution"):
                _bool_header(request, name)
            m = _KEY.match(path)
            if not m:
                raise DataverseError(404, "0x80060888", f"Resource not found for the segment '{path}'.")
            table = dv.table(m.group("set"))
            ident = m.group("id")
            if ident is not None and not GUID.match(ident):
                raise DataverseError(400, "0x80060888", f"Unrecognized 'Edm.Guid' literal '{ident}'.")
            params = dict(request.query_params)
            prefer = request.headers.get("prefer", "")
            if request.method == "GET" and ident is None:
                body, headers = dv.query(table, params, prefer, base)
                status = 200
                return JSONResponse(body, headers={"OData-Version": "4.0", **headers})
            if request.method == "GET":
                row = dv.get(table, ident)
                status = 200
                out = {
                    "@odata.context": f"{base}/$metadata#{table.set_name}/$entity",
                    **dv.project(table, row, dv._select(table, params.get("$select"))),
                }
                return JSONResponse(out, headers={"OData-Version": "4.0", "ETag": dv.etag(row)})
            if request.method in ("POST", "PATCH"):
                try:
                    body = json.loads(await request.body() or b"{}")
                except ValueError:
                    raise DataverseError(400, "0x80048d19", "The request body is not valid JSON.") from None
                if not isinstance(body, dict):
                    raise DataverseError(400, "0x80048d19", "The request body must be a JSON object.")
                if request.method == "POST":
                    if ident is not None:
                        raise DataverseError(405, "0x80060888", "POST is not allowed on a single record.")
                    row = await dv.create(table, dict(body))
                    created = True
                else:
                    if ident is None:
                        raise DataverseError(405, "0x80060888", "PATCH needs a record id.")
                    row, created = await dv.update(table, ident, dict(body), request.headers.get("if-match"))
                entity_id = f"{base}/{table.set_name}({row[table.primary_key]})"
                headers = {"OData-Version": "4.0", "OData-EntityId": entity_id, "ETag": dv.etag(row)}
                if "return=representation" in prefer:
                    status = 201 if created else 200
                    return JSONResponse(
                        {
                            "@odata.context": f"{base}/$metadata#{table.set_name}/$entity",
                            **dv.project(table, row, None),
                        },
                        status_code=status,
                        headers=headers,
                    )
                status = 204
                return Response(status_code=204, headers=headers)
            if request.method == "DELETE" and ident is not None:
                await dv.delete(table, ident, request.headers.get("if-match"))
                status = 204
                return Response(status_code=204, headers={"OData-Version": "4.0"})
            raise DataverseError(405, "0x80060888", f"{request.method} is not supported here.")
        except DataverseError as err:
            status = err.status
            return error_response(err)
        finally:
            if entered:
                dv.protection.leave()
            dv.counters[f"{label} {status}"] += 1

    async def side(request: Request) -> Response:
        action = request.path_params["action"]
        raw = await request.body()
        data = json.loads(raw) if raw else {}
        try:
            if action == "seed":
                await seed(dv, data)
                return JSONResponse({"rows": {t: len(r) for t, r in dv.rows.items()}})
            if action == "counters":
                if request.method == "DELETE":
                    dv.counters.clear()
                    return Response(status_code=204)
                return JSONResponse({"requests": dict(dv.counters)})
            if action == "faults":
                if request.method == "DELETE":
                    dv.faults.clear()
                else:
                    dv.faults.configure(data)
                return JSONResponse({"throttle_ratio": dv.faults.throttle_ratio})
            if action == "limits":
                dv.protection = ServiceProtection(
                    float(data.get("scale", dv.protection.scale)),
                    int(data.get("requests", REQUEST_LIMIT)),
                    int(data.get("concurrency", CONCURRENCY_LIMIT)),
                )
                return JSONResponse({"window_seconds": dv.protection.window})
            if action == "events":
                if request.method == "POST":
                    dv.publisher.configure(data)
                    return JSONResponse({"ok": True})
                return JSONResponse({"events": list(dv.publisher.base.published)})
            if action == "flush":
                await dv.publisher.base.drain()
                return JSONResponse({"ok": True})
            if action == "change":
                return JSONResponse(await change(dv, data))
            if action == "dump":
                return JSONResponse({t: list(r.values()) for t, r in dv.rows.items()})
        except DataverseError as err:
            return error_response(err)
        return JSONResponse({"error": {"code": "UnknownAction", "message": action}}, status_code=404)

    app = Starlette(
        routes=[
            Route(API + "/{path:path}", api, methods=["GET", "POST", "PATCH", "DELETE"]),
            Route("/_sandbox/{action}", side, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.dataverse = dv
    return app


async def seed(dv: Dataverse, org: dict[str, Any]) -> None:
    """Rows by table logical name, each with its id; lookups as `<nav>@odata.bind`. No events."""
    order = (
        "systemuser",
        "team",
        "account",
        "opportunity",
        "sharepointsite",
        "sharepointdocumentlocation",
        "msdyn_teamscollaboration",
    )
    for logical in order:
        table = BY_LOGICAL[logical]
        for row in org.get(logical, []):
            await dv.create(table, dict(row), publish=False)


async def change(dv: Dataverse, data: dict[str, Any]) -> dict[str, Any]:
    """A person changes a record in Dynamics: {"verb": "create"|"update"|"delete"|"win"|"lose"|
    "reopen", "table": "opportunity", "id": ..., "values": {...}}. Publishes the data event."""
    verb = str(data.get("verb"))
    table = BY_LOGICAL.get(str(data.get("table", "opportunity")))
    if table is None:
        raise DataverseError(400, "0x80060888", f"unknown table {data.get('table')!r}")
    values = dict(data.get("values") or {})
    if verb == "create":
        row = await dv.create(table, values)
    elif verb == "update":
        row, _ = await dv.update(table, str(data["id"]), values, "*")
    elif verb in ("win", "lose", "reopen", "deactivate"):
        # WinOpportunity/LoseOpportunity set statecode Won(1)/Lost(2) with statuscode 3/4.
        state = {"win": (1, 3), "lose": (2, 4), "reopen": (0, 1), "deactivate": (1, 2)}[verb]
        row, _ = await dv.update(table, str(data["id"]), {"statecode": state[0], "statuscode": state[1]}, "*")
    elif verb == "delete":
        await dv.delete(table, str(data["id"]))
        return {"deleted": data["id"]}
    else:
        raise DataverseError(400, "0x80060888", f"unknown verb {verb!r}")
    return dict(row)


__all__ = ["API", "Dataverse", "DataverseError", "create_app"]

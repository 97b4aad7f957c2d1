"""The Commerce sandbox: an F&O-shaped OData server under `/data/` and a side channel under
`/_sandbox/` (seed, scenario changes, faults, event untidiness, task statuses written back).

Fidelity notes (docs/commerce.md): F&O pages at a fixed server page size with `@odata.nextLink`
($skip-based), answers only the caller's default company unless `cross-company=true`, returns
`dataAreaId` in lower case and empty dates as 1900-01-01, compares strings case-insensitively,
answers PATCH with 204, and shapes errors as {"error": {"code": "", "message", "innererror"}}.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.commerce import batch
from local.commerce.data import Database, EntitySpec, Row
from local.commerce.filters import FilterError, compile_filter
from local.commerce.model import CommerceModel, SandboxError
from local.commerce.publisher import BUSINESS_EVENT, FORMATS, Publisher
from local.scenarios.orgfile import OrgFileError, parse_org_file
from shared.bus.protocol import BusSender
from shared.commerce.schema import (
    ETAG,
    FIELD_DEFAULTS,
    LEGAL_ENTITY_FIELD,
    TASK_STATUS_FROM_SYMBOL,
    parse_datetime,
)

MAX_QUERY_STRING = 2048  # IIS's default maxQueryString (requestFiltering/requestLimits)
QUERY_TOO_LONG = (
    "HTTP Error 404.15 - Not Found: The request filtering module is configured to deny a request "
    "where the query string is too long."
)

PAGE_SIZE = 1000
_KEY_PART = re.compile(r"\s*(\w+)\s*=\s*'((?:[^']|'')*)'\s*")
F = FIELD_DEFAULTS


def fo_error(status: int, message: str, inner: str | None = None) -> JSONResponse:
    body = {
        "error": {
            "code": "",
            "message": message,
            "innererror": {
                "message": inner or message,
                "type": "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataException",
                "stacktrace": "",
            },
        }
    }
    return JSONResponse(body, status_code=status)


class Faults:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clear()

    def clear(self) -> None:
        self.throttle_ratio = 0.0
        self.error_ratio = 0.0
        self.error_status = 503
        self.retry_after = 1.0
        self.until: float | None = None
        self.refusals: dict[tuple[str, str], tuple[int, str]] = {}

    def refuse(self, cfg: dict[str, Any]) -> None:
        """Every `method` request to `entity_set` answered with `status` (403 by default) and an
        F&O error body, until cleared: the application user lacks the entity's privilege for that
        access. F&O secures each data entity per entry point (Data services = OData) with View /
        Maintain privileges; without the Maintain one a write is refused whatever the payload
        (https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/security-data-entities).
        The default wording is the sandbox's [F&O's exact text unconfirmed]; `message` overrides."""
        method, entity_set = str(cfg.get("method", "POST")).upper(), str(cfg["entity_set"])
        status = int(cfg.get("status", 403))
        if not 400 <= status < 500:
            raise SandboxError(400, "a refusal is a 4xx status")
        message = str(
            cfg.get("message")
            or f"Access denied: the user does not have the privilege to {method} records in {entity_set}."
        )
        self.refusals[(method, entity_set)] = (status, message)

    def refusal(self, method: str, entity_set: str) -> Response | None:
        found = self.refusals.get((method.upper(), entity_set))
        return None if found is None else fo_error(found[0], found[1])

    def configure(self, cfg: dict[str, Any]) -> None:
        if cfg.get("refuse"):
            self.refuse(dict(cfg["refuse"]))
        self.throttle_ratio = float(cfg.get("throttle_ratio", self.throttle_ratio))
        self.error_ratio = float(cfg.get("error_ratio", self.error_ratio))
        self.error_status = int(cfg.get("error_status", self.error_status))
        self.retry_after = float(cfg.get("retry_after", self.retry_after))
        seconds = cfg.get("seconds")
        self.until = time.monotonic() + float(seconds) if seconds else None

    def pick(self) -> Response | None:
        if self.until is not None and time.monotonic() > self.until:
            self.clear()
        if self.throttle_ratio and self.rng.random() < self.throttle_ratio:
            retry = f"{self.retry_after:g}"
            response = fo_error(
                429, "The request was throttled. Retry after the time in the Retry-After header."
            )
            response.headers["Retry-After"] = retry
            return response
        if self.error_ratio and self.rng.random() < self.error_ratio:
            return fo_error(self.error_status, "An error has occurred.", "Injected by the Commerce sandbox.")
        return None


class Sandbox:
    def __init__(
        self,
        db_path: str | Path,
        *,
        sender: BusSender | None,
        topic: str,
        token: str,
        event_format: str,
        page_size: int = PAGE_SIZE,
        seed: int | None = None,
        events_on_api_writes: bool = True,
    ) -> None:
        self.db = Database(db_path)
        self.model = CommerceModel(self.db, self.db.meta("legal_entity", "USRT"))
        self.publisher = Publisher(self.db, sender, topic, event_format, seed)
        self.token = token
        self.page_size = page_size
        self.faults = Faults(random.Random(seed))
        self.counters: Counter[str] = Counter()
        self.events_on_api_writes = events_on_api_writes
        self.lock = asyncio.Lock()

    # --- OData ---------------------------------------------------------------------------------

    def _spec(self, name: str) -> EntitySpec:
        spec = self.db.by_set.get(name.casefold())
        if spec is None:
            raise SandboxError(
                404, f"No HTTP resource was found that matches the request URI for entity set '{name}'."
            )
        return spec

    def _visible(self, spec: EntitySpec, row: Row, cross_company: bool) -> bool:
        return (
            cross_company
            or not spec.company
            or str(row.get(LEGAL_ENTITY_FIELD, "")).casefold() == self.model.legal_entity.casefold()
        )

    def _parse_key(self, spec: EntitySpec, text: str) -> tuple[str, ...]:
        parts = {m.group(1): m.group(2) for m in _KEY_PART.finditer(text)}
        values = {k.casefold(): v.replace("''", "'") for k, v in parts.items()}
        missing = [k for k in spec.keys if k.casefold() not in values]
        if missing:
            raise SandboxError(
                400, f"The key for '{spec.set_name}' needs {', '.join(spec.keys)}; missing {missing}."
            )
        return tuple(values[k.casefold()] for k in spec.keys)

    def query(self, request: Request, spec: EntitySpec) -> dict[str, Any]:
        q = request.query_params
        cross = q.get("cross-company", "").lower() == "true"
        predicate = None
        if q.get("$filter"):
            try:
                predicate = compile_filter(q["$filter"], spec.fields, spec.entity)
            except FilterError as exc:
                raise SandboxError(400, str(exc)) from None
        equals = getattr(predicate, "equals", None)  # `f eq 'x' [or f eq 'y' ...]`: an index lookup
        candidates = self.db.rows_where(spec.kind, *equals) if equals else self.db.rows(spec.kind)
        rows = [
            r for r in candidates if self._visible(spec, r, cross) and (predicate is None or predicate(r))
        ]
        if q.get("$orderby"):
            for term in reversed([t.strip() for t in q["$orderby"].split(",") if t.strip()]):
                name, _, direction = term.partition(" ")
                if name not in spec.fields:
                    raise SandboxError(
                        400,
                        f"Could not find a property named '{name}' on type "
                        f"'Microsoft.Dynamics.DataEntities.{spec.entity}'.",
                    )
                rows = sorted(
                    rows,
                    key=lambda r: str(r.get(name, "")).casefold(),
                    reverse=direction.strip().lower() == "desc",
                )
        total = len(rows)
        try:
            skip = int(q.get("$skip", "0"))
            top = int(q["$top"]) if "$top" in q else None
        except ValueError:
            raise SandboxError(400, "$skip and $top must be non-negative integers.") from None
        take = self.page_size if top is None else min(top, self.page_size)
        page = rows[skip : skip + take]
        body: dict[str, Any] = {"@odata.context": f"{request.base_url}data/$metadata#{spec.set_name}"}
        if q.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        names = self.selected(spec, q.get("$select"))
        body["value"] = [self.project(r, names) for r in page]
        remaining = (
            (total - skip - len(page)) if top is None else min(top - len(page), total - skip - len(page))
        )
        if remaining > 0 and len(page) == take:
            params = dict(q)
            params["$skip"] = str(skip + len(page))
            if top is not None:
                params["$top"] = str(top - len(page))
            body["@odata.nextLink"] = f"{request.base_url}data/{spec.set_name}?{urlencode(params)}"
        return body

    def selected(self, spec: EntitySpec, select: str | None) -> list[str] | None:
        """The property names of a `$select` (None: every column), each one checked."""
        if not select:
            return None
        names = [s.strip() for s in select.split(",") if s.strip()]
        for name in names:
            if name not in spec.fields:
                raise SandboxError(
                    400,
                    f"Could not find a property named '{name}' on type "
                    f"'Microsoft.Dynamics.DataEntities.{spec.entity}'.",
                )
        return names

    @staticmethod
    def project(row: Row, names: list[str] | None) -> Row:
        if names is None:
            return dict(row)
        return {ETAG: row[ETAG], **{n: row.get(n) for n in names}}

    def lookup(self, request: Request, spec: EntitySpec, key_text: str) -> Row:
        key = self._parse_key(spec, key_text)
        row = self.db.get(spec.kind, key)
        cross = request.query_params.get("cross-company", "").lower() == "true"
        if row is None or not self._visible(spec, row, cross):
            raise SandboxError(404, "No resources were found when selecting for update.")
        return row

    async def patch(self, request: Request, spec: EntitySpec, key_text: str) -> Response:
        row = self.lookup(request, spec, key_text)
        if not spec.writable:
            raise SandboxError(405, f"The Commerce sandbox does not accept writes to {spec.set_name}.")
        if_match = request.headers.get("if-match")
        if if_match and if_match.strip() != "*" and if_match.strip() != row[ETAG]:
            raise SandboxError(
                412,
                "The record has been updated by another user since it was read. "
                "Re-read the record (the ETag in If-Match is stale).",
            )
        try:
            body = await request.json()
        except ValueError:
            raise SandboxError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "The request body must be a JSON object.")
        body.pop(ETAG, None)
        for name, value in body.items():
            if name not in spec.fields:
                raise SandboxError(
                    400,
                    f"The property '{name}' does not exist on type "
                    f"'Microsoft.Dynamics.DataEntities.{spec.entity}'.",
                )
            if name not in spec.writable and value != row.get(name):
                raise SandboxError(400, f"The field '{name}' of {spec.entity} cannot be changed.")
        async with self.lock:
            if spec.kind == "store_task":
                self.model.patch_store_task(row, body)
                intents = self.model.take_intents()
                if self.events_on_api_writes:
                    await self.publisher.publish(intents)
            else:  # no business event is documented for other entities' writes
                self.db.put(spec.kind, {**row, **body})
        return Response(status_code=204)

    async def create(self, request: Request, spec: EntitySpec) -> Response:
        """OData POST to an entity set: an insert, never an upsert (F&O's create calls
        validateWrite() and write(); odata.md "Validate methods"); answers 201 with the row."""
        if not spec.creatable:
            raise SandboxError(405, f"The Commerce sandbox does not accept creates in {spec.set_name}.")
        try:
            body = await request.json()
        except ValueError:
            raise SandboxError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "The request body must be a JSON object.")
        body.pop(ETAG, None)
        for name in body:
            if name not in spec.fields:
                raise SandboxError(
                    400,
                    f"The property '{name}' does not exist on type "
                    f"'Microsoft.Dynamics.DataEntities.{spec.entity}'.",
                )
        row = {name: str(body.get(name) or "") for name in spec.fields}
        if spec.company and not body.get(LEGAL_ENTITY_FIELD):
            row[LEGAL_ENTITY_FIELD] = self.model.legal_entity.lower()
        missing = [k for k in spec.keys if not row.get(k)]
        if missing:
            raise SandboxError(
                400, f"Field(s) {', '.join(missing)} must be filled in to create {spec.entity}."
            )
        async with self.lock:
            if self.db.get(spec.kind, spec.key_of(row)) is not None:
                # F&O reports a duplicate key from write() through the infolog [wording unconfirmed].
                raise SandboxError(
                    400,
                    f"Write failed for table row of type '{spec.entity}'. Infolog: Error: Cannot create a "
                    f"record in {spec.entity}. The record already exists.",
                )
            if spec.kind == "store_task":
                stored = self.model.create_store_task(row)
                intents = self.model.take_intents()
                if self.events_on_api_writes:
                    await self.publisher.publish(intents)
            else:
                _, stored = self.db.put(spec.kind, row)
        location = f"{request.base_url}data/{spec.set_name}({key_text(spec, stored)})"
        return JSONResponse(
            {"@odata.context": f"{request.base_url}data/$metadata#{spec.set_name}/$entity", **stored},
            status_code=201,
            headers={"Location": location, "ETag": stored[ETAG]},
        )

    # --- side channel ----------------------------------------------------------------------------

    async def apply(self, step: dict[str, Any]) -> int:
        if "fault" in step:
            return await self.apply_fault(step)
        async with self.lock:
            intents = self.model.apply(step)
            return await self.publisher.publish(intents)

    async def apply_fault(self, step: dict[str, Any]) -> int:
        kind = step["fault"]
        if kind == "duplicate_events":
            self.publisher.untidy.duplicate_factor = int(step.get("factor", 2))
        elif kind == "shuffle_events":
            self.publisher.untidy.shuffle_window = int(step.get("window", 5))
        elif kind == "delay_events":
            self.publisher.untidy.delay_seconds = float(step.get("seconds", 1.0))
        elif kind == "poison_event":
            await self.publisher.send_raw(step.get("raw", ""))
            return 1
        elif kind == "commerce_throttle":
            self.faults.configure({"throttle_ratio": step.get("ratio", 0.3), "seconds": step.get("seconds")})
        elif kind == "commerce_refuse":  # {"fault": "commerce_refuse", "entity_set": ..., "method": "POST"}
            self.faults.refuse({k: v for k, v in step.items() if k != "fault"})
        elif kind == "commerce_errors":
            self.faults.configure(
                {
                    "error_ratio": step.get("ratio", 0.3),
                    "error_status": step.get("status", 503),
                    "seconds": step.get("seconds"),
                }
            )
        else:
            raise SandboxError(400, f"unknown fault {kind!r} for the Commerce sandbox")
        return 0

    def task_statuses(self) -> list[dict[str, Any]]:
        out = []
        for r in self.db.rows("store_task"):
            completed = parse_datetime(r.get(F["store_task.completed_at"]))
            status = TASK_STATUS_FROM_SYMBOL.get(str(r.get(F["store_task.status"])))
            out.append(
                {
                    "task_list": r[F["store_task.task_list"]],
                    "task": r[F["store_task.task"]],
                    "store": r[F["store_task.store"]],
                    "status": status.value if status else None,
                    "assigned_to": r.get(F["store_task.assigned_to"]) or None,
                    "completed_by": r.get(F["store_task.completed_by"]) or None,
                    "completed_at": completed.isoformat() if completed else None,
                    "name": r.get(F["store_task.name"]) or "",
                    "origin": r.get(F["store_task.origin"]) or "Commerce",
                    "created_by": r.get(F["store_task.created_by"]) or None,
                    "publication_id": r.get(F["store_task.publication_id"]) or None,
                    "publication_name": r.get(F["store_task.publication_name"]) or None,
                    "planner_task_id": r.get(F["store_task.planner_task_id"]) or None,
                }
            )
        return out


def key_text(spec: EntitySpec, row: Row) -> str:
    return ",".join(f"{k}='{str(row[k]).replace(chr(39), chr(39) * 2)}'" for k in spec.keys)


def create_app(
    db_path: str | Path,
    *,
    sender: BusSender | None = None,
    topic: str = "commerce-events",
    token: str = "sandbox-token",
    event_format: str = BUSINESS_EVENT,
    org: str | Path | dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    seed: int | None = None,
    events_on_api_writes: bool = True,
) -> Starlette:
    """The sandbox app. `org` seeds the database when it is empty (an existing database is kept,
    so a restarted sandbox serves the same data); `seed` makes faults and untidiness repeatable."""
    if event_format not in FORMATS:
        raise ValueError(f"event_format must be one of {FORMATS}")
    sandbox = Sandbox(
        db_path,
        sender=sender,
        topic=topic,
        token=token,
        event_format=event_format,
        page_size=page_size,
        seed=seed,
        events_on_api_writes=events_on_api_writes,
    )
    if org is not None and sandbox.db.empty():
        sandbox.model.seed(parse_org_file(org))

    async def answer(request: Request, path: str, *, in_batch: bool = False) -> Response:
        """One OData request once its token was accepted: a request sent alone, the `$batch`
        envelope, and each part of a batch alike (local/commerce/batch.py), each counted as
        `METHOD Set status`. Injected throttling and errors answer what came over HTTP (a batch as
        a whole); a `refuse` fault, validation and errors apply to every part as to a request alone."""
        spec_name = path.split("(")[0].strip("/")
        status = 500
        try:
            if spec_name == "$metadata":
                status = 200
                return Response(metadata(sandbox), media_type="application/xml")
            if not in_batch:
                injected = sandbox.faults.pick()
                if injected is not None:
                    status = injected.status_code
                    return injected
            if spec_name == "$batch" and not in_batch:
                if request.method != "POST" or path != "$batch":
                    raise SandboxError(405, "A batch request is a POST to /data/$batch.")
                response = await batch.run(request, lambda part, where: part_answer(part, where))
                status = response.status_code
                return response
            spec = sandbox._spec(spec_name)
            refused = sandbox.faults.refusal(request.method, spec.set_name)
            if refused is not None:
                status = refused.status_code
                return refused
            key_text = path[len(spec_name) :].strip("/")
            if key_text and not (key_text.startswith("(") and key_text.endswith(")")):
                raise SandboxError(404, f"No HTTP resource was found for '{path}'.")
            if request.method == "GET" and not key_text:
                status = 200
                return JSONResponse(sandbox.query(request, spec))
            if request.method == "GET":
                row = sandbox.lookup(request, spec, key_text[1:-1])
                row = sandbox.project(row, sandbox.selected(spec, request.query_params.get("$select")))
                status = 200
                return JSONResponse(
                    {"@odata.context": f"{request.base_url}data/$metadata#{spec.set_name}/$entity", **row},
                    headers={"ETag": row[ETAG]},
                )
            if request.method == "POST" and not key_text:
                response = await sandbox.create(request, spec)
                status = response.status_code
                return response
            if request.method == "PATCH" and key_text:
                response = await sandbox.patch(request, spec, key_text[1:-1])
                status = response.status_code
                return response
            raise SandboxError(
                405, f"The HTTP method '{request.method}' is not supported here by the sandbox."
            )
        except SandboxError as exc:
            status = exc.status
            return fo_error(exc.status, exc.message)
        finally:
            sandbox.counters[f"{request.method} {spec_name} {status}"] += 1

    async def part_answer(request: Request, path: str) -> Response:
        """A request inside a `$batch`, as if sent alone. IIS sees only the outer URL, and what
        F&O's batch reader allows in a part's URL is unpublished: held to the same 2,048
        characters as a request alone, so the sandbox is at least as strict (a 400 of its own)."""
        name = path.split("(")[0].strip("/")
        if len(request.scope.get("query_string", b"")) > MAX_QUERY_STRING:
            sandbox.counters[f"{request.method} {name} 400"] += 1
            return fo_error(
                400,
                f"The query string of a request in the batch is over {MAX_QUERY_STRING} characters "
                "[sandbox: F&O publishes no limit for a batch part; this is IIS's for a request alone].",
            )
        unselected(request, name)
        return await answer(request, path, in_batch=True)

    async def data(request: Request) -> Response:
        path = request.path_params["path"]
        name = path.split("(")[0].strip("/")
        if len(request.scope.get("query_string", b"")) > MAX_QUERY_STRING:
            # IIS request filtering, in front of F&O, before any authentication: HTTP 404.15
            # "The request filtering module is configured to deny a request where the query
            # string is too long." (maxQueryString, default 2,048:
            # https://learn.microsoft.com/iis/configuration/system.webserver/security/requestfiltering/requestlimits/)
            sandbox.counters[f"{request.method} {name} 404.15"] += 1
            return Response(QUERY_TOO_LONG, status_code=404, media_type="text/html")
        if request.headers.get("authorization", "") != f"Bearer {token}":
            sandbox.counters[f"{request.method} {name} 401"] += 1
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        unselected(request, name)
        return await answer(request, path)

    def unselected(request: Request, name: str) -> None:
        if (
            request.method == "GET"
            and name not in ("", "$metadata", "$batch")
            and not request.query_params.get("$select")
        ):
            # Not an error in F&O (it answers every column of the entity, well over a hundred for
            # the retail entities); counted so the contract tests can hold the app to its $select
            # (a GET inside a $batch too).
            sandbox.counters[f"unselected-read {name}"] += 1

    async def side(request: Request) -> Response:
        action = request.path_params["action"]
        try:
            body: Any = (
                await request.json() if request.method in ("POST", "PUT") and await request.body() else {}
            )
            if action == "health":
                return JSONResponse({"ok": True})
            if action == "seed":
                async with sandbox.lock:
                    sandbox.model.seed(parse_org_file(body))
                return JSONResponse({"seeded": True})
            if action == "changes":
                steps = body if isinstance(body, list) else [body]
                count = 0
                for step in steps:
                    count += await sandbox.apply(step)
                return JSONResponse({"events": count})
            if action == "faults":
                if request.method == "DELETE":
                    sandbox.faults.clear()
                else:
                    sandbox.faults.configure(body)
                return JSONResponse({"ok": True})
            if action == "events/config":
                untidy = sandbox.publisher.untidy
                untidy.duplicate_factor = int(body.get("duplicate_factor", untidy.duplicate_factor))
                untidy.shuffle_window = int(body.get("shuffle_window", untidy.shuffle_window))
                untidy.delay_seconds = float(body.get("delay_seconds", untidy.delay_seconds))
                untidy.shuffle_flush_seconds = float(
                    body.get("shuffle_flush_seconds", untidy.shuffle_flush_seconds)
                )
                if "format" in body:
                    if body["format"] not in FORMATS:
                        raise SandboxError(400, f"format must be one of {FORMATS}")
                    sandbox.publisher.event_format = body["format"]
                sandbox.events_on_api_writes = bool(
                    body.get("events_on_api_writes", sandbox.events_on_api_writes)
                )
                return JSONResponse({"ok": True})
            if action == "events/test-message":
                await sandbox.publisher.send_test_message(sandbox.model.legal_entity)
                return JSONResponse({"ok": True})
            if action == "events/flush":
                await sandbox.publisher.drain()
                return JSONResponse({"ok": True})
            if action == "events":
                return JSONResponse(
                    {
                        "events": list(sandbox.publisher.published),
                        "send_errors": sandbox.publisher.send_errors,
                    }
                )
            if action == "task-statuses":
                return JSONResponse({"value": sandbox.task_statuses()})
            if action == "counters":
                if request.method == "DELETE":
                    sandbox.counters.clear()
                return JSONResponse({"requests": dict(sandbox.counters)})
            raise SandboxError(404, f"unknown side-channel action {action!r}")
        except SandboxError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except OrgFileError as exc:
            return JSONResponse({"error": str(exc), "problems": exc.problems}, status_code=400)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    app = Starlette(
        routes=[
            Route("/data/{path:path}", data, methods=["GET", "PATCH", "POST", "DELETE"]),
            Route("/_sandbox/{action:path}", side, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.sandbox = sandbox
    return app


def metadata(sandbox: Sandbox) -> str:
    """A minimal CSDL document: the entity sets and their properties the sandbox serves."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>',
        '<Schema Namespace="Microsoft.Dynamics.DataEntities" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    for spec in sandbox.db.specs.values():
        keys = "".join(f'<PropertyRef Name="{k}"/>' for k in spec.keys)
        props = "".join(f'<Property Name="{p}" Type="Edm.String"/>' for p in spec.fields)
        parts.append(f'<EntityType Name="{spec.entity}"><Key>{keys}</Key>{props}</EntityType>')
    parts.append('<EntityContainer Name="Resources">')
    parts.extend(
        f'<EntitySet Name="{s.set_name}" EntityType="Microsoft.Dynamics.DataEntities.{s.entity}"/>'
        for s in sandbox.db.specs.values()
    )
    parts.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "".join(parts)

"""The sandbox core: configuration, routing and the request pipeline every call goes through.

Pipeline (plain HTTP and each ``$batch`` item alike): route → injected faults → throttling →
handler → Graph error shaping → counters. Counter keys are ``"METHOD /route/{template}"``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import GraphError, error_body
from .store import Store
from .throttle import Buckets, Counters, Faults, buckets_for, too_many_requests
from .wire import Req, Resp

if TYPE_CHECKING:
    from .notifier import Notifier

Handler = Callable[["Sandbox", Req], Awaitable[Resp]]

_KEY_SEGMENT = re.compile(r"\('([^']*)'\)")
_STATUS_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def normalise_path(path: str) -> str:
    """Plain segments: ``/teams('a')`` → ``/teams/a``, ``/groups/delta()`` → ``/groups/delta``."""
    path = _KEY_SEGMENT.sub(lambda m: "/" + m[1], path).replace("()", "")
    return "/" + path.strip("/")


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        self._routes.append((method, template, re.compile(f"^{pattern}$"), handler))

    def match(self, method: str, path: str) -> tuple[str, dict[str, str], Handler]:
        allowed = False
        for m, template, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                if m == method:
                    return template, found.groupdict(), handler
                allowed = True
        if allowed:
            raise GraphError(
                405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for '{path}'."
            )
        segment = path.strip("/").split("/")[-1]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


@dataclass
class Config:
    token: str = "sandbox-token"
    scale: float = 1.0
    async_delay: float = 0.2
    lag: float = 0.0
    throttle: bool = True


class Sandbox:
    """Everything a handler can reach: the tenant store, configuration, clocks and side effects."""

    def __init__(self, store: Store, config: Config, router: Router) -> None:
        self.store = store
        self.config = config
        self.router = router
        self.counters = Counters()
        self.buckets = Buckets(config.scale)
        self.faults = Faults()
        self.notifier: Notifier | None = None

    @property
    def tenant_id(self) -> str:
        return self.store.tenant_id

    def seconds(self, value: float) -> float:
        """A duration in the sandbox's time scale."""
        return value * self.config.scale

    @staticmethod
    def now() -> float:
        return time.time()

    def publish(self, change: dict[str, Any]) -> None:
        if self.notifier is not None:
            self.notifier.publish(change)

    async def dispatch(self, req: Req) -> Resp:
        request_id = str(uuid.uuid4())
        key = f"{req.method} {req.path}"
        try:
            template, params, handler = self.router.match(req.method, req.path)
            req.template, req.params = template, params
            key = f"{req.method} {template}"
            await self._apply_faults(key)
            self._throttle(req)
            resp = await handler(self, req)
        except GraphError as err:
            resp = Resp(
                err.status,
                error_body(err.code, err.message, request_id, req.header("client-request-id")),
                dict(err.headers),
            )
        self.counters.record(key, resp.status)
        resp.headers.setdefault("request-id", request_id)
        resp.headers.setdefault("client-request-id", req.header("client-request-id") or request_id)
        return resp

    async def _apply_faults(self, key: str) -> None:
        for fault in self.faults.for_key(key):
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.throttle_ratio and self.faults.rng.random() < fault.throttle_ratio:
                raise too_many_requests(fault.retry_after)
            if fault.status and self.faults.rng.random() < fault.error_rate:
                code = _STATUS_CODES.get(fault.status, "UnknownError")
                raise GraphError(fault.status, code, "Injected fault (sandbox).")

    def _throttle(self, req: Req) -> None:
        if not self.config.throttle:
            return
        for bucket, limit, cost, scope in buckets_for(req.method, req.template, req.params):
            wait = self.buckets.take(bucket, limit, cost)
            if wait:
                raise too_many_requests(wait, scope)

"""One OData request with bounded retries, written once for the Commerce (F&O) and Dataverse
clients (both speak OData v4 over httpx with an azure-identity bearer token).

429 waits its `Retry-After` (Dataverse: retrying earlier extends the wait,
https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#how-to-re-try); other
retryable statuses and dropped connections back off exponentially with jitter. Every retry is
bounded by `max_retries` and `max_retry_wait_seconds`. After a dropped connection a request that
may have reached the server is repeated only if its method is `repeatable` (a POST or PATCH is
not: it may have been applied) or the connection was never made.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from shared.commerce.auth import TokenProvider

Sleep = Callable[[float], Awaitable[None]]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryLimits(Protocol):
    max_retries: int
    max_retry_wait_seconds: float


class ODataTransport:
    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        limits: RetryLimits,
        *,
        headers: Mapping[str, str],
        repeatable: frozenset[str],
        error_from_response: Callable[[httpx.Response], Exception],
        unavailable: Callable[[str, str, str], Exception],
        sleep: Sleep,
        rng: random.Random,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._limits = limits
        self._headers = dict(headers)
        self._repeatable = repeatable
        self._error = error_from_response
        self._unavailable = unavailable
        self._sleep = sleep
        self._rng = rng
        self.requests = 0  # every attempt sent
        self.retries = 0  # attempts repeated after 429/5xx/connection failures

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        repeatable: bool = False,
    ) -> httpx.Response:
        """One request, repeated after the statuses in `retry_statuses` (429 after its
        `Retry-After`, the others after a backoff) and after a dropped connection when that is safe
        (see the module docstring; `repeatable`: this request is, whatever its method -- a `$batch`
        POST of GETs alone); the typed error once the limits are reached."""
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            req_headers = {
                "Authorization": f"Bearer {await self._tokens.token()}",
                **self._headers,
                **(headers or {}),
            }
            self.requests += 1
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, content=content, headers=req_headers
                )
            except httpx.TransportError as exc:
                safe = repeatable or method in self._repeatable or isinstance(exc, httpx.ConnectError)
                delay = self.backoff(attempt)
                if not safe or not self.may_wait(attempt, waited, delay):
                    raise self._unavailable(repr(exc), method, url) from exc
            else:
                if response.status_code not in retry_statuses:
                    if response.is_success:
                        return response
                    raise self._error(response)
                error = self._error(response)
                delay = getattr(error, "retry_after", None) or self.backoff(attempt)
                if not self.may_wait(attempt, waited, delay):
                    raise error
            self.retries += 1
            waited += delay
            await self._sleep(delay)

    async def rows(
        self,
        url: str,
        params: dict[str, str] | None,
        page_size: int,
        convert: Callable[[dict[str, Any]], Any] | None = None,
        *,
        first: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Every row of a collection: `Prefer: odata.maxpagesize`, then each `@odata.nextLink` as
        the service returned it (it carries every query option), until a page has none. With
        `convert`, each page's rows are converted as the page arrives (None dropped), so a bulk
        read of 200,000 rows never holds more than one page of raw JSON rows. `first`: the first
        page, read already (a GET inside a `$batch`: shared/commerce/batch.py), so only the pages
        after it are read."""
        prefer = {"Prefer": f"odata.maxpagesize={page_size}"}
        rows: list[Any] = []
        next_url: str | None = url
        while next_url:
            if first is not None:
                body, first = first, None
            else:
                body = (await self.send("GET", next_url, params=params, headers=prefer)).json()
            page = body.get("value", [])
            if convert is None:
                rows.extend(page)
            else:
                rows.extend(c for r in page if (c := convert(r)) is not None)
            next_url, params = body.get("@odata.nextLink"), None
        return rows

    def may_wait(self, attempt: int, waited: float, delay: float) -> bool:
        """Whether attempt `attempt` may be followed by another after `delay` more seconds, having
        waited `waited` already (`max_retries`, `max_retry_wait_seconds`)."""
        return attempt <= self._limits.max_retries and waited + delay <= self._limits.max_retry_wait_seconds

    def backoff(self, attempt: int) -> float:
        cap = min(30.0, 0.5 * 2 ** (attempt - 1))
        return self._rng.uniform(cap / 2, cap)

"""The connection pool of the app's outbound HTTP clients (Graph, Commerce, Dataverse).

`max_keepalive_connections` equals `max_connections` on purpose. httpcore 1.0.x (httpx's pool)
closes an idle connection whenever the pool holds more than `max_keepalive_connections`
connections *in total*, idle or not (`_assign_requests_to_connections` counts
`len([c.is_idle() for c in self._connections])`: encode/httpcore PR #1000, "Fix
max_keepalive_connections", open). With httpx's defaults (100 connections, 20 kept alive) a
process with more than 20 requests in flight -- a reconciliation batch's 25 passes, the webhook's
processor -- closes each connection the moment its response ends and opens a new one (TCP and,
in Azure, TLS) for the next request: a handshake per request and outbound (SNAT) ports churned.
With the two equal the miscount never passes the limit; idle connections still close after
`keepalive_expiry`.
"""

from __future__ import annotations

import httpx

MAX_CONNECTIONS = 100  # httpx's default
POOL_LIMITS = httpx.Limits(
    max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS, keepalive_expiry=5.0
)

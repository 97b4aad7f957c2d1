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

The price: the same pass is quadratic in the pool's idle connections (for each idle one it counts
them all) and checks each idle socket (two system calls), so a pool that keeps its connections
costs more CPU per request while many sit idle. Against the local sandboxes, whose answers come
in a millisecond, most do: 3,000 GETs 48 at a time cost 2.4-2.7 ms of client CPU each with this
setting, 1.9-2.1 ms with httpx's defaults, which opened 3x the connections (measured 2026-12-07,
the Graph client against `python -m local.graph --no-throttle`). Against Graph, whose answers take
tens to hundreds of milliseconds, most connections are in use rather than idle, and a TLS
handshake per request is the larger cost (reasoned, not measured here: nothing reaches Graph).
"""

from __future__ import annotations

import httpx

MAX_CONNECTIONS = 100  # httpx's default
POOL_LIMITS = httpx.Limits(
    max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS, keepalive_expiry=5.0
)

"""Outbound HTTP connections: one pool policy for every client of the app (Graph, Commerce, Dataverse)."""

from __future__ import annotations

import httpx

# Connections kept open as many as may be used at once. httpx's default keeps 20 of up to 100:
# beyond 20 concurrent requests every request opened (and in Azure TLS-handshook) a connection
# and closed it after one use -- 13 % of the host's CPU in a 1,000-store first provisioning, where
# a reconciliation batch runs 25 passes at once. Reusing connections is also Azure Functions'
# advice ("Manage connections in Azure Functions": outbound connections and SNAT ports are
# limited per instance). More concurrent requests than this wait for a free connection.
CONNECTION_LIMITS = httpx.Limits(max_connections=48, max_keepalive_connections=48, keepalive_expiry=30.0)

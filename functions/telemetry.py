"""Production telemetry, configured once when function_app.py is indexed.

Azure (docs/runbook.md, "Telemetry"): host.json `telemetryMode: OpenTelemetry` makes the
Functions host export its own invocation spans and logs as OpenTelemetry (Flex Consumption;
https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto); the app setting
`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` makes the Python worker hand each invocation
the host's trace context; and the app exports its own spans, metrics and `cts.*` logs with the
Azure Monitor OpenTelemetry distro, as that article shows (`configure_azure_monitor()`).

Kept light for cold start: nothing is imported unless `APPLICATIONINSIGHTS_CONNECTION_STRING` is
set, and never twice (the local host installs its own file pipeline first: local/host/telemetry.py).
The distro's own httpx instrumentation is off: shared/telemetry/http.py instruments httpx with
hooks that keep ids and personal data out of URLs.
"""

from __future__ import annotations

import os

from opentelemetry import trace

_OFF = ("django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3", "httpx")


def _already_configured() -> bool:
    return type(trace.get_tracer_provider()).__name__ != "ProxyTracerProvider"


def _credential() -> object | None:
    """Entra auth when the component refuses keys (infra: DisableLocalAuth, and
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD[;ClientId=...])."""
    auth = os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "")
    if "Authorization=AAD" not in auth:
        return None
    from azure.identity import ManagedIdentityCredential

    parts = dict(p.split("=", 1) for p in auth.split(";") if "=" in p)
    client_id = parts.get("ClientId")
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def configure() -> str:
    """Set up the exporter if this process has none yet; returns what was done (for tests)."""
    if _already_configured():
        from shared.telemetry.http import instrument

        instrument()
        return "already configured"
    if not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return "no connection string"
    from azure.monitor.opentelemetry import configure_azure_monitor

    from shared.telemetry.http import instrument

    configure_azure_monitor(
        credential=_credential(),
        logger_name="cts",  # the app's loggers; the host exports its own and the worker's
        instrumentation_options={name: {"enabled": False} for name in _OFF},
        enable_live_metrics=False,
    )
    instrument()
    return "azure monitor"

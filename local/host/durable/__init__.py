"""The local durable engine: runs Durable Functions orchestrations on the real Python SDK.

Public API: `DurableRegistry.from_app(app)`, `DurableEngine(db_path, registry, ...)` with
``start``/``stop``, client operations (``start_new``, ``get_status``, ``raise_event``,
``terminate``, ``purge``, ``list_instances``, ``wait_for_completion``), the client binding
(``client_binding_json(base_url)``) and the management API (``asgi_app()``, mounted under
``/runtime/webhooks/durabletask``). See docs/durable-engine.md.
"""

from local.host.durable.engine import DurableEngine
from local.host.durable.errors import (
    DurableError,
    InstanceAlreadyRunning,
    InstanceGone,
    InstanceNotFound,
    InstanceNotTerminal,
    OrchestratorNotFound,
    UnsupportedFunction,
)
from local.host.durable.registry import DurableRegistry

__all__ = [
    "DurableEngine",
    "DurableError",
    "DurableRegistry",
    "InstanceAlreadyRunning",
    "InstanceGone",
    "InstanceNotFound",
    "InstanceNotTerminal",
    "OrchestratorNotFound",
    "UnsupportedFunction",
]

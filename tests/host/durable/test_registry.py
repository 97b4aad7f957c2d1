"""Indexing an app: orchestrators and activities found, unsupported functions named."""

from __future__ import annotations

import subprocess
import sys

import azure.durable_functions as df
import pytest

from local.host.durable import DurableRegistry, UnsupportedFunction
from tests.host.durable.apps import orchestrations


def test_orchestrators_and_activities_are_found() -> None:
    registry = DurableRegistry.from_app(orchestrations.app)
    assert {"fan_out", "parent", "child", "counter"} <= set(registry.orchestrators)
    assert {"square", "add_up", "flaky"} <= set(registry.activities)
    assert registry.activities["add_up"].is_async
    DurableRegistry.from_app(orchestrations.app)  # indexing twice is fine


def test_entities_are_refused_by_name() -> None:
    app = df.DFApp()

    @app.entity_trigger(context_name="context")
    def counter_entity(context: df.DurableEntityContext) -> None:
        context.set_state(1)

    with pytest.raises(UnsupportedFunction, match="'counter_entity' is a durable entity"):
        DurableRegistry.from_app(app)


def test_importing_the_engine_does_not_import_the_app() -> None:
    code = "import sys, local.host.durable; print(any(m == 'function_app' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

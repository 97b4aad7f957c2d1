"""Adapts Durable's `DurableOrchestrationClient` to `shared.spine.OrchestrationClient`
(shared/ may not import azure.durable_functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df

from shared import telemetry


class DurableClientAdapter:
    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self._client = client

    async def runtime_status(self, instance_id: str) -> str | None:
        status = await self._client.get_status(instance_id)
        # get_status answers an unknown instance with an empty status, not an error.
        if status is None or status.runtime_status is None:
            return None
        return str(status.runtime_status.value)

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        # The orchestration continues the caller's trace: its input carries the traceparent,
        # which the orchestrator hands to its activities (see shared/telemetry/context.py).
        if isinstance(input, dict):
            input = {**input, **telemetry.carry()}
        await self._client.start_new(orchestrator, instance_id=instance_id, client_input=input)

    async def last_updated(self, instance_id: str) -> datetime | None:
        status = await self._client.get_status(instance_id)
        when = getattr(status, "last_updated_time", None)
        if when is None:
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

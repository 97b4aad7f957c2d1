"""The clients a sync pass needs, built once per event loop from settings.

Azure runs async functions on the worker's event loop; httpx and Azure SDK async clients are
bound to the loop that created them, so each loop gets its own set (tests and the local host may
run several loops in one process).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.execution import ExecutionResult
from shared.domain.plan import Plan
from shared.settings import Settings, get_settings
from shared.state import StateStore, open_state

if TYPE_CHECKING:
    from shared.graph import Gateway
    from shared.sync.team_pass import CommerceReader


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    commerce: CommerceReader
    state: StateStore

    async def execute(self, plan: Plan) -> ExecutionResult:
        from shared.graph import execute_plan

        return await execute_plan(plan, self.gateway)

    async def aclose(self) -> None:
        await self.gateway.aclose()
        await self.state.close()
        close = getattr(self.commerce, "aclose", None)
        if close is not None:
            await close()


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Services] = weakref.WeakKeyDictionary()


def services(settings: Settings | None = None) -> Services:
    """This loop's services (created on first use)."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        from shared.commerce.scope import CommerceScopeReader
        from shared.graph import Gateway

        settings = settings or get_settings()
        found = Services(
            settings=settings,
            gateway=Gateway(settings.graph),
            commerce=CommerceScopeReader.from_settings(settings),
            state=open_state(settings.state),
        )
        _by_loop[loop] = found
    return found

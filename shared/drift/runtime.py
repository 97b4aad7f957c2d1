"""The clients drift processing needs (state store, Graph gateway), one set per event loop.

Like `shared.sync.services` but without the Commerce reader, which drift never uses: httpx and
the Azure SDK clients are bound to the loop that created them.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.settings import Settings, get_settings
from shared.state import StateStore, open_state

if TYPE_CHECKING:
    from shared.graph import Gateway


@dataclass
class DriftClients:
    settings: Settings
    state: StateStore
    gateway: Gateway

    async def aclose(self) -> None:
        await self.gateway.aclose()
        await self.state.close()


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DriftClients] = weakref.WeakKeyDictionary()


def drift_clients(settings: Settings | None = None) -> DriftClients:
    """This loop's clients (created on first use)."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        from shared.graph import Gateway

        settings = settings or get_settings()
        found = DriftClients(
            settings=settings, state=open_state(settings.state), gateway=Gateway(settings.graph)
        )
        _by_loop[loop] = found
    return found

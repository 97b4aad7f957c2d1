"""The Commerce sandbox inside the stack: served on a thread of this process, publishing into the
host's broker file through `SharedBus`; changed through its side channel, read through the
product's Commerce OData client (`CommerceClient`)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack.core import LoopThread, SharedBus

TOKEN = "sandbox-token"


class CommerceHandle:
    def __init__(self, root_url: str, side: Any, loop: LoopThread) -> None:
        self.root_url = root_url
        self.side = side  # local.commerce.testing.CommerceSandboxHandle (HTTP side channel)
        self._loop = loop

    # -- side channel ---------------------------------------------------------------------------
    def apply(self, step: dict[str, Any]) -> int:
        """A `{"commerce": verb, ...}` step; returns how many messages it published."""
        return int(self.side.apply(step))

    def set_untidiness(self, **cfg: Any) -> None:
        """duplicate_factor, shuffle_window, delay_seconds."""
        self.side.configure_events(**cfg)

    def flush(self) -> None:
        """Release events held by a shuffle window or a delay (waiting for convergence)."""
        self.side.flush_events()

    def events_published(self) -> int:
        return len(self.side.events())

    def publish_org(self) -> int:
        """Publishing the whole org as events is not something F&O (or the sandbox) does."""
        return 0

    # -- Commerce OData, through the product's client -------------------------------------------
    def _client(self) -> Any:
        from shared.commerce.client import CommerceClient

        return CommerceClient.for_sandbox(self.root_url, TOKEN)

    def mappings(self) -> list[dict[str, str | None]]:
        async def read() -> list[dict[str, str | None]]:
            async with self._client() as client:
                rows = await client.team_mappings()
            from shared.domain.commerce import TeamSourceType

            return [
                {"store": m.source_id if m.source_type == TeamSourceType.STORE else None,
                 "source_type": str(m.source_type.value), "source_id": m.source_id, "team_id": m.team_id}
                for m in rows
            ]  # fmt: skip

        return self._loop.run(read())

    def store_tasks(self) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            async with self._client() as client:
                rows = await client.store_tasks()
            return sorted(
                ({"task_list": t.task_list, "task": t.task, "store": t.store,
                  "status": str(t.status.value), "completed_by": t.completed_by} for t in rows),
                key=lambda t: (t["task_list"], t["task"], t["store"]),
            )  # fmt: skip

        return self._loop.run(read())

    def task_name(self, task_list: str, task: str) -> str | None:
        async def read() -> str | None:
            async with self._client() as client:
                for found in await client.task_lists([task_list]):
                    for t in found.tasks:
                        if t.id == task:
                            return str(t.name)
            return None

        return self._loop.run(read())


def start_commerce(
    exit_stack: ExitStack, *, org: Path, db: Path, port: int, bus: SharedBus, topic: str, loop: LoopThread
) -> CommerceHandle:
    from local.commerce.server import create_app
    from local.commerce.testing import CommerceSandboxHandle
    from local.stack.core import serve_in_thread

    # `org` seeds only an empty database: with --keep the sandbox serves what it had.
    app = create_app(db, sender=bus, topic=topic, token=TOKEN, org=org)
    exit_stack.callback(app.state.sandbox.db.close)
    root = exit_stack.enter_context(serve_in_thread(app, port, "commerce-sandbox"))
    side = CommerceSandboxHandle(root, TOKEN, app.state.sandbox)
    exit_stack.callback(side.close)
    return CommerceHandle(root, side, loop)

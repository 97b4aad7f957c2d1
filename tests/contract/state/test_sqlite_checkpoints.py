"""The SQLite state backend checkpoints its WAL on a thread of its own, never inside a write on
the caller's event loop, and keeps the WAL bounded under sustained writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.state import sqlite as backend_module
from shared.state.sqlite import SqliteBackend


def test_writes_leave_checkpoints_to_a_thread_and_the_wal_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    wal = Path(str(path) + "-wal")

    def wal_size() -> int:
        return wal.stat().st_size

    async def run() -> tuple[int, int, int]:
        store = SqliteBackend(path)
        auto = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        peak = 0
        big = {"blob": "x" * 50_000}
        for i in range(6 * backend_module.CHECKPOINT_EVERY):
            await store.upsert("t", "p", f"r{i % 50}", big)
            peak = max(peak, wal_size())
            if i % 100 == 0:
                await asyncio.sleep(0.01)  # let the checkpoint thread run
        found = await store.get("t", "p", "r7")
        await store.close()
        return auto, peak, len(found.data["blob"]) if found else 0

    auto, peak, size = asyncio.run(run())
    assert auto == 0  # no checkpoint inside a commit
    assert size == 50_000
    # 1,200 writes of ~50 KB are ~60 MB of WAL without checkpoints
    assert peak < 3 * backend_module.WAL_LIMIT

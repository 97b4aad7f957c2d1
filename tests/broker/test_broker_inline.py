"""The local host's broker runs its SQLite calls inline on the event loop (`inline=True`): the
same semantics as on its worker thread, and a call that finds the file locked by another
process waits for the lock on the thread, so the loop keeps serving meanwhile and nothing
sent is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bus_testkit import SYNC, declare, msg, open_broker


def test_inline_broker_round_trip_is_the_same_as_on_the_thread(tmp_path: Path) -> None:
    async def run() -> tuple[list[bytes], dict[str, int]]:
        async with open_broker(tmp_path, inline=True) as broker:
            await declare(broker)
            await broker.send("commerce-events", [msg(f'{{"n":{i}}}') for i in range(3)])
            got = await broker.receive(SYNC, max_count=10)
            for m in got:
                await broker.complete(m)
            return [bytes(m.body) for m in got], await broker.counts(SYNC)

    bodies, counts = asyncio.run(run())
    assert bodies == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert counts["active"] == 0


def test_a_send_that_finds_the_file_locked_waits_off_the_loop_and_lands(tmp_path: Path) -> None:
    async def run() -> tuple[int, list[bytes]]:
        async with open_broker(tmp_path, inline=True) as broker:
            await declare(broker)
            other = sqlite3.connect(tmp_path / "bus.sqlite", isolation_level=None, check_same_thread=False)
            other.execute("BEGIN IMMEDIATE")  # another process's write transaction
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            tick = asyncio.create_task(ticker())
            send = asyncio.create_task(broker.send("commerce-events", [msg('{"n":1}')]))
            await asyncio.sleep(0.3)
            assert not send.done()  # still waiting for the lock, on the thread
            other.execute("COMMIT")
            await send
            tick.cancel()
            got = await broker.receive(SYNC, max_count=10)
            other.close()
            return ticks, [bytes(m.body) for m in got]

    ticks, bodies = asyncio.run(run())
    assert ticks >= 10  # the loop ran while the send waited
    assert bodies == [b'{"n":1}']


def test_an_inline_broker_checkpoints_its_wal_off_the_loop(tmp_path: Path) -> None:
    """Automatic checkpoints are off on the inline connection; the broker's own (on the thread)
    keep the WAL bounded: a WAL past WAL_LIMIT is truncated."""
    from local.host.broker import _broker

    async def run() -> tuple[int, int, int]:
        async with open_broker(tmp_path, inline=True) as broker:
            await declare(broker)
            body = "x" * 60_000
            wal = tmp_path / "bus.sqlite-wal"
            peak = 0
            for _ in range(6 * _broker.CHECKPOINT_EVERY):
                await broker.send("commerce-events", [msg(body)])
                peak = max(peak, wal.stat().st_size)
                # The checkpoint runs on the thread meanwhile; let it finish before the next send
                # (how soon the thread gets the GIL is the OS's business, not what is tested here).
                if broker._checkpoint is not None:
                    await broker._checkpoint
            got = await broker.receive(SYNC, max_count=1)
            auto = broker._store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            return auto, peak, len(got)

    auto, peak, received = asyncio.run(run())
    assert auto == 0
    assert received == 1
    # 1,200 sends of 60 KB are ~75 MB of WAL without checkpoints
    assert peak < 3 * _broker.WAL_LIMIT

"""A SIGKILL of the process loses no message the broker had accepted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from bus_testkit import open_broker

ROOT = Path(__file__).resolve().parents[2]

SENDER = textwrap.dedent(
    """
    import asyncio, sys
    from local.host.broker import Broker
    from shared.bus.protocol import OutgoingMessage

    async def main():
        broker = Broker(sys.argv[1])
        await broker.ensure_queue("q")
        i = 0
        while True:
            await broker.send("q", [OutgoingMessage(body=b"x", message_id=f"m{i}")])
            print(i, flush=True)  # accepted
            i += 1

    asyncio.run(main())
    """
)


def test_every_accepted_message_survives_a_sigkill(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SENDER, str(tmp_path / "bus.sqlite")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    accepted = -1
    for line in proc.stdout:
        accepted = int(line)
        if accepted >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    async def stored_ids() -> set[str]:
        async with open_broker(tmp_path) as broker:
            return {m.message_id for m in await broker.peek("q", max_count=100_000)}

    ids = asyncio.run(stored_ids())
    assert {f"m{i}" for i in range(accepted + 1)} <= ids

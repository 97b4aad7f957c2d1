"""Broker throughput: `python -m local.host.broker.bench [--messages N]`.

Measures, on a fresh SQLite file, (1) send in batches of 100, then receive in batches of 32 and
complete each batch concurrently; (2) the same messages through `run_delivery_loop` (16 concurrent calls, a
no-op handler), which adds the `func.ServiceBusMessage` conversion and lock renewal tasks.
Prints messages per second for send + receive + complete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from shared.bus.protocol import EntityRef, OutgoingMessage

from ._broker import Broker

BODY = json.dumps({"BusinessEventId": "RetailStoreChanged", "StoreNumber": "0042", "pad": "x" * 300}).encode()


async def _direct(broker: Broker, n: int) -> dict[str, float]:
    ref = EntityRef("bench", "sub")
    t0 = time.perf_counter()
    for i in range(0, n, 100):
        await broker.send("bench", [OutgoingMessage(body=BODY) for _ in range(min(100, n - i))])
    t1 = time.perf_counter()
    done = 0
    while done < n:
        got = await broker.receive(ref, max_count=32)
        await asyncio.gather(*(broker.complete(m) for m in got))
        done += len(got)
    t2 = time.perf_counter()
    return {"send/s": n / (t1 - t0), "receive+complete/s": n / (t2 - t1), "end-to-end/s": n / (t2 - t0)}


async def _loop(broker: Broker, n: int) -> dict[str, float]:
    from local.host.servicebus import run_delivery_loop

    handled = 0
    all_done = asyncio.Event()

    async def handler(_: object) -> None:
        nonlocal handled
        handled += 1
        if handled == n:
            all_done.set()

    stop = asyncio.Event()
    t0 = time.perf_counter()
    loop = asyncio.create_task(
        run_delivery_loop(broker, topic="bench", subscription="sub", handler=handler, stop=stop)
    )
    for i in range(0, n, 100):
        await broker.send("bench", [OutgoingMessage(body=BODY) for _ in range(min(100, n - i))])
    await all_done.wait()
    while (await broker.counts("bench/sub"))["locked"]:  # noqa: ASYNC110 - the broker has no event for this
        await asyncio.sleep(0.01)
    t1 = time.perf_counter()
    stop.set()
    await loop
    return {"delivery-loop end-to-end/s": n / (t1 - t0)}


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        broker = Broker(Path(folder) / "bench.sqlite")
        await broker.ensure_topic("bench", ["sub"], duplicate_detection_window=None)
        results = await _direct(broker, n)
        results.update(await _loop(broker, n))
        await broker.close()
    for name, value in results.items():
        print(f"{name:>28}: {value:8.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    asyncio.run(main(parser.parse_args().messages))

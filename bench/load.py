"""The notifications case's load generator, in a process of its own: `python -m bench.load
POSTS_FILE URL --rate N --connections C` POSTs each JSON body of POSTS_FILE (one per line) to URL
at `rate` bodies/s from `connections` connections, as Graph would, and prints one JSON line:
`send_s`, the answer time of every POST in seconds (`latencies`, measured at this client), when
each was sent (`sent_at`, s from the start) and their `statuses`.

Its own process because the stack's Graph and Commerce sandboxes serve the sync passes on
threads of the bench process: a client sharing their GIL would time their work as the
webhook's answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx


async def send_all(bodies: list[bytes], url: str, rate: float, connections: int) -> dict[str, object]:
    latencies: list[float] = []
    statuses: list[int] = []
    sent_at: list[float] = []
    interval = 1.0 / rate
    limits = httpx.Limits(max_connections=connections)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(connections)
        t0 = time.perf_counter()

        async def post(i: int, body: bytes) -> None:
            await asyncio.sleep(max(0.0, t0 + i * interval - time.perf_counter()))
            async with gate:
                s = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - s)
                statuses.append(r.status_code)
                sent_at.append(s - t0)

        await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies)))
        return {"send_s": time.perf_counter() - t0, "latencies": latencies, "statuses": statuses,
                "sent_at": sent_at}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("posts_file", help="one JSON body per line")
    parser.add_argument("url", help="the webhook URL (with its ?code=)")
    parser.add_argument("--rate", type=float, required=True, help="bodies per second")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    with open(args.posts_file, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    print(json.dumps(asyncio.run(send_all(bodies, args.url, args.rate, args.connections))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

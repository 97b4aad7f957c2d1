"""A minimal change-notification endpoint for the Graph floor: `python -m bench.sink PORT_FILE`.

The app must subscribe to Graph change notifications (docs/drift.md), so Graph delivering a POST
for each change the provisioning makes is part of serving the app's requests; processing them is
the app's work. This endpoint is the least an endpoint can do: answer the validation handshake
(the token back as text/plain, https://learn.microsoft.com/graph/change-notifications-delivery-webhooks)
and 202 to every notification POST, counting them, on plain asyncio streams (keep-alive, no
framework). It writes its port to PORT_FILE once listening and, on SIGTERM, one JSON line:
{"posts": N, "notifications": M}.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_counts = {"posts": 0, "notifications": 0}


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            body = await reader.readexactly(length) if length else b""
            token = parse_qs(urlsplit(target).query).get("validationToken")
            if token:
                text = token[0].encode("utf-8")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    + f"Content-Length: {len(text)}\r\n\r\n".encode()
                    + text
                )
            else:
                _counts["posts"] += 1
                try:
                    _counts["notifications"] += len(json.loads(body).get("value") or [])
                except (ValueError, AttributeError):
                    pass
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port_file: Path) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    await asyncio.to_thread(port_file.write_text, str(port), encoding="utf-8")
    async with server:
        await done.wait()
    print(json.dumps(_counts), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if len(sys.argv) == 2 else 2)
    asyncio.run(main(Path(sys.argv[1])))

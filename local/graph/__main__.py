"""``python -m local.graph --port 8765 --db .local/graph.sqlite``: run the Graph sandbox."""

from __future__ import annotations

import argparse
import os
import socket

import uvicorn

from .server import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.graph", description="Graph sandbox (a local subset of Microsoft Graph v1.0)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--db", default=".local/graph.sqlite", help="SQLite file holding the tenant (kept across restarts)"
    )
    parser.add_argument("--token", default="sandbox-token", help="bearer token the sandbox accepts")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies every sandbox duration (0.1 = 10x faster)"
    )
    parser.add_argument("--async-delay", type=float, default=0.2, help="seconds a teamsAsyncOperation takes")
    parser.add_argument(
        "--lag", type=float, default=0.0, help="seconds new teams/members stay invisible (replication lag)"
    )
    parser.add_argument("--no-throttle", action="store_true", help="turn off the Graph-shaped token buckets")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if os.path.dirname(args.db):
        os.makedirs(os.path.dirname(args.db), exist_ok=True)
    app = create_app(
        args.db,
        token=args.token,
        scale=args.scale,
        async_delay=args.async_delay,
        lag=args.lag,
        throttle=not args.no_throttle,
    )
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it every response on a kept-alive connection waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # avoid 40 ms Nagle/delayed-ACK stalls
    sock.bind((args.host, args.port))
    print(f"Graph sandbox on http://{args.host}:{args.port}/v1.0 (tenant file {args.db})", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level=args.log_level)).run(sockets=[sock])


if __name__ == "__main__":
    main()

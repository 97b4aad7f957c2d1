"""`python -m local.dataverse --port 8767 [--org sample.json]`: the Dataverse sandbox on its own
(data events are kept in `GET /_sandbox/events`; the local stack wires them to the broker)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import uvicorn

from local.dataverse.server import API, create_app, seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.dataverse", description="Run the Dataverse Web API sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--token", default="sandbox-token", help="the bearer token clients must send")
    parser.add_argument("--org", help="JSON file of rows by table logical name to seed")
    parser.add_argument("--seed", type=int, default=None, help="random seed for faults and untidiness")
    args = parser.parse_args(argv)
    app = create_app(token=args.token, seed=args.seed)
    if args.org:
        with open(args.org, encoding="utf-8") as f:
            asyncio.run(seed(app.state.dataverse, json.load(f)))
    print(f"Dataverse sandbox on http://{args.host}:{args.port}{API}/ (token {args.token!r})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())

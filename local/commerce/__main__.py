"""`python -m local.commerce --port 8766 --db .local/commerce.sqlite --org local/scenarios/sample-org.json`

Serves the Commerce sandbox on its own. Events go nowhere unless a broker is wired in by the local
host (`local/host`), which builds the app with its own `BusSender`; here they are kept in the
side channel's log (`GET /_sandbox/events`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from local.commerce.publisher import FORMATS
from local.commerce.server import create_app
from local.scenarios import SAMPLE_ORG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.commerce", description="Run the Commerce (F&O OData + business events) sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--db", default=".local/commerce.sqlite", help="SQLite file (kept between runs)")
    parser.add_argument("--org", default=str(SAMPLE_ORG), help="org file to seed an empty database with")
    parser.add_argument("--reseed", action="store_true", help="replace the database content with --org")
    parser.add_argument("--token", default="sandbox-token", help="the bearer token clients must send")
    parser.add_argument("--event-format", choices=FORMATS, default="business_event")
    parser.add_argument("--topic", default="commerce-events")
    parser.add_argument("--seed", type=int, default=None, help="random seed for faults and untidiness")
    args = parser.parse_args(argv)
    if args.reseed:
        Path(args.db).unlink(missing_ok=True)
    app = create_app(
        args.db,
        sender=None,
        topic=args.topic,
        token=args.token,
        event_format=args.event_format,
        org=args.org,
        seed=args.seed,
    )
    print(f"Commerce sandbox on http://{args.host}:{args.port}/data/ (token {args.token!r}, db {args.db})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Graph floor of a first provisioning: `python -m bench.floor` (run by the `graph_floor`
bench case in its own process, with the host's CTS_* settings in the environment).

The Graph requests a first provisioning needs at least -- identity look-ups (15 people per
request, Graph's `in` limit, 20 requests per `$batch`: 300 people per call, `--concurrency` calls
at once; the app's passes look up each team's ~20 people in one call of 2 requests), then each
team's plan through the app's own executor (`execute_plan`: POST /teams + async-operation polls,
members/add chunks, channel/plan writes in `$batch`es) -- sent straight from one process with
every team at once (`--concurrency`), with no host, durable orchestration, queue, state store or
change notifications in between. What limits it is the Graph sandbox: its throttling buckets
(at the stack's time scale), its async team creation and its CPU. The org is read from Commerce
once (a bulk read), as the floor of the reads too.

`--part K --parts N` provisions every N-th team from the K-th (N processes together: the
`graph_floor_parallel` case), looking up only the people of those teams: the teams' people are
found from the org alone (the desired state with every worker standing in for its own user),
so N parts send the same Graph requests as one process does, split N ways.

Prints one JSON object: seconds, teams, operations, and the executor's request count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import defaultdict
from datetime import UTC, datetime

from shared.commerce.client import CommerceClient
from shared.domain import ActualState
from shared.domain.commerce import CommerceOrg
from shared.domain.plan import Operation, Plan
from shared.domain.teams import Identity
from shared.graph import Gateway, execute_plan
from shared.graph.coalesce import CALL_SIZE
from shared.provisioning import desired, plan
from shared.settings import Settings, get_settings


def _people_of_part(org: CommerceOrg, settings: Settings, part: int, parts: int) -> tuple[set[str], set[str]]:
    """(team keys, personnel numbers) of part `part` of `parts`: every `parts`-th team of the
    desired state in key order, with every worker standing in for its own Entra user."""
    stand_in = {w.personnel_number: Identity(user_id=w.personnel_number) for w in org.workers}
    whole = desired(org, settings.provisioning, stand_in, datetime.now(UTC).date())
    keys = sorted(whole.teams)[part::parts]
    people = {p for k in keys for t in [whole.teams[k]] for p in (*t.owners, *t.members)}
    return set(keys), people


async def floor(concurrency: int, part: int = 0, parts: int = 1) -> dict[str, object]:
    settings = get_settings()
    commerce = CommerceClient.from_settings(settings)
    # N parts share the tenant's team-creation rate as the app's worker processes do
    # (functions/root.py divides it by FUNCTIONS_WORKER_PROCESS_COUNT); CTS_BENCH_FLOOR_UNSHARED=1:
    # each at the whole rate, as instances of a scaled-out app are (they share it through 429s).
    unshared = os.environ.get("CTS_BENCH_FLOOR_UNSHARED") == "1"
    rate = settings.graph.team_creates_per_second / (1 if unshared else parts)
    gateway = Gateway(settings.graph.model_copy(update={"team_creates_per_second": rate}))
    start = time.perf_counter()
    try:
        org = await commerce.read_org()
        t_read = time.perf_counter() - start
        ours: set[str] | None = None
        people: set[str] | None = None
        if parts > 1:
            ours, people = _people_of_part(org, settings, part, parts)
        upns = {
            w.upn.lower(): w.personnel_number
            for w in org.workers
            if w.upn and (people is None or w.personnel_number in people)
        }
        gate = asyncio.Semaphore(concurrency)

        async def look_up(chunk: list[str]) -> dict[str, Identity]:
            async with gate:  # one $batch of 20 requests of 15 (shared/graph/users.py)
                return await gateway.resolve_upns(chunk)

        wanted = sorted(upns)
        per_call = CALL_SIZE
        answers = await asyncio.gather(
            *(look_up(wanted[i : i + per_call]) for i in range(0, len(wanted), per_call))
        )
        found = {u: ident for answer in answers for u, ident in answer.items()}
        identities = {upns[u.lower()]: ident for u, ident in found.items() if u.lower() in upns}
        want = desired(org, settings.provisioning, identities, datetime.now(UTC).date())
        whole = plan(want, ActualState(), settings.provisioning)
        per_team: dict[str, list[Operation]] = defaultdict(list)
        for op in whole.operations:
            if ours is None or str(op.key) in ours:
                per_team[str(op.key)].append(op)
        gate = asyncio.Semaphore(concurrency)

        problems: list[str] = []

        async def one(ops: list[Operation]) -> int:
            async with gate:
                result = await execute_plan(Plan(operations=tuple(ops)), gateway)
                bad = [o for o in result.outcomes if o.status.value not in ("done", "already")]
                problems.extend(f"{o.status.value}: {o.detail}"[:200] for o in bad)
                return len(bad)

        failed = sum(await asyncio.gather(*(one(ops) for ops in per_team.values())))
        return {
            "floor_s": time.perf_counter() - start,
            "commerce_read_s": t_read,
            "teams": len(per_team),
            "operations": len(whole.operations),
            "operations_not_done": failed,
            "not_done_sample": sorted(set(problems))[:5],
            "requests_sent": gateway.stats.sent,
        }
    finally:
        await gateway.aclose()
        await commerce.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(os.environ.get("CTS_BENCH_FLOOR_CONCURRENCY", "25")),
        help="teams provisioned at once",
    )
    parser.add_argument("--part", type=int, default=0, help="this process's part (0 .. parts-1)")
    parser.add_argument("--parts", type=int, default=1, help="processes sharing the teams")
    args = parser.parse_args(argv)
    if not 0 <= args.part < args.parts:
        parser.error("--part must be 0 .. --parts - 1")
    print(json.dumps(asyncio.run(floor(args.concurrency, args.part, args.parts))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

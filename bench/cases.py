"""Benchmark cases. Each returns a flat dict of metrics (seconds, counts, bytes)."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

from shared.drift import subscription_records
from shared.state import teams as team_records

ROOT = Path(__file__).resolve().parents[1]
GRAPH_SCALE = 0.05  # the Graph sandbox's time scale in every stack case (throttle windows x 0.05)


def cold_start_import(runs: int = 7) -> dict[str, Any]:
    """Wall time of a fresh interpreter importing function_app (what a cold Functions worker pays
    before its first invocation), median of `runs`, plus the bare interpreter for reference."""

    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start

    timed("import function_app")  # warm the OS file cache and __pycache__
    app = [timed("import function_app") for _ in range(runs)]
    bare = [timed("pass") for _ in range(runs)]
    return {
        "import_function_app_s_median": statistics.median(app),
        "import_function_app_s_max": max(app),
        "bare_interpreter_s_median": statistics.median(bare),
    }


def planner_1000_stores() -> dict[str, Any]:
    """desired() + plan() for a 1,000-store / 20,000-worker org: first provisioning (empty
    tenant), then a converged tenant (the nightly reconciliation's planning cost)."""
    from local.scenarios.generate import generate_org
    from local.scenarios.orgfile import load_org
    from shared.domain import ActualState, Identity
    from shared.provisioning import apply, desired, plan
    from shared.settings import ProvisioningSettings

    loaded = load_org(generate_org(stores=1000, workers=20000, seed=1))
    org = loaded.org
    by_upn = {u.upn for u in loaded.directory}
    identities = {
        w.personnel_number: Identity(user_id=f"user-{w.personnel_number}", upn=w.upn)
        for w in org.workers
        if w.upn in by_upn
    }
    settings = ProvisioningSettings()
    today = date(2026, 11, 23)

    tracemalloc.start()
    start = time.perf_counter()
    want = desired(org, settings, identities, today)
    t_desired = time.perf_counter() - start
    start = time.perf_counter()
    first = plan(want, ActualState(), settings)
    t_first = time.perf_counter() - start
    converged = apply(first, ActualState(), new_team_id=lambda key: f"team-{key}")
    start = time.perf_counter()
    again = plan(want, converged, settings)
    t_again = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "teams_desired": len(want.teams),
        "desired_s": t_desired,
        "plan_first_provisioning_s": t_first,
        "operations_first_provisioning": len(first.operations),
        "plan_converged_s": t_again,
        "operations_converged": len(again.operations),
        "peak_traced_memory_mb": peak / 1e6,
    }


def _graph_totals(stack: Any) -> tuple[int, int, int, dict[str, int]]:
    """(requests, writes, throttled, by route) the Graph sandbox has counted so far: every request
    a $batch carries counts as one; the $batch envelope itself is not counted."""
    snap = stack.graph.counters()
    totals = {k: int(v) for k, v in snap.get("totals", {}).items() if "$batch" not in k}
    requests = sum(totals.values())
    writes = sum(v for k, v in totals.items() if not k.upper().startswith("GET"))
    return requests, writes, int(snap.get("throttled", 0)), totals


def _peak_rss_mb(pid: int | None) -> float | None:
    """VmHWM of a live process (Linux), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _history(stack: Any, name: str) -> dict[str, int]:
    """Events and JSON bytes of the largest durable history among `name` instances (all
    generations of a continue-as-new instance count as its current one only, like Durable's)."""
    import httpx

    largest = {"events": 0, "bytes": 0}
    for inst in stack.orchestrations():
        if inst.get("name") != name:
            continue
        r = httpx.get(
            f"{stack.host_url}/runtime/webhooks/durabletask/instances/{inst['instanceId']}",
            params={"showHistory": "true", "showHistoryOutput": "true"}, timeout=60,
        )  # fmt: skip
        events = (r.json() or {}).get("historyEvents") or [] if r.status_code < 400 else []
        size = len(json.dumps(events))
        if size > largest["bytes"]:
            largest = {"events": len(events), "bytes": size}
    return largest


def _cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds a live process has used so far (Linux /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


def _tree(pid: int | None) -> list[int]:
    """`pid` and its live child processes (the host's worker processes, FUNCTIONS_WORKER_PROCESS_COUNT)."""
    if pid is None:
        return []
    found = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _tree_cpu_s(pid: int | None) -> dict[int, float]:
    """CPU seconds so far of the host and of each of its worker processes, by pid."""
    return {p: cpu for p in _tree(pid) if (cpu := _cpu_s(p)) is not None}


def _own_cpu_s() -> float:
    """CPU seconds of this process: the bench driver and the sandboxes it runs in its threads."""
    return time.process_time()


def _profiled() -> bool:
    return os.environ.get("CTS_BENCH_PROFILE", "1") != "0"


def stack_reconcile(stores: int | None = None) -> dict[str, Any]:
    """The whole app on the local stack (host process, Graph and Commerce sandboxes) with a
    generated org of `stores` stores (20 workers each; CTS_BENCH_STORES, default 1000): the first
    provisioning through a full reconciliation, then a reconciliation of the converged org (the
    delta round after provisioning), then another (`nightly_*`: a night with nothing changed) --
    wall time, Graph requests and writes for each, the host's top functions
    by CPU during the first provisioning (py-spy, when installed; CTS_BENCH_PROFILE=0 skips),
    its peak RSS and the largest reconcile_all history; then events per second through the
    host: a burst of store-changed events for the converged org."""
    from bench.profile import Profile
    from local.scenarios.player import provision_org, request_reconcile
    from local.stack import Stack

    n = stores or int(os.environ.get("CTS_BENCH_STORES", "1000"))
    org, config, processes = _app_stack(n)
    out: dict[str, Any] = {"stores": n, "workers": n * 20, "worker_processes": processes}
    out["parallel_batches"] = int(config.extra_settings.get("CTS_RECONCILE__PARALLEL_BATCHES", "0")) or None
    with Stack(config) as stack:
        assert stack.host is not None
        _wait_for_workers(stack, processes)
        start, start_mono = time.perf_counter(), time.monotonic()
        host_cpu, own_cpu = _tree_cpu_s(stack.host.pid), _own_cpu_s()
        drift_before = _drift_outcomes(stack)
        with Profile(_tree(stack.host.pid) if _profiled() else None) as profile:
            first = provision_org(stack, converge_timeout=4 * 3600)
        out["first_provisioning_s"] = time.perf_counter() - start
        # The teams alone, the work the Graph floor does: from asking for the reconciliation to
        # the first look that found nothing in flight (every pass, write-back and notification of
        # it handled; at most the wait's 0.2 s poll late), without the wait's own 1 s of quiet
        # and the task mirroring that first_provisioning_s goes on to (provision_org).
        teams_at = first.get("teams_quiet_at")
        out["first_teams_s"] = teams_at - start_mono if teams_at is not None else None
        # Where the CPU went: the host process and its worker processes (FUNCTIONS_WORKER_PROCESS_COUNT;
        # a share of the wall time near 1.0 per process means the app, not Graph, bounds the
        # wall), and this process (the Graph and Commerce sandboxes run in its threads, with the
        # bench's own polling).
        host_after = _tree_cpu_s(stack.host.pid)
        used = {p: host_after[p] - host_cpu.get(p, 0.0) for p in host_after}
        host_used = sum(used.values()) if used else None
        wall = out["first_provisioning_s"]
        out["first_host_cpu_s"] = host_used
        out["first_host_cpu_share"] = host_used / wall if host_used is not None else None
        out["first_host_process_cpu_s"] = used.get(stack.host.pid)
        out["first_worker_processes_cpu_s"] = sorted((v for p, v in used.items() if p != stack.host.pid),
                                                     reverse=True)  # fmt: skip
        out["first_sandboxes_cpu_s"] = _own_cpu_s() - own_cpu
        out["first_provisioning_converged"] = bool(first["converged"])
        # The change notifications the provisioning's own writes caused, by outcome: an echo the
        # processor misses ("sync-started"/"sync-pending") costs one converged no-op pass.
        drift_after = _drift_outcomes(stack)
        out["first_drift_outcomes"] = {k: v - drift_before.get(k, 0) for k, v in sorted(drift_after.items())
                                       if v - drift_before.get(k, 0)}  # fmt: skip
        req, writes, throttled, routes = _graph_totals(stack)
        out |= {"first_graph_requests": req, "first_graph_writes": writes, "first_throttled": throttled}
        out["first_top_routes"] = dict(sorted(routes.items(), key=lambda kv: -kv[1])[:8])
        top = profile.top(10)
        out["first_host_profile_top10"] = (
            [f"{share:.1%} {name}" for name, share in top] if top else (profile.problem or "not profiled")
        )
        out["first_host_profile_top10_inclusive"] = [
            f"{share:.1%} {name}" for name, share in profile.top(10, inclusive=True)
        ]

        start = time.perf_counter()
        request_reconcile(stack)
        converged = stack.converged(timeout=4 * 3600)
        out["converged_reconcile_s"] = time.perf_counter() - start
        out["converged_reconcile_converged"] = converged
        req2, writes2, _, routes2 = _graph_totals(stack)
        out["converged_top_routes"] = dict(
            sorted(((k, v - routes.get(k, 0)) for k, v in routes2.items() if v - routes.get(k, 0)),
                   key=lambda kv: -kv[1])[:8]
        )  # fmt: skip
        out["converged_graph_requests"] = req2 - req
        out["converged_graph_writes"] = writes2 - writes
        out["converged_graph_requests_per_store"] = (req2 - req) / n
        # The round above reads what changed since the token the first provisioning's round took:
        # every group made since (one /groups/delta page per ~100). A night with nothing changed
        # is the round after it: measured apart, as `nightly_*`.
        start = time.perf_counter()
        request_reconcile(stack)
        out["nightly_reconcile_converged"] = stack.converged(timeout=4 * 3600)
        out["nightly_reconcile_s"] = time.perf_counter() - start
        req3, writes3, _, routes3 = _graph_totals(stack)
        out["nightly_graph_requests"] = req3 - req2
        out["nightly_graph_writes"] = writes3 - writes2
        out["nightly_top_routes"] = dict(
            sorted(((k, v - routes2.get(k, 0)) for k, v in routes3.items() if v - routes2.get(k, 0)),
                   key=lambda kv: -kv[1])[:8]
        )  # fmt: skip
        history = _history(stack, "reconcile_all")
        out["reconcile_all_history_events"] = history["events"]
        out["reconcile_all_history_bytes"] = history["bytes"]

        out |= event_burst(stack, org, min(2000, n * 2))
        # The host process's own peak (the figure the goal and the baseline name), and each
        # worker process's: every process holds its own copy of what its invocations read, so the
        # app's memory on one instance is about their sum.
        out["host_peak_rss_mb"] = _peak_rss_mb(stack.host.pid)
        workers = [p for p in _tree(stack.host.pid) if p != stack.host.pid]
        out["worker_processes_peak_rss_mb"] = [_peak_rss_mb(p) for p in workers]
    return out


def _app_stack(n: int) -> tuple[dict[str, Any], Any, int]:
    """(org, stack config, worker processes) of the app's stack cases: the generated org of `n`
    stores (20 workers each, seed 1, the floor's too), CTS_BENCH_WORKER_PROCESSES (default 2) and
    CTS_BENCH_PARALLEL_BATCHES (default: the app's)."""
    from local.scenarios.generate import dump_org, generate_org
    from local.stack import StackConfig

    data = Path(tempfile.mkdtemp(prefix="cts-bench-"))
    org_file = data / "org.json"
    org = generate_org(stores=n, workers=n * 20, seed=1)
    org_file.write_text(dump_org(org), encoding="utf-8")
    processes = int(os.environ.get("CTS_BENCH_WORKER_PROCESSES", "2"))
    extra = {"FUNCTIONS_WORKER_PROCESS_COUNT": str(processes)}
    if os.environ.get("CTS_BENCH_PARALLEL_BATCHES"):  # else the app's default
        extra["CTS_RECONCILE__PARALLEL_BATCHES"] = os.environ["CTS_BENCH_PARALLEL_BATCHES"]
    config = StackConfig(org=org_file, data_dir=data / "stack", port_base=0, graph_scale=GRAPH_SCALE,
                         extra_settings=extra)  # fmt: skip
    return org, config, processes


def _first_teams_s(n: int) -> tuple[float | None, float]:
    """stack_reconcile's `first_teams_s` alone, on a fresh stack: from asking for the first
    provisioning to the first look that found nothing in flight (None: it did not converge);
    and the CPU seconds of the host's processes and of this one (the sandboxes) over the whole
    first provisioning (its task mirroring and the wait's second of quiet included)."""
    from local.scenarios.player import provision_org
    from local.stack import Stack

    _, config, processes = _app_stack(n)
    with Stack(config) as stack:
        assert stack.host is not None
        _wait_for_workers(stack, processes)
        host_cpu, own_cpu = _tree_cpu_s(stack.host.pid), _own_cpu_s()
        start = time.monotonic()
        first = provision_org(stack, converge_timeout=4 * 3600)
        quiet = first.get("teams_quiet_at")
        host_after = _tree_cpu_s(stack.host.pid)
        cpu = sum(v - host_cpu.get(p, 0.0) for p, v in host_after.items()) + _own_cpu_s() - own_cpu
        return (quiet - start if first["converged"] and quiet is not None else None), cpu


def teams_over_floor_rounds(stores: int | None = None) -> dict[str, Any]:
    """`teams_over_floor` measured again in CTS_BENCH_RATIO_ROUNDS rounds (default 3; 0 skips):
    in each, the app's first provisioning (`first_teams_s`, fresh stack) and the Graph floor
    (`graph_floor`) back to back, the order alternating (app first, then floor first, ...) so a
    drift of the machine's speed over the minutes weighs on both alike. On this 2-core VM the
    same code's first provisioning took 19.6 s and 30.0 s within minutes (its CPU seconds moved
    as much: the cores themselves ran slower, no steal), so one pair is not a verdict: the
    median of the rounds' ratios is the figure to read, min and max its spread.

    `cpu_over_floor`: the CPU seconds of the same two runs (the app's processes and sandboxes
    over its first provisioning; the floor's client and sandboxes): what the app costs beside
    what it takes. Not steadier on this VM: a slow spell stretched the app's CPU seconds (both
    cores busy) more than the floor's (39.4 and 49.9 CPU-s for the same code, 1.81 to 2.23)."""
    n = stores or int(os.environ.get("CTS_BENCH_STORES", "1000"))
    rounds = int(os.environ.get("CTS_BENCH_RATIO_ROUNDS", "3"))
    teams: list[float | None] = []
    floors: list[float] = []
    cpu: list[tuple[float, float]] = []  # (app, floor) CPU seconds, per round
    app_cpu, floor_cpu = 0.0, 0.0
    for r in range(rounds):
        for what in ("app", "floor") if r % 2 == 0 else ("floor", "app"):
            if what == "app":
                teams_s, app_cpu = _first_teams_s(n)
                teams.append(teams_s)
            else:
                floor = _floor(n, parts=1)
                floors.append(float(floor["floor_s"]))
                floor_cpu = float(floor["client_cpu_s"]) + float(floor["sandboxes_cpu_s"])
        cpu.append((app_cpu, floor_cpu))
    ratios = [t / f for t, f in zip(teams, floors, strict=True) if t is not None and f > 0]
    cpu_ratios = [a / f for a, f in cpu if f > 0]
    return {
        "stores": n,
        "rounds": rounds,
        "first_teams_s": [None if t is None else round(t, 3) for t in teams],
        "floor_s": [round(f, 3) for f in floors],
        "teams_over_floor": [round(x, 3) for x in ratios],
        "teams_over_floor_median": statistics.median(ratios) if ratios else None,
        "teams_over_floor_min": min(ratios, default=None),
        "teams_over_floor_max": max(ratios, default=None),
        "app_cpu_s": [round(a, 2) for a, _ in cpu],
        "floor_cpu_s": [round(f, 2) for _, f in cpu],
        "cpu_over_floor": [round(x, 3) for x in cpu_ratios],
        "cpu_over_floor_median": statistics.median(cpu_ratios) if cpu_ratios else None,
        "not_converged": sum(1 for t in teams if t is None),
    }


def _drift_outcomes(stack: Any) -> dict[str, int]:
    """The drift processor's outcome counters (echo, sync-started, ...), from the app's state."""
    counters = stack.loop.run(stack.state().counters())
    return {k.removeprefix("drift."): v for k, v in counters.items() if k.startswith("drift.")}


def _wait_for_workers(stack: Any, processes: int, timeout: float = 120.0) -> None:
    """Until every worker process has loaded the app (the host serves before they have)."""
    import httpx

    deadline = time.monotonic() + timeout
    while processes > 1 and time.monotonic() < deadline:
        rows = httpx.get(stack.host_url + "/", timeout=10).json().get("workers") or []
        if sum(1 for r in rows if r.get("host") or r.get("ready")) >= processes:
            return
        time.sleep(0.2)


def stack_10000_stores() -> dict[str, Any]:
    """`stack_reconcile` at 10,000 stores / 200,000 workers (opt-in: `--only stack_10000_stores`;
    about 11 minutes on 2 cores: the first provisioning took 276 s on 2026-12-03, 700 s before
    that day's batching)."""
    return stack_reconcile(10_000)


def graph_floor(stores: int | None = None) -> dict[str, Any]:
    """The Graph floor of the first provisioning of the same generated org (CTS_BENCH_STORES):
    `python -m bench.floor` sends the app's Graph requests for it straight from one process, every
    team at once, to a fresh Graph sandbox at the same time scale and throttling, with the host
    stopped and no Graph subscription (so no change notifications). `make bench`
    puts the app's ratio to it (stack_reconcile's first provisioning / this) in the table."""
    return _floor(stores, parts=1)


def graph_floor_parallel(stores: int | None = None) -> dict[str, Any]:
    """`graph_floor` with the teams split between two `bench.floor` processes run together (the
    same Graph requests, split two ways). One process is bound by its own CPU (its client CPU is
    about its wall time: it drives msgraph-sdk, the app's client); two show how much of the
    single-process floor is that client rather than the Graph sandbox. Reported beside the floor,
    not used in the ratios (since 2026-12-07)."""
    return _floor(stores, parts=2)


def _floor(stores: int | None, parts: int) -> dict[str, Any]:
    import httpx

    from local.scenarios.generate import dump_org, generate_org
    from local.stack import Stack, StackConfig

    n = stores or int(os.environ.get("CTS_BENCH_STORES", "1000"))
    data = Path(tempfile.mkdtemp(prefix="cts-floor-"))
    org_file = data / "org.json"
    org_file.write_text(dump_org(generate_org(stores=n, workers=n * 20, seed=1)), encoding="utf-8")
    config = StackConfig(org=org_file, data_dir=data / "stack", port_base=0, graph_scale=GRAPH_SCALE)
    with Stack(config) as stack:
        # The floor process does the work, with nothing of the app in between: the host is
        # stopped and the Graph subscriptions it made at start-up are deleted. (Until 2026-12-03
        # the host stayed up "idle", so the floor also paid for the host handling the ~19,000
        # notifications Graph sent it: the app's own work, which made the floor ~40 % slower.)
        assert stack.host is not None and stack.graph is not None
        stack.host.stop()
        graph_api = f"{stack.graph.root_url}/v1.0"
        headers = stack.graph.auth_headers
        listed = httpx.get(f"{graph_api}/subscriptions", headers=headers, timeout=30)
        for sub in listed.json().get("value", []):
            gone = httpx.delete(f"{graph_api}/subscriptions/{sub['id']}", headers=headers, timeout=30)
            gone.raise_for_status()
        # The stack's CTS_* settings, and the bench's own knobs (CTS_BENCH_*) for bench.floor.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTS_") or k.startswith("CTS_BENCH_")}
        env |= stack.settings
        env["PYTHONPATH"] = str(ROOT)
        # After the host is stopped (and reaped), so the children's CPU is the floor processes'.
        children, own_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), _own_cpu_s()
        start = time.perf_counter()
        command = [sys.executable, "-m", "bench.floor"]
        runs = [
            subprocess.Popen(
                [*command, "--part", str(k), "--parts", str(parts)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(parts)
        ]
        outputs = [run.communicate(timeout=4 * 3600) for run in runs]
        wall = time.perf_counter() - start
        sandbox_cpu = _own_cpu_s() - own_cpu
        done = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (done.ru_utime + done.ru_stime) - (children.ru_utime + children.ru_stime)
        for run, (_, err) in zip(runs, outputs, strict=True):
            if run.returncode != 0:
                raise RuntimeError(f"bench.floor failed: {err[-2000:]}")
        results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        req, writes, throttled, _ = _graph_totals(stack)
    if parts == 1:
        result = results[0]
    else:  # the parts together: the slowest part is the floor, the counts add up
        result = {
            "processes": parts,
            "floor_s": max(r["floor_s"] for r in results),
            "teams": sum(r["teams"] for r in results),
            "operations": sum(r["operations"] for r in results),
            "operations_not_done": sum(r["operations_not_done"] for r in results),
            "requests_sent": sum(r["requests_sent"] for r in results),
        }
    return {"stores": n, **result, "process_wall_s": wall, "graph_requests": req, "graph_writes": writes,
            "throttled": throttled, "client_cpu_s": client_cpu, "sandboxes_cpu_s": sandbox_cpu}  # fmt: skip


def notifications_throughput(
    notifications: int = 5000, per_post: int = 10, rate: float = 600.0
) -> dict[str, Any]:
    """Webhook -> queue -> processed on the local host: `notifications` member-change
    notifications for the provisioned teams of a small org (CTS_BENCH_NOTIFY_STORES, default
    20), POSTed `per_post` to a body at `rate` notifications/s from 16 connections, as Graph
    would, by a client in its own process (bench/load.py); the answer time of each POST measured
    at that client (p50/p99) and the rate at which the processor's outcome counters caught up
    (`processed_per_s`: notifications handled by the queue trigger, one message = one batch).
    Members named are not the app's changes, so every notification is drift: each batch
    requests one sync per team it names, and those passes run in the same host meanwhile --
    reported apart (`sync_passes_in_window`, from the host log), not counted as processed."""
    import base64

    from local.scenarios.generate import dump_org, generate_org
    from local.scenarios.player import provision_org
    from local.stack import Stack, StackConfig

    n = int(os.environ.get("CTS_BENCH_NOTIFY_STORES", "20"))
    data = Path(tempfile.mkdtemp(prefix="cts-notify-"))
    org_file = data / "org.json"
    org_file.write_text(dump_org(generate_org(stores=n, workers=n * 20, seed=1)), encoding="utf-8")
    config = StackConfig(org=org_file, data_dir=data / "stack", port_base=0, graph_scale=GRAPH_SCALE)
    with Stack(config) as stack:
        provision_org(stack, converge_timeout=1800)
        team_ids = [r.team_id for r in stack.loop.run(team_records.list_teams(stack.state()))]
        url = stack.settings["CTS_WEBHOOK__NOTIFICATION_URL"]
        secret = stack.settings["CTS_WEBHOOK__CLIENT_STATE"]
        # The subscription the keeper created at start-up (a notification of any other id is
        # dropped by the webhook or the processor, as it must be) and a GUID tenant (Graph's).
        subscription = _members_subscription(stack, url)
        tenant = stack.settings.get("CTS_GRAPH__TENANT_ID") or "00000000-0000-4000-8000-0000000000b1"

        def item(i: int) -> dict[str, Any]:
            team = team_ids[i % len(team_ids)]
            membership = base64.b64encode(f"0#{team}##bench-user-{i}".encode()).decode()
            return {"subscriptionId": subscription, "clientState": secret, "changeType": "updated",
                    "resource": f"teams('{team}')/members('{membership}')", "tenantId": tenant}  # fmt: skip

        def processed() -> int:
            counters = stack.loop.run(stack.state().counters())
            return sum(v for k, v in counters.items() if k.startswith("drift."))

        assert stack.host is not None
        log_path = stack.host.log_path
        log_start = log_path.stat().st_size
        before = processed()
        posts = [
            {"value": [item(i * per_post + j) for j in range(per_post)]}
            for i in range(notifications // per_post)
        ]
        posts_file = data / "posts.jsonl"
        posts_file.write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        load = [sys.executable, "-m", "bench.load", str(posts_file), url, "--rate", str(rate / per_post),
                "--connections", "16"]  # fmt: skip

        from bench.profile import Profile

        assert stack.host is not None
        start = time.perf_counter()
        with Profile(stack.host.pid if _profiled() else None) as profile:
            # The client in its own process (bench/load.py): not sharing a GIL with the sandboxes.
            run = subprocess.run(load, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
            if run.returncode != 0:
                raise RuntimeError(f"bench.load failed: {run.stderr[-2000:]}")
            sent = json.loads(run.stdout.strip().splitlines()[-1])
            send_s, latencies, statuses = sent["send_s"], sent["latencies"], sent["statuses"]
            (data / "answers.json").write_text(run.stdout, encoding="utf-8")  # for a closer look
            total = len(posts) * per_post
            deadline = time.monotonic() + 600
            while processed() - before < total and time.monotonic() < deadline:
                time.sleep(0.05)
            done_s = time.perf_counter() - start
            window = _host_log_counts(log_path, log_start)
        top = profile.top(10)
        interval = per_post / rate
        got = processed() - before
        latencies.sort()
    return {
        "notifications": total, "per_post": per_post, "offered_rate_per_s": rate,
        "send_s": send_s, "accepted_202": statuses.count(202),
        "answer_p50_ms": 1000 * latencies[len(latencies) // 2],
        "answer_p90_ms": 1000 * latencies[int(len(latencies) * 0.9)],
        "answer_p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "answer_max_ms": 1000 * latencies[-1],
        # How late the client itself sent its latest POST against its schedule: when this is
        # as large as the tail above, the client process (or the machine) stalled, not the host.
        "client_late_max_ms": 1000 * max(t - i * interval for i, t in enumerate(sorted(sent["sent_at"]))),
        "processed": got, "processed_per_s": got / done_s,
        # The queue trigger's work (one message = one batch) apart from the sync passes the
        # batches requested, which run in the same host meanwhile (counted from its log).
        "batches_processed": window["batches"], "queued_notifications": window["queued"],
        "sync_passes_in_window": window["passes"],
        "host_profile_top10": [f"{share:.1%} {name}" for name, share in top] if top else profile.problem,
        "host_profile_raw": str(profile.raw),
    }  # fmt: skip


def _members_subscription(stack: Any, url: str) -> str:
    """The id of the subscription the host's keeper holds for `url` (waits for the start-up run)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for s in stack.loop.run(subscription_records.list_subscriptions(stack.state())):
            if s.notification_url.split("?")[0] == url.split("?")[0]:
                return str(s.subscription_id)
        time.sleep(0.5)
    raise RuntimeError("the host created no Graph subscription for the notification URL")


def _host_log_counts(path: Path, offset: int) -> dict[str, int]:
    """Batches handled, notifications queued and team sync passes in the host log since `offset`."""
    with path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    queued = 0
    for line in text.splitlines():
        if "graph notifications queued" in line:
            part = line.partition("accepted=")[2].split(" ", 1)[0]
            queued += int(part) if part.isdigit() else 0
    return {"batches": text.count("graph notifications processed"), "queued": queued,
            "passes": text.count(" teams pass ")}  # fmt: skip


def planner_poll(plan_counts: tuple[int, ...] = (1000, 10_000), seed: int = 7) -> dict[str, Any]:
    """The adaptive Planner poll (shared/tasks/poll.py) simulated over one day at 1,000 and
    10,000 plans with its default settings (interval 120 s / 900 s / 3,600 s, budget 36,000
    listings an hour; the timer fires every 2 minutes): listings (inner requests) and $batch
    calls per day, and the delay between a change in Teams and the poll that sees it (worst and
    p99). Activity: a fifth of the plans are busy (4 changes a day, between 08:00 and 20:00),
    the rest quiet (one change in five days); a tenth have an open task due that day. The
    fixed poll it replaces listed every plan every 2 minutes (720 listings a plan a day, delay
    at most 120 s)."""
    import math
    import random
    from datetime import UTC, datetime, timedelta

    from shared.settings import TaskSettings
    from shared.tasks.poll import BATCH_LIMIT, PlanPoll, allowance, choose_plans

    settings = TaskSettings()
    out: dict[str, Any] = {"budget_per_hour": settings.poll_budget_per_hour}
    for n in plan_counts:
        rng = random.Random(seed)
        start = datetime(2026, 12, 1, tzinfo=UTC)
        plans = [f"p{i:05d}" for i in range(n)]
        busy = set(rng.sample(plans, n // 5))
        due = frozenset(rng.sample(plans, n // 10))
        changes: dict[str, list[datetime]] = {}
        for p in plans:  # change times over the day (store hours)
            rate = 4.0 if p in busy else 0.2
            k = sum(1 for _ in range(20) if rng.random() < rate / 20)
            changes[p] = sorted(start + timedelta(hours=8 + 12 * rng.random()) for _ in range(k))
        # Steady state at midnight: every plan listed within its interval; busy plans changed
        # yesterday (so they are warm), quiet ones not for days.
        polls = {
            p: PlanPoll(
                polled_at=start - timedelta(seconds=rng.uniform(0, 900 if p in busy else 3600)),
                changed_at=start - timedelta(hours=rng.uniform(4, 16)) if p in busy else None,
            )
            for p in plans
        }
        pending = {p: list(ts) for p, ts in changes.items()}
        delays: list[float] = []
        listings = batches = 0
        wall = time.perf_counter()
        for r in range(1, 721):
            now = start + timedelta(seconds=120 * r)
            chosen = choose_plans(plans, polls, due, now, settings, allowance(120, settings))
            listings += len(chosen)
            batches += math.ceil(len(chosen) / BATCH_LIMIT)
            for p in chosen:
                seen = [t for t in pending[p] if t <= now]
                if seen:
                    delays += [(now - t).total_seconds() for t in seen]
                    pending[p] = [t for t in pending[p] if t > now]
                changed = now if seen else polls[p].changed_at
                polls[p] = PlanPoll(polled_at=now, changed_at=changed)
        undetected = sum(len(ts) for ts in pending.values())  # changes after the last round
        delays.sort()
        out |= {
            f"plans_{n}_listings_per_day": listings,
            f"plans_{n}_batch_calls_per_day": batches,
            f"plans_{n}_fixed_poll_listings_per_day": n * 720,
            f"plans_{n}_changes": len(delays) + undetected,
            f"plans_{n}_worst_detection_delay_s": delays[-1] if delays else 0.0,
            f"plans_{n}_p99_detection_delay_s": delays[int(len(delays) * 0.99)] if delays else 0.0,
            f"plans_{n}_median_detection_delay_s": delays[len(delays) // 2] if delays else 0.0,
            f"plans_{n}_simulation_s": time.perf_counter() - wall,
        }
    return out


def event_burst(stack: Any, org: dict[str, Any], events: int, tag: str = "BENCH") -> dict[str, Any]:
    """`events` store-changed events for a converged org, sent at once; events/s until converged."""
    import json

    numbers = [s["number"] for s in org["stores"]]
    before = _graph_totals(stack)
    start = time.perf_counter()
    for i in range(events):
        body = {"BusinessEventId": "CTS_StoreChangedBusinessEvent", "EventId": f"{tag}-{i:06d}",
                "BusinessEventLegalEntity": org.get("legal_entity", "USRT"),
                "ControlNumber": 9_000_000_000 + i, "EventTime": f"/Date({int(time.time() * 1000)})/",
                "MajorVersion": 0, "MinorVersion": 0, "StoreNumber": numbers[i % len(numbers)],
                "ChangeKind": "Changed"}  # fmt: skip
        stack.bus.send_raw(json.dumps(body).encode(), message_id=f"{tag.lower()}-{i}")
    sent = time.perf_counter() - start
    done = stack.converged(timeout=3600, stable=0.5)
    elapsed = time.perf_counter() - start
    after = _graph_totals(stack)
    # The sync passes the burst took, read off Graph: each reads its team's state once
    # (shared/sync/team_pass.py `actual_team`, GET /teams/{id}). A store's second event either
    # joins the pass its first one asked for or arrives during it and makes one more, so the same
    # 2,000 events for 1,000 stores take between 1,000 and 2,000 passes (1,622 in one run, in
    # 49 s; convergence took 35 to 57 s across one evening's runs): read events/s beside it.
    route = "GET /teams/{id}"
    passes = after[3].get(route, 0) - before[3].get(route, 0)
    return {"events": events, "events_send_s": sent, "events_until_converged_s": elapsed,
            "events_per_s": events / elapsed, "events_converged": done,
            "events_team_passes": passes, "events_graph_requests": after[0] - before[0]}  # fmt: skip


def tracing_overhead(stores: int | None = None, events: int | None = None) -> dict[str, Any]:
    """Events/s through the host with the OpenTelemetry pipeline on (spans and metrics to
    <data>/host/telemetry/*.jsonl, local/host/telemetry.py) and off (CTS_LOCAL_TRACING=0), on the
    same generated org (CTS_BENCH_TRACING_STORES, default 100 stores; CTS_BENCH_TRACING_EVENTS,
    default 600 events). Each run gets a fresh stack, provisioned first."""
    import os
    import tempfile

    from local.scenarios.generate import dump_org, generate_org
    from local.scenarios.player import provision_org
    from local.stack import Stack, StackConfig

    n = stores or int(os.environ.get("CTS_BENCH_TRACING_STORES", "100"))
    count = events or int(os.environ.get("CTS_BENCH_TRACING_EVENTS", "600"))
    org = generate_org(stores=n, workers=n * 20, seed=1)
    out: dict[str, Any] = {"stores": n, "events": count}
    for mode, flag in (("traced", "1"), ("untraced", "0")):
        data = Path(tempfile.mkdtemp(prefix=f"cts-bench-{mode}-"))
        (data / "org.json").write_text(dump_org(org), encoding="utf-8")
        config = StackConfig(org=data / "org.json", data_dir=data / "stack", port_base=0, graph_scale=0.05,
                             extra_settings={"CTS_LOCAL_TRACING": flag})  # fmt: skip
        with Stack(config) as stack:
            provision_org(stack, converge_timeout=3600)
            burst = event_burst(stack, org, count, tag=f"TRACE{flag}")
            spans = stack.data / "host" / "telemetry" / "spans.jsonl"
            out[f"{mode}_events_per_s"] = burst["events_per_s"]
            out[f"{mode}_converged"] = burst["events_converged"]
            if flag == "1":
                out["traced_span_file_mb"] = spans.stat().st_size / 1e6 if spans.is_file() else 0.0
    out["tracing_overhead_pct"] = 100.0 * (1 - out["traced_events_per_s"] / out["untraced_events_per_s"])
    return out

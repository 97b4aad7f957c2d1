"""FUNCTIONS_WORKER_PROCESS_COUNT: invocations spread over worker processes, the app's own log
records and errors come back to the host, a dead worker is started again, a bad value refuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.host import LocalHost, running_host
from local.host.loader import AppLoadError
from local.host.workers import WorkerProcessCountError, process_count
from shared.bus.protocol import OutgoingMessage
from tests.host.process import HOST_SETTINGS

APP = str(Path(__file__).parent / "apps" / "workers_app.py")


def _settings(tmp_path: Path, count: str) -> dict[str, str]:
    return {
        **HOST_SETTINGS,
        "WORKERS_LOG": str(tmp_path / "workers.log"),
        "FUNCTIONS_WORKER_PROCESS_COUNT": count,
    }


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status(host: LocalHost) -> dict[str, Any]:
    return dict(httpx.get(host.base_url + "/", timeout=5).json())


def workers_ready(host: LocalHost, count: int) -> bool:
    rows = status(host).get("workers") or []
    return sum(1 for r in rows if r.get("host") or r.get("ready")) == count


def on_host(host: LocalHost, coroutine: Any, timeout: float = 30) -> Any:
    assert host.loop is not None
    return asyncio.run_coroutine_threadsafe(coroutine, host.loop).result(timeout)


def recorded(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "workers.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    with running_host(APP, tmp_path / "host", 0, _settings(tmp_path, "3"), grace_period=5) as running:
        wait_for(lambda: workers_ready(running, 3))
        yield running


@pytest.mark.parametrize(("raw", "expected"), [(None, 1), ("", 1), ("1", 1), (" 4 ", 4), ("10", 10)])
def test_the_setting_defaults_to_one_and_allows_up_to_ten(raw: str | None, expected: int) -> None:
    assert process_count({} if raw is None else {"FUNCTIONS_WORKER_PROCESS_COUNT": raw}) == expected


@pytest.mark.parametrize("raw", ["0", "11", "two", "-1", "1.5"])
def test_a_bad_value_refuses_to_start_and_names_the_setting(tmp_path: Path, raw: str) -> None:
    with pytest.raises(WorkerProcessCountError, match="FUNCTIONS_WORKER_PROCESS_COUNT"):
        process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": raw})
    with pytest.raises(AppLoadError, match="FUNCTIONS_WORKER_PROCESS_COUNT"):
        with running_host(APP, tmp_path / "host", 0, _settings(tmp_path, raw)):
            pass


def test_with_one_process_everything_runs_in_the_host(tmp_path: Path) -> None:
    with running_host(APP, tmp_path / "host", 0, _settings(tmp_path, "1"), grace_period=5) as host:
        assert "workers" not in status(host)
        on_host(host, host.broker.send("work", [OutgoingMessage(body=b"a", message_id="m-a")]))
        wait_for(lambda: len(recorded(tmp_path)) == 1)
    assert recorded(tmp_path)[0]["pid"] == os.getpid()


def test_service_bus_invocations_spread_over_the_processes_and_outputs_are_sent(
    host: LocalHost, tmp_path: Path
) -> None:
    bodies = [f"slow-{i}" for i in range(12)]
    on_host(host, host.broker.send("work", [OutgoingMessage(body=b.encode(), message_id=b) for b in bodies]))
    wait_for(lambda: len(recorded(tmp_path)) == len(bodies))
    rows = recorded(tmp_path)
    assert sorted(r["body"] for r in rows) == sorted(bodies)  # each output binding sent once
    worker_pids = {r["pid"] for r in rows}
    assert len(worker_pids) >= 2 and worker_pids - {os.getpid()}  # not all in the host process
    assert len({r["invocation_id"] for r in rows}) == len(bodies)  # the context crossed over
    counted = {r["pid"]: r["invocations"] for r in status(host)["workers"]}
    assert set(counted) >= worker_pids


def test_activities_run_in_worker_processes_and_their_results_come_back(host: LocalHost) -> None:
    assert host.engine is not None
    instance = on_host(host, host.engine.start_new("spread", None, {"count": 24}))
    done = on_host(host, host.engine.wait_for_completion(instance, timeout=60), timeout=70)
    assert done["runtimeStatus"] == "Completed", done
    results = done["output"]
    assert sorted(r["n"] for r in results) == list(range(24))
    by_process = Counter(r["pid"] for r in results)
    # spread evenly over the three processes (an invocation here counts while it runs, too)
    assert len(by_process) == 3 and min(by_process.values()) >= 4, by_process


def test_an_activity_failing_in_a_worker_fails_with_its_own_type_and_message(host: LocalHost) -> None:
    assert host.engine is not None
    instance = on_host(host, host.engine.start_new("failing", None, None))
    done = on_host(host, host.engine.wait_for_completion(instance, timeout=30), timeout=40)
    assert done["runtimeStatus"] == "Completed", done
    assert "KeyError" in done["output"]["failed"] and "no such thing: boom" in done["output"]["failed"]


def test_a_workers_log_records_reach_the_host_with_the_invocation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # before the start: a worker logs at the host's level
    with running_host(APP, tmp_path / "host", 0, _settings(tmp_path, "2"), grace_period=5) as host:
        wait_for(lambda: workers_ready(host, 2))
        bodies = [f"slow-log-{i}" for i in range(6)]
        on_host(
            host, host.broker.send("work", [OutgoingMessage(body=b.encode(), message_id=b) for b in bodies])
        )
        wait_for(lambda: len(recorded(tmp_path)) == len(bodies))
    by_body = {r["body"]: r for r in recorded(tmp_path)}
    remote = [r for r in by_body.values() if r["pid"] != os.getpid()]
    assert remote
    wait_for(
        lambda: all(any(f"worked on {r['body']}" in x.getMessage() for x in caplog.records) for r in remote)
    )
    for r in remote:
        record = next(x for x in caplog.records if x.getMessage() == f"worked on {r['body']}")
        assert record.process == r["pid"]  # logged in the worker process
        assert (getattr(record, "function", None), getattr(record, "invocation_id", None)) == (
            "work",
            r["invocation_id"],
        )


def test_a_failing_message_in_a_worker_is_retried_and_dead_lettered(
    host: LocalHost, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.bus.protocol import EntityRef

    caplog.set_level(logging.ERROR, logger="local.host")
    on_host(host, host.broker.send("work", [OutgoingMessage(body=b"poison", message_id="p-1")]))

    def dead_lettered() -> list[Any]:
        return list(on_host(host, host.broker.peek_dead_letters(EntityRef("work"))))

    wait_for(lambda: len(dead_lettered()) == 1, timeout=60)
    assert "after 10 delivery attempts" in (dead_lettered()[0].dead_letter_error_description or "")
    errors = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Function error")]
    # the original type and message, with the traceback from the worker process
    assert any("ValueError: cannot process poison" in e and "workers_app.py" in e for e in errors), errors


def test_a_worker_that_dies_is_started_again(host: LocalHost, tmp_path: Path) -> None:
    before = {r["number"]: r["pid"] for r in status(host)["workers"] if not r.get("host")}
    os.kill(before[2], signal.SIGKILL)

    def replaced() -> bool:
        now = {r["number"]: r["pid"] for r in status(host)["workers"]}
        return workers_ready(host, 3) and now.get(2) not in (None, before[2])

    wait_for(replaced)
    on_host(host, host.broker.send("work", [OutgoingMessage(body=f"after-{i}".encode()) for i in range(4)]))
    wait_for(lambda: len(recorded(tmp_path)) == 4)


def test_stopping_the_host_stops_its_workers(tmp_path: Path) -> None:
    with running_host(APP, tmp_path / "host", 0, _settings(tmp_path, "2"), grace_period=5) as host:
        wait_for(lambda: workers_ready(host, 2))
        pids = [r["pid"] for r in status(host)["workers"] if not r.get("host")]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_workers_spans_are_children_of_the_hosts_invocation_span(host: LocalHost, tmp_path: Path) -> None:
    bodies = [f"slow-span-{i}" for i in range(6)]
    on_host(host, host.broker.send("work", [OutgoingMessage(body=b.encode(), message_id=b) for b in bodies]))
    wait_for(lambda: len(recorded(tmp_path)) == len(bodies))
    remote = {r["body"] for r in recorded(tmp_path) if r["pid"] != os.getpid()}
    assert remote
    spans_file = host.data_dir / "telemetry" / "spans.jsonl"

    def spans() -> list[dict[str, Any]]:
        return [json.loads(line) for line in spans_file.read_text().splitlines()]  # every line whole

    wait_for(lambda: {s["attributes"].get("body") for s in spans() if s["name"] == "app work"} >= remote)
    by_id = {s["span_id"]: s for s in spans()}
    for span in (s for s in spans() if s["name"] == "app work" and s["attributes"].get("body") in remote):
        parent = by_id[span["parent_id"]]
        assert (parent["name"], parent["kind"], parent["trace_id"]) == ("work", "CONSUMER", span["trace_id"])


async def test_each_function_is_spread_evenly_whatever_else_is_in_flight(tmp_path: Path) -> None:
    """The choice alone (no processes): per function, fewest in flight, ties in turn."""
    import contextlib

    from local.host.workers import Worker, WorkerPool

    pool = WorkerPool(3, "app", tmp_path, logging.INFO)
    for number in (2, 3):
        pool.workers[number] = Worker(number, process=None, writer=None, ready=True)  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as held:
        # five long invocations of another function, all on worker 2 by chance of timing
        for _ in range(5):
            pool.workers[2].running["notifications"] += 1
        chosen = [await held.enter_async_context(pool.slot("batch")) for _ in range(6)]
        where = [None if c is None else c.number for c in chosen]
        assert sorted(where, key=str) == sorted([None, None, 2, 2, 3, 3], key=str)  # two each
    assert pool._local_running["batch"] == 0 and pool.workers[2].running["batch"] == 0  # released
    pool.not_picklable("odd", TypeError("cannot pickle"))
    for _ in range(3):
        async with pool.slot("odd") as worker:
            assert worker is None  # its arguments cannot cross: always here


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_workers_process_ends_with_the_host_process(tmp_path: Path, how: int) -> None:
    """`python -m local.host` killed (no shutdown at all) or stopped: no worker process is left."""
    from tests.host.process import HostProcess, free_port

    host = HostProcess(Path(APP), tmp_path / "host", free_port(), _settings(tmp_path, "2"))
    host.start(timeout=60)
    try:
        wait_for(lambda: workers_ready(host, 2))  # type: ignore[arg-type]
        [worker] = [r["pid"] for r in status(host)["workers"] if not r.get("host")]  # type: ignore[arg-type]
        host.signal(how)
        host.wait(30)

        def gone() -> bool:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                return True
            with contextlib.suppress(OSError):  # a zombie until reaped by init: exited all the same
                if Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
            return False

        wait_for(gone, timeout=15)
    finally:
        host.kill()

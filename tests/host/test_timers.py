"""Timer triggers through a running host: run_on_startup, past due after downtime, no overlap."""

import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from local.host import running_host
from local.host.timers import TimerStatus, TimerStatusStore
from tests.host.process import HOST_SETTINGS

APP = str(Path(__file__).parent / "apps" / "http_app.py")


def runs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def settings(data: Path) -> dict[str, str]:
    return {**HOST_SETTINGS, "TIMER_LOG": str(data / "timers.log"), "STARTUP_SCHEDULE": "0 0 0 1 1 *"}


def test_run_on_startup_fires_once_at_start_and_a_yearly_timer_does_not(tmp_path: Path) -> None:
    with running_host(APP, tmp_path, 0, settings(tmp_path), grace_period=5) as host:
        wait_for(lambda: any(r["name"] == "on_startup" for r in runs(tmp_path / "timers.log")))
        assert host.timers is not None
        assert host.timers.next_runs["yearly"].replace(tzinfo=None) == datetime(
            datetime.now(UTC).year + 1, 1, 1
        )
    fired = [r for r in runs(tmp_path / "timers.log") if r["name"] in ("on_startup", "yearly")]
    assert fired == [{"name": "on_startup", "past_due": False, "at": fired[0]["at"]}]


def test_a_run_missed_while_the_host_was_down_fires_once_past_due(tmp_path: Path) -> None:
    store = TimerStatusStore(tmp_path / "host.sqlite")
    for name in ("yearly", "on_startup"):  # the host last ran in 2020 and was down since
        store.put(
            name,
            TimerStatus(
                datetime(2020, 1, 1, tzinfo=UTC),
                datetime(2021, 1, 1, tzinfo=UTC),
                datetime(2020, 1, 1, tzinfo=UTC),
                "0 0 0 1 1 *",
            ),
        )
    store.close()
    with running_host(APP, tmp_path, 0, settings(tmp_path), grace_period=5):
        wait_for(lambda: {r["name"] for r in runs(tmp_path / "timers.log")} >= {"yearly", "on_startup"})
        time.sleep(0.3)
    fired = [(r["name"], r["past_due"]) for r in runs(tmp_path / "timers.log") if r["name"] != "every_second"]
    # Four missed years fire once; run_on_startup does not add a second run (as in Azure).
    assert sorted(fired) == [("on_startup", True), ("yearly", True)]

    (tmp_path / "timers.log").unlink()
    with running_host(APP, tmp_path, 0, settings(tmp_path), grace_period=5):  # nothing missed now
        wait_for(lambda: any(r["name"] == "on_startup" for r in runs(tmp_path / "timers.log")))
        time.sleep(0.3)
    fired = [(r["name"], r["past_due"]) for r in runs(tmp_path / "timers.log") if r["name"] != "every_second"]
    assert fired == [("on_startup", False)]


def test_a_timer_slower_than_its_schedule_never_overlaps_itself(tmp_path: Path) -> None:
    with running_host(APP, tmp_path, 0, settings(tmp_path), grace_period=5):
        wait_for(lambda: sum(r["name"] == "every_second" for r in runs(tmp_path / "timers.log")) >= 3, 8)
    starts = [r["at"] for r in runs(tmp_path / "timers.log") if r["name"] == "every_second"]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 1.45 for gap in gaps), gaps  # each run takes 1.5 s; the every-second schedule waits


def test_shutdown_waits_for_a_running_timer(tmp_path: Path) -> None:
    with running_host(APP, tmp_path, 0, settings(tmp_path), grace_period=5):
        wait_for(lambda: any(r["name"] == "every_second" for r in runs(tmp_path / "timers.log")), 3)
    status = TimerStatusStore(tmp_path / "host.sqlite").get("every_second")
    assert status is not None  # the run in flight at shutdown finished and was recorded
    assert status.last <= datetime.now(UTC) < status.next.replace(year=status.next.year + 1)

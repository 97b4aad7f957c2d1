"""Service Bus triggers through the embedded broker: queue and topic, output binding, failures."""

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.host import LocalHost, running_host
from shared.bus.protocol import EntityRef, OutgoingMessage
from tests.host.process import HOST_SETTINGS

pytest.importorskip("local.host.servicebus", reason="the embedded broker's delivery loop has not landed")

APP = str(Path(__file__).parent / "apps" / "bus_app.py")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    (tmp_path / "host").mkdir()
    settings = {**HOST_SETTINGS, "BUS_LOG": str(tmp_path / "bus.log"), "WORK_QUEUE": "work"}
    with running_host(APP, tmp_path / "host", 0, settings, grace_period=5) as running:
        yield running


def on_host(host: LocalHost, coroutine: Any) -> Any:
    assert host.loop is not None
    return asyncio.run_coroutine_threadsafe(coroutine, host.loop).result(10)


def records(host: LocalHost) -> list[dict[str, Any]]:
    log = host.data_dir.parent / "bus.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(predicate, timeout: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_queue_message_invokes_the_function_and_its_output_reaches_the_topic_trigger(host: LocalHost) -> None:
    on_host(
        host,
        host.broker.send(
            "work",
            [OutgoingMessage(body=b"order-1", message_id="m-1", application_properties={"kind": "order"})],
        ),
    )
    wait_for(lambda: {r["function"] for r in records(host)} == {"work", "audit"})
    work = next(r for r in records(host) if r["function"] == "work")
    assert (work["id"], work["body"], work["delivery_count"], work["props"]) == (
        "m-1",
        "order-1",
        1,
        {"kind": "order"},
    )
    audit = next(r for r in records(host) if r["function"] == "audit")
    assert json.loads(audit["body"]) == {"done": "order-1"}
    counts = on_host(host, host.broker.counts("work"))
    assert counts["active"] == 0 and counts["dead_letter"] == 0


def test_a_failing_message_is_retried_then_dead_lettered(host: LocalHost) -> None:
    on_host(host, host.broker.send("work", [OutgoingMessage(body=b"poison", message_id="bad")]))
    wait_for(lambda: on_host(host, host.broker.counts("work"))["dead_letter"] == 1)
    dead = on_host(host, host.broker.peek(EntityRef("work"), dead_letter=True))
    assert dead[0].delivery_count == host.config.max_delivery_count
    assert (dead[0].dead_letter_reason, dead[0].dead_letter_error_description) == (
        "MaxDeliveryCountExceeded",
        f"Message could not be consumed after {host.config.max_delivery_count} delivery attempts.",
    )  # as in Azure: the exception text is in the log, not on the message
    assert records(host) == []


def test_a_slow_function_does_not_stall_other_messages(host: LocalHost) -> None:
    messages = [OutgoingMessage(body=b"slow-%d" % i) for i in range(3)] + [OutgoingMessage(body=b"fast")]
    started = time.monotonic()
    on_host(host, host.broker.send("work", messages))
    wait_for(lambda: any(r["body"] == "fast" for r in records(host)))
    assert time.monotonic() - started < 0.9  # not behind the 1 s slow ones
    wait_for(lambda: sum(r["function"] == "work" for r in records(host)) == 4)

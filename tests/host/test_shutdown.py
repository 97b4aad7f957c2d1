"""Clean shutdown of a host process: in-flight requests finish, new ones are refused, exit 0."""

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.host.process import HostProcess, free_port

APP = Path(__file__).parent / "apps" / "http_app.py"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_lets_in_flight_requests_finish_then_exits_cleanly(tmp_path: Path, sig: int) -> None:
    host = HostProcess(
        APP,
        tmp_path,
        free_port(),
        {"TIMER_LOG": str(tmp_path / "timers.log"), "STARTUP_SCHEDULE": "0 0 0 1 1 *"},
    )
    host.start()
    result: dict[str, object] = {}

    def slow_request() -> None:
        response = httpx.get(f"{host.base_url}/api/slow?seconds=1.5", timeout=10)
        result["status"], result["body"] = response.status_code, response.text

    caller = threading.Thread(target=slow_request)
    caller.start()
    time.sleep(0.5)  # the request is in flight
    host.signal(sig)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):  # the listener is closed at once
        httpx.get(f"{host.base_url}/api/slow?seconds=0", timeout=2)
    caller.join(10)
    assert result == {"status": 200, "body": "done"}
    assert host.wait(10) == 0
    log = host.log.read_text()
    assert "Host stopped" in log
    assert "outcome=succeeded" in log

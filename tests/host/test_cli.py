"""`python -m local.host`: help, refusal of an unsupported app, JSON logs."""

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.host.process import ROOT, HostProcess, free_port

APPS = Path(__file__).parent / "apps"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.host", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )


def test_help_lists_the_options() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in ("--app", "--port", "--data", "--setting", "--log-format", "--grace"):
        assert option in result.stdout


def test_an_unsupported_app_is_refused_naming_function_and_binding(tmp_path: Path) -> None:
    result = run("--app", str(APPS / "unsupported_app.py"), "--port", "0", "--data", str(tmp_path))
    assert result.returncode == 2
    assert "function 'storage_queue', binding 'item': trigger type 'queueTrigger' is not supported" in (
        result.stderr
    )


def test_json_logs_carry_function_invocation_outcome_and_duration(tmp_path: Path) -> None:
    host = HostProcess(
        APPS / "http_app.py",
        tmp_path,
        free_port(),
        {"TIMER_LOG": str(tmp_path / "t.log"), "STARTUP_SCHEDULE": "0 0 0 1 1 *"},
        extra_args=["--log-format", "json"],
    )
    host.start()
    host.signal(2)
    assert host.wait(10) == 0
    lines = [json.loads(line) for line in host.log.read_text().splitlines() if line.startswith("{")]
    executed = next(e for e in lines if e.get("event") == "executed" and e["function"] == "on_startup")
    assert executed["outcome"] == "succeeded" and executed["duration_ms"] >= 0
    assert len(executed["invocation_id"]) == 36 and executed["level"] == "INFO"


def test_a_bad_settings_file_is_refused_with_its_reason(tmp_path: Path) -> None:
    missing = run("--settings-file", str(tmp_path / "nope.json"), "--port", "0", "--data", str(tmp_path))
    assert missing.returncode != 0 and "--settings-file: cannot read" in missing.stderr
    (tmp_path / "bad.json").write_text("{not json")
    bad = run("--settings-file", str(tmp_path / "bad.json"), "--port", "0", "--data", str(tmp_path))
    assert bad.returncode != 0 and "is not JSON" in bad.stderr
    (tmp_path / "numbers.json").write_text('{"A": 1}')
    numbers = run("--settings-file", str(tmp_path / "numbers.json"), "--port", "0", "--data", str(tmp_path))
    assert numbers.returncode != 0 and "NAME: VALUE strings" in numbers.stderr


def test_settings_from_a_file_reach_the_app(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    timer_log = tmp_path / "t.log"
    settings.write_text(json.dumps({"TIMER_LOG": str(timer_log), "STARTUP_SCHEDULE": "0 0 0 1 1 *"}))
    host = HostProcess(
        APPS / "http_app.py", tmp_path, free_port(), {}, extra_args=["--settings-file", str(settings)]
    )
    host.start()
    try:
        # on_startup runs at start-up: it found its schedule and its log path in the file.
        deadline = time.monotonic() + 10
        while not timer_log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [json.loads(line)["name"] for line in timer_log.read_text().splitlines()] == ["on_startup"]
    finally:
        host.signal(2)
        assert host.wait(10) == 0

"""functions/telemetry.configure: nothing without a connection string, never a second provider;
cts trace --target azure says what it needs instead of failing somewhere inside the SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str, **env: str) -> str:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("CTS_", "APPLICATIONINSIGHTS_"))}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**base, **env}, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_without_a_connection_string_nothing_is_configured() -> None:
    out = _run("from functions.telemetry import configure; print(configure())")
    assert out == "no connection string"


def test_a_provider_already_set_is_kept() -> None:
    code = (
        "from opentelemetry import trace; from opentelemetry.sdk.trace import TracerProvider;"
        "p = TracerProvider(); trace.set_tracer_provider(p);"
        "from functions.telemetry import configure; print(configure(), trace.get_tracer_provider() is p)"
    )
    out = _run(code, APPLICATIONINSIGHTS_CONNECTION_STRING="InstrumentationKey=0")
    assert out == "already configured True"


def test_trace_on_azure_names_the_setting_it_needs() -> None:
    run = subprocess.run([sys.executable, "-m", "cts", "--target", "azure", "trace", "EV-1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1 and "CTS_OPS__APP_INSIGHTS_ID" in run.stderr

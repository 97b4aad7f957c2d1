"""`cts`'s surface: complete help everywhere, and every error an operator meets is one line and a
non-zero exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import OpsStack, event
from typer.testing import CliRunner

from cts.cli import app

ROOT = Path(__file__).resolve().parents[2]


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """The command tree (typer vendors click, so duck typing rather than click's classes)."""
    found = [(path, group)]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            found += commands(sub, (*path, name))
    return found


ALL = commands(typer.main.get_command(app))


def test_every_command_is_found() -> None:
    names = {" ".join(p) for p, _ in ALL}
    assert names >= {
        "dlq list", "dlq show", "dlq replay", "dlq purge", "status", "reconcile",
        "subscriptions list", "subscriptions renew", "subscriptions recreate",
    }  # fmt: skip


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(p) or "cts" for p, _ in ALL])
def test_help_is_complete(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"cts {' '.join(path)} has no help text"
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert (param.help or "").strip(), f"cts {' '.join(path)} {param.opts[0]} has no help"
        if param.param_type_name == "argument":
            assert getattr(param, "help", None), f"cts {' '.join(path)} argument {param.name} has no help"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: cts" in result.stdout


def test_python_dash_m_cts_prints_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cts", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "dlq" in out.stdout and "reconcile" in out.stdout


def one_line_error(result, code: int | None = None) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    "args,expected",
    [
        (["dlq", "list", "--since", "yesterday"], "bad --since 'yesterday'"),
        (["dlq", "list", "--since", "1h", "--until", "2h"], "must be before --until"),
        (["dlq", "replay", "--entity", "a/b/c/d"], "not an entity path"),
        (["dlq", "list", "--store", " "], "--store must not be empty"),
    ],
)
def test_a_bad_filter_is_one_line_and_exit_2(ops_stack: OpsStack, args: list[str], expected: str) -> None:
    assert expected in one_line_error(ops_stack.cts(*args), 2)


def test_no_such_message_is_one_line(ops_stack: OpsStack) -> None:
    ops_stack.dead_letter(event("0042"))
    line = one_line_error(ops_stack.cts("dlq", "show", "999999"), 1)
    assert "no dead letter with sequence number 999999" in line


def test_no_such_entity_is_one_line(ops_stack: OpsStack) -> None:
    line = one_line_error(ops_stack.cts("dlq", "list", "--entity", "commerce-events/nobody"), 1)
    assert "no queue or subscription 'commerce-events/Subscriptions/nobody'" in line


def test_no_local_stack_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data", str(tmp_path / "nothing"), "dlq", "list"])
    assert "no connection: no local broker in" in one_line_error(result, 1)


def test_azure_target_without_settings_says_what_to_set(tmp_path: Path) -> None:
    env = {
        "CTS_BUS__LOCAL_BROKER": "",
        "ServiceBusConnection": "",
        "ServiceBusConnection__fullyQualifiedNamespace": "",
    }
    result = CliRunner().invoke(app, ["--target", "azure", "dlq", "list"], env=env)
    assert "set ServiceBusConnection" in one_line_error(result, 1)


def test_the_local_sample_connection_string_is_refused_with_what_to_set() -> None:
    local = "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local"
    env = {"CTS_BUS__LOCAL_BROKER": "", "ServiceBusConnection": local}
    result = CliRunner().invoke(app, ["--target", "azure", "dlq", "list"], env=env)
    assert "set CTS_BUS__LOCAL_BROKER" in one_line_error(result, 1)


def test_an_unreachable_app_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data", str(tmp_path), "--host", "http://127.0.0.1:9", "status"])
    assert "cannot reach the app at http://127.0.0.1:9" in one_line_error(result, 1)


def test_a_wrong_key_is_one_line(ops_stack: OpsStack) -> None:
    result = ops_stack.cts("--key", "wrong", "status")
    assert "401 unauthorized" in one_line_error(result, 1)


def test_status_of_an_unknown_store_is_one_line(ops_stack: OpsStack) -> None:
    assert "no team or sync recorded for store:4711" in one_line_error(ops_stack.cts("status", "4711"), 1)

"""Indexing an app: what is read from the bindings, and what is refused (by function and binding)."""

from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from local.host.appsettings import apply_settings, read_local_settings, resolve
from local.host.loader import AppLoadError, index_app, load_app

APPS = Path(__file__).parent / "apps"


def refusal(app: func.FunctionApp) -> str:
    with pytest.raises(AppLoadError) as caught:
        index_app(app)
    return str(caught.value)


def test_supported_bindings_are_read_with_their_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC", "commerce-events")
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="orders/{id}", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return func.HttpResponse("")

    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=True)
    def tick(timer: func.TimerRequest) -> None: ...

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="%TOPIC%", subscription_name="sync", connection="ServiceBusConnection"
    )
    @app.service_bus_queue_output(arg_name="out", queue_name="audit", connection="ServiceBusConnection")
    def on_event(msg: func.ServiceBusMessage, out: func.Out[str]) -> None: ...

    @app.orchestration_trigger(context_name="context")
    def orchestrate(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        yield context.call_activity("work", 1)

    @app.activity_trigger(input_name="n")
    def work(n: int) -> int:
        return n

    specs = {s.name: s for s in index_app(app)}
    assert specs["start"].trigger_type == "httpTrigger"
    assert (specs["start"].route, specs["start"].methods, specs["start"].auth_level) == (
        "orders/{id}",
        frozenset({"GET"}),
        "function",
    )
    assert specs["start"].durable_client_arg == "client" and specs["start"].is_async
    assert specs["tick"].trigger["schedule"] == "0 */5 * * * *" and specs["tick"].trigger["runOnStartup"]
    assert specs["on_event"].trigger["topicName"] == "commerce-events"  # %TOPIC% resolved
    assert specs["on_event"].trigger["connection"] == "ServiceBusConnection"  # a setting name: kept
    assert [b["queueName"] for b in specs["on_event"].bus_outputs] == ["audit"]
    assert specs["orchestrate"].trigger_type == "orchestrationTrigger"
    assert specs["work"].trigger_type == "activityTrigger"


def test_unsupported_triggers_and_bindings_are_refused_by_name() -> None:
    app = df.DFApp()

    @app.blob_trigger(arg_name="blob", path="in/{name}", connection="Storage")
    def on_blob(blob: func.InputStream) -> None: ...

    @app.route(route="rows")
    @app.table_input(arg_name="rows", table_name="t", connection="Storage")
    def read_rows(req: func.HttpRequest, rows: str) -> str:
        return rows

    @app.entity_trigger(context_name="ctx")
    def counter(ctx) -> None: ...  # type: ignore[no-untyped-def]

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="q", connection="C", is_sessions_enabled=True)
    def sessions(msg: func.ServiceBusMessage) -> None: ...

    text = refusal(app)
    assert "function 'on_blob', binding 'blob': trigger type 'blobTrigger' is not supported" in text
    assert "function 'read_rows', binding 'rows' (table, in): not supported" in text
    assert "function 'counter', binding 'ctx': trigger type 'entityTrigger' is not supported" in text
    assert "function 'sessions', binding 'msg' (serviceBusTrigger): sessions are not supported" in text


def test_undefined_settings_bad_schedules_and_routes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_TOPIC", raising=False)
    app = func.FunctionApp()

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="%MISSING_TOPIC%", subscription_name="s", connection="C"
    )
    def listen(msg: func.ServiceBusMessage) -> None: ...

    @app.timer_trigger(schedule="0 0 25 * * *", arg_name="timer")
    def nightly(timer: func.TimerRequest) -> None: ...

    @app.route(route="x/{id:nosuch}")
    def odd(req: func.HttpRequest) -> str:
        return ""

    @app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:01")
    @app.timer_trigger(schedule="0 * * * * *", arg_name="timer")
    def retried(timer: func.TimerRequest) -> None: ...

    text = refusal(app)
    assert "The 'listen' function is in error: '%MISSING_TOPIC%' does not resolve to a value." in text
    assert "(binding 'msg' (serviceBusTrigger), topicName '%MISSING_TOPIC%'" in text
    assert (
        "The 'nightly' function is in error: The schedule expression '0 0 25 * * *' was not recognized "
        "as a valid cron expression or timespan string." in text
    )
    assert "bad schedule: hour: 25 is outside 0-23" in text
    assert (
        "function 'odd', binding 'req' (httpTrigger): route 'x/{id:nosuch}': unknown route constraint" in text
    )
    assert "function 'retried': setting 'retry_policy'" in text


def test_the_product_app_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).parents[2]
    monkeypatch.chdir(root)
    for key, value in read_local_settings(root / "local.settings.sample.json").items():
        monkeypatch.setenv(key, value)
    loaded = load_app(str(root / "function_app.py"))
    assert loaded.functions, "function_app.py registers functions"


def test_local_settings_do_not_override_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "local.settings.json").write_text(
        '{"IsEncrypted": false, "Values": {"A_SETTING": "from-file", "B_SETTING": "from-file"}}'
    )
    monkeypatch.setenv("A_SETTING", "from-env")
    monkeypatch.delenv("B_SETTING", raising=False)
    monkeypatch.delenv("C_SETTING", raising=False)
    apply_settings(read_local_settings(tmp_path / "local.settings.json"), {"C_SETTING": "explicit"})
    assert resolve("%A_SETTING%/%B_SETTING%/%C_SETTING%") == "from-env/from-file/explicit"
    monkeypatch.delenv("B_SETTING")
    monkeypatch.delenv("C_SETTING")


def test_running_host_raises_the_refusal_and_restores_settings(tmp_path: Path) -> None:
    import os

    from local.host import running_host

    with pytest.raises(AppLoadError, match="function 'storage_queue', binding 'item'"):
        with running_host(str(APPS / "unsupported_app.py"), tmp_path, 0, {"SOME_TEST_SETTING": "x"}):
            pass
    assert "SOME_TEST_SETTING" not in os.environ

"""The real Functions host's load-time rules (local.host.conformance): one tiny app per rule that
breaks it, refused with the host's own text. Sources are cited in local/host/conformance.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from local.host import conformance
from local.host.loader import AppLoadError, index_app, load_app, settings_problems
from tests.host.process import HOST_SETTINGS, ROOT

APPS = Path(__file__).parent / "apps"


def refusal(app: func.FunctionApp) -> str:
    with pytest.raises(AppLoadError) as caught:
        index_app(app)
    return str(caught.value)


def http_app() -> func.FunctionApp:
    return func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@pytest.mark.parametrize(
    "route", ["admin/reconcile", "/Admin/status", "runtime/webhooks/x", "administration"]
)
def test_a_route_in_the_hosts_reserved_space_is_refused(route: str) -> None:
    app = http_app()

    @app.route(route=route)
    def ops(req: func.HttpRequest) -> str:
        return ""

    assert (
        "The 'ops' function is in error: The specified route conflicts with one or more built in routes."
        in refusal(app)
    )


def test_ops_routes_and_routes_that_only_contain_admin_load() -> None:
    app = http_app()

    @app.route(route="ops/dlq/replay", methods=["POST"])
    def replay(req: func.HttpRequest) -> str:
        return ""

    @app.route(route="ops/admins")
    def admins(req: func.HttpRequest) -> str:
        return ""

    assert {s.route for s in index_app(app)} == {"ops/dlq/replay", "ops/admins"}


def test_python_m_local_host_refuses_an_admin_route_with_the_hosts_message(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "local.host", "--app", str(APPS / "reserved_route_app.py"), "--port", "0",
         "--data", str(tmp_path), "--no-local-settings"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert (
        "The 'reconcile' function is in error: "
        "The specified route conflicts with one or more built in routes." in run.stderr
    )


@pytest.mark.parametrize("name", ["host", "1st_function", "has.dot", "x" * 129])
def test_a_function_name_the_host_does_not_accept_is_refused(name: str) -> None:
    app = http_app()

    @app.function_name(name)
    @app.route(route="fine")
    def handler(req: func.HttpRequest) -> str:
        return ""

    assert f"The '{name}' function is in error: '{name}' is not a valid function name." in refusal(app)


def test_a_binding_name_with_an_underscore_is_refused() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="0 * * * * *", arg_name="my_timer")
    def tick(my_timer: func.TimerRequest) -> None: ...

    assert (
        "The 'tick' function is in error: The binding name my_timer is invalid. "
        "Please assign a valid name to the binding." in refusal(app)
    )


def test_the_same_route_and_method_in_two_functions_is_refused() -> None:
    app = http_app()

    @app.route(route="ops/status", methods=["GET"])
    def first(req: func.HttpRequest) -> str:
        return ""

    @app.route(route="/OPS/status/", methods=["GET", "POST"])
    def second(req: func.HttpRequest) -> str:
        return ""

    @app.route(route="ops/reconcile", methods=["POST"])
    def third(req: func.HttpRequest) -> str:
        return ""

    @app.route(route="ops/reconcile", methods=["GET"])  # other method: no conflict
    def fourth(req: func.HttpRequest) -> str:
        return ""

    text = refusal(app)
    assert (
        "The 'second' function is in error: The route specified conflicts with the route defined by "
        "function 'first'." in text
    )
    assert "'third'" not in text and "'fourth'" not in text


def test_a_function_name_used_twice_is_refused_by_the_worker_indexing() -> None:
    app = http_app()

    @app.function_name("twice")
    @app.route(route="one")
    def one(req: func.HttpRequest) -> str:
        return ""

    @app.function_name("twice")
    @app.route(route="two")
    def two(req: func.HttpRequest) -> str:
        return ""

    assert "Worker failed to index functions" in refusal(app) and "twice" in refusal(app)


def test_an_unknown_binding_property_is_refused_naming_the_known_ones() -> None:
    app = func.FunctionApp()

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="t", subscription_name="s", connection="ServiceBusConnection",
        autocomplete=False,  # the real property is autoCompleteMessages; Azure would ignore this
    )  # fmt: skip
    def listen(msg: func.ServiceBusMessage) -> None: ...

    text = refusal(app)
    assert (
        "The 'listen' function is in error: binding 'msg' (serviceBusTrigger): "
        "unknown property 'autocomplete'" in text
    )
    assert "autoCompleteMessages" in text


def test_a_binding_type_outside_the_extension_bundle_is_refused() -> None:
    app = func.FunctionApp()

    @app.generic_trigger(arg_name="thing", type="madeUpTrigger")
    def odd(thing: str) -> None: ...

    assert (
        "The 'odd' function is in error: The binding type(s) 'madeUpTrigger' were not found in the "
        "configured extension bundle." in refusal(app)
    )


def test_an_unresolvable_setting_expression_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_QUEUE", raising=False)
    app = func.FunctionApp()

    @app.service_bus_queue_trigger(
        arg_name="msg", queue_name="%NO_SUCH_QUEUE%", connection="ServiceBusConnection"
    )
    def work(msg: func.ServiceBusMessage) -> None: ...

    assert "The 'work' function is in error: '%NO_SUCH_QUEUE%' does not resolve to a value." in refusal(app)


def test_a_setting_expression_with_a_colon_reads_the_double_underscore_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Schedules__Nightly", "0 0 2 * * *")
    app = func.FunctionApp()

    @app.timer_trigger(schedule="%Schedules:Nightly%", arg_name="timer")
    def nightly(timer: func.TimerRequest) -> None: ...

    assert index_app(app)[0].trigger["schedule"] == "0 0 2 * * *"


def bus_app() -> func.FunctionApp:
    app = func.FunctionApp()

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="q", connection="BusConn")
    def work(msg: func.ServiceBusMessage) -> None: ...

    return app


def test_a_service_bus_connection_that_names_no_setting_is_refused() -> None:
    problems = settings_problems(index_app(bus_app()), {**HOST_SETTINGS})
    assert problems == [
        "The 'work' function is in error: Service Bus connection 'BusConn' does not exist. "
        "Make sure that it is a defined App Setting."
    ]


def test_an_identity_based_connection_needs_its_fully_qualified_namespace() -> None:
    specs = index_app(bus_app())
    ok = {**HOST_SETTINGS, "BusConn__fullyQualifiedNamespace": "sb-cts.servicebus.windows.net"}
    assert settings_problems(specs, ok) == []
    only_credential = {**HOST_SETTINGS, "BusConn__credential": "managedidentity"}
    assert settings_problems(specs, only_credential) == [
        "The 'work' function is in error: Connection should have an 'fullyQualifiedNamespace' property "
        "or be a string representing a connection string."
    ]
    prefixed = {
        **HOST_SETTINGS,
        "AzureWebJobsBusConn": "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b",
    }
    assert settings_problems(specs, prefixed) == []


def test_a_timer_app_without_azure_web_jobs_storage_is_refused() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="0 * * * * *", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None: ...

    specs = index_app(app)
    (problem,) = settings_problems(specs, {"FUNCTIONS_WORKER_RUNTIME": "python"})
    assert problem.startswith("Missing value for AzureWebJobsStorage.")
    assert settings_problems(specs, {"AzureWebJobsStorage__accountName": "stcts"}) == []
    assert "FUNCTIONS_WORKER_RUNTIME is 'node'" in " ".join(
        settings_problems(specs, {**HOST_SETTINGS, "FUNCTIONS_WORKER_RUNTIME": "node"})
    )


def test_a_five_field_cron_loads_and_a_seven_field_one_is_refused() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="*/5 * * * *", arg_name="timer")
    def classic(timer: func.TimerRequest) -> None: ...

    assert index_app(app)[0].schedule is not None
    bad = func.FunctionApp()

    @bad.timer_trigger(schedule="0 0 * * * * 2026", arg_name="timer")
    def seven(timer: func.TimerRequest) -> None: ...

    assert (
        "The 'seven' function is in error: The schedule expression '0 0 * * * * 2026' was not recognized"
        in refusal(bad)
    )


def test_an_http_auth_level_the_extension_does_not_know_is_refused() -> None:
    # The Python SDK maps every HTTP trigger's level onto its AuthLevel enum (FUNCTION by default),
    # so only metadata written by other means can carry another level; the rule still applies.
    (problem,) = conformance.http_problems([("x", "x", None, "system")])
    assert problem == (
        "The 'x' function is in error: authLevel 'system' is not one of anonymous, function, admin."
    )


def write_app(folder: Path, host_json: str) -> Path:
    (folder / "host.json").write_text(host_json)
    app = folder / "function_app.py"
    app.write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    return app


@pytest.mark.parametrize(
    ("host_json", "message"),
    [
        ('{"logging": {}}', "The host.json file is missing the required 'version' property."),
        ('{"version": "3.0"}', "'3.0' is an invalid value for host.json 'version' property."),
        ('{"version": "2.0", "extension": {}}', "host.json: unknown section(s) 'extension'"),
        ('{"version": "2.0", "telemetryMode": "Zipkin"}', "telemetryMode 'Zipkin' is not one of"),
        (
            '{"version": "2.0", "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", '
            '"version": "[3.*, 4.0.0)"}}',
            "does not select bundle 4.x",
        ),
        (
            '{"version": "2.0", "functionTimeout": "00:00:00"}',
            "FunctionTimeout must be greater than 00:00:01",
        ),
        ("{not json", "Unable to parse host configuration file"),
    ],
)
def test_a_host_json_the_host_refuses_stops_the_app(tmp_path: Path, host_json: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=None) as caught:
        load_app(str(write_app(tmp_path, host_json)))
    assert message in str(caught.value)


def test_the_projects_host_json_with_telemetry_mode_is_accepted(tmp_path: Path) -> None:
    host_json = (ROOT / "host.json").read_text()
    document = host_json.rstrip().rstrip("}") + ', "telemetryMode": "OpenTelemetry"}'
    assert load_app(str(write_app(tmp_path, document))).functions == ()


def test_a_bad_binding_in_a_durable_app_is_refused_too() -> None:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context_")
    def orchestrate(context_: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        yield None

    assert "The binding name context_ is invalid." in refusal(app)

"""Load a Python v2 function app the way the Functions worker indexes it, and refuse what we can't run.

`load_app` imports the module (by name or file path), takes its `app` (`FunctionApp`/`DFApp`),
and turns every registered function into a `FunctionSpec`: trigger kind, binding settings with
``%SETTING%`` expressions resolved from app settings, and the Python callable. Anything the local
host cannot serve is collected and raised in one `AppLoadError` that names each function and
binding, so the user sees every problem at once rather than one per restart.

Before that, the rules of the real Functions host (`local.host.conformance`: reserved routes,
function and binding names, conflicting routes, binding types and properties, `%SETTING%`s,
`connection` settings, required app settings, host.json) are applied with the host's own text:
an app the Azure host would refuse, or run with a function disabled, does not load here either.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.host import conformance
from local.host.appsettings import SettingNotFound, resolve
from local.host.ncrontab import Schedule, ScheduleError, parse_schedule

SUPPORTED_TRIGGERS = {
    "httpTrigger",
    "timerTrigger",
    "serviceBusTrigger",
    "orchestrationTrigger",
    "activityTrigger",
}
# Binding keys that are names of things, never binding expressions.
_NOT_RESOLVED = {"name", "type", "direction", "connection", "dataType"}


class AppLoadError(Exception):
    """The app cannot be served locally; `problems` says why, one line per function/binding."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the local host cannot serve this app:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json the local host honours (defaults are Azure's)."""

    route_prefix: str = "api"
    max_concurrent_calls: int = 16  # extensions.serviceBus.maxConcurrentCalls
    max_delivery_count: int = 10  # Service Bus entity default
    max_concurrent_activities: int = 10  # extensions.durableTask.maxConcurrentActivityFunctions
    max_concurrent_orchestrations: int = 10
    hub_name: str = "TestHubName"
    max_auto_lock_renewal_seconds: float = 300.0  # extensions.serviceBus.maxAutoLockRenewalDuration
    # extensions.serviceBus.maxMessageBatchSize: "the maximum number of messages that will be
    # passed to each function call" of a cardinality-many trigger (host.json reference, Service
    # Bus extension 5.x; default 1000).
    max_message_batch_size: int = 1000

    @classmethod
    def read(cls, path: Path) -> HostConfig:
        if not path.is_file():
            return cls()
        document = json.loads(path.read_text(encoding="utf-8"))
        extensions = document.get("extensions") or {}
        http = extensions.get("http") or {}
        bus = extensions.get("serviceBus") or {}
        durable = extensions.get("durableTask") or {}
        hub = str(durable.get("hubName", cls.hub_name))
        try:
            hub = resolve(hub)
        except SettingNotFound:
            hub = cls.hub_name
        return cls(
            route_prefix=str(http.get("routePrefix", cls.route_prefix)).strip("/"),
            max_concurrent_calls=int(bus.get("maxConcurrentCalls", cls.max_concurrent_calls)),
            max_concurrent_activities=int(
                durable.get("maxConcurrentActivityFunctions", cls.max_concurrent_activities)
            ),
            max_concurrent_orchestrations=int(
                durable.get("maxConcurrentOrchestratorFunctions", cls.max_concurrent_orchestrations)
            ),
            hub_name=hub,
            max_auto_lock_renewal_seconds=_timespan_seconds(
                bus.get("maxAutoLockRenewalDuration"), cls.max_auto_lock_renewal_seconds
            ),
            max_message_batch_size=int(bus.get("maxMessageBatchSize", cls.max_message_batch_size)),
        )


def _timespan_seconds(value: Any, default: float) -> float:
    """A host.json TimeSpan (``[d.]hh:mm:ss[.fff]``) in seconds."""
    if not value:
        return default
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", str(value).strip())
    if match is None:
        raise ValueError(f"host.json: {value!r} is not a TimeSpan (hh:mm:ss)")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the app as the host runs it."""

    name: str
    trigger_type: str
    trigger: Mapping[str, Any]  # the trigger binding, expressions resolved
    bindings: tuple[Mapping[str, Any], ...]  # every binding incl. the trigger, resolved
    func: Callable[..., Any]  # what the worker calls (SDK wrappers included)
    parameters: tuple[str, ...]
    durable_client_arg: str | None = None
    bus_outputs: tuple[Mapping[str, Any], ...] = ()
    schedule: Schedule | None = None
    function_object: Any = field(default=None, compare=False, repr=False)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    @property
    def wants_context(self) -> bool:
        return "context" in self.parameters

    @property
    def is_batch(self) -> bool:
        """A Service Bus trigger with cardinality 'many': the function gets a list of messages."""
        return str(self.trigger.get("cardinality", "ONE")).upper() == "MANY"

    # HTTP
    @property
    def route(self) -> str:
        return str(self.trigger.get("route") or self.name).strip("/")

    @property
    def methods(self) -> frozenset[str] | None:
        methods = self.trigger.get("methods")
        return frozenset(str(m).upper() for m in methods) if methods else None

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel") or "FUNCTION").lower()


@dataclass(frozen=True)
class LoadedApp:
    module: Any
    app: Any
    functions: tuple[FunctionSpec, ...]
    root: Path  # the app's folder: local.settings.json, host.json

    def of_type(self, trigger_type: str) -> list[FunctionSpec]:
        return [f for f in self.functions if f.trigger_type == trigger_type]

    @property
    def uses_durable(self) -> bool:
        return any(
            f.trigger_type in ("orchestrationTrigger", "activityTrigger") or f.durable_client_arg
            for f in self.functions
        )

    @property
    def uses_bus(self) -> bool:
        return any(f.trigger_type == "serviceBusTrigger" or f.bus_outputs for f in self.functions)


def app_root(app_module: str, cwd: Path | None = None) -> Path:
    """The folder of the app: the file's folder for a path, else the working directory."""
    if app_module.endswith(".py") or "/" in app_module or "\\" in app_module:
        return Path(app_module).resolve().parent
    return (cwd or Path.cwd()).resolve()


def import_app_module(app_module: str) -> Any:
    """Import ``function_app`` (a module name) or ``path/to/function_app.py`` (a file)."""
    if app_module.endswith(".py") or "/" in app_module or "\\" in app_module:
        path = Path(app_module).resolve()
        if not path.is_file():
            raise AppLoadError([f"app module file {path} does not exist"])
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # the app imports its own packages (functions/, shared/)
        name = path.stem
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded
        if loaded is not None:  # another app of the same name already loaded in this process
            name = f"{name}_{abs(hash(str(path))):x}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(app_module)


def _resolve_binding(function: str, binding: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in binding.items():
        if isinstance(value, str) and key not in _NOT_RESOLVED:
            try:
                value = resolve(value)
            except SettingNotFound as missing:
                problems.append(
                    conformance.unresolved_setting(function, missing.name)
                    + f" (binding '{binding.get('name')}' ({binding.get('type')}), {key} '{value}': "
                    "add the app setting to local.settings.json Values or the environment)"
                )
        resolved[key] = value
    return resolved


def _spec_of(fn: Any, problems: list[str]) -> FunctionSpec | None:
    name = fn.get_function_name()
    raw = [json.loads(b) for b in fn.get_raw_bindings()]  # enums → strings, as function.json
    trigger_name = fn.get_trigger().name
    before = len(problems)
    name_problem = conformance.function_name_problem(name)
    if name_problem:
        problems.append(name_problem)
    problems.extend(conformance.binding_problems(name, raw))
    bindings = [_resolve_binding(name, b, problems) for b in raw]
    trigger = next(b for b in bindings if b.get("name") == trigger_name and "Trigger" in b["type"])
    where = f"function '{name}'"

    kind = trigger["type"]
    if kind not in SUPPORTED_TRIGGERS:
        hint = " (durable entities are not supported by the local engine)" if kind == "entityTrigger" else ""
        problems.append(
            f"{where}, binding '{trigger_name}': trigger type '{kind}' is not supported{hint}; "
            f"supported: {', '.join(sorted(SUPPORTED_TRIGGERS))}"
        )

    durable_client_arg = None
    bus_outputs = []
    for b in bindings:
        if b is trigger:
            continue
        btype, direction = b.get("type"), str(b.get("direction", "")).upper()
        label = f"{where}, binding '{b.get('name')}' ({btype}, {direction.lower()})"
        if btype == "durableClient":
            durable_client_arg = b["name"]
        elif btype == "http" and direction == "OUT" and kind == "httpTrigger":
            pass
        elif btype == "serviceBus" and direction == "OUT":
            if not (b.get("queueName") or b.get("topicName")):
                problems.append(f"{label}: needs queue_name or topic_name")
            bus_outputs.append(b)
        else:
            problems.append(
                f"{label}: not supported by the local host "
                "(supported extra bindings: durableClient, http output, serviceBus output)"
            )

    schedule = None
    if kind == "timerTrigger" and "%" not in str(trigger.get("schedule", "")):  # else: unresolved
        try:
            schedule = parse_schedule(str(trigger.get("schedule", "")))
        except ScheduleError as exc:
            problems.append(
                conformance.schedule_problem(name, str(trigger.get("schedule", "")), str(exc))
                + f" (function '{name}', binding '{trigger_name}' (timerTrigger): bad schedule: {exc})"
            )
    elif kind == "serviceBusTrigger":
        if trigger.get("isSessionsEnabled"):
            problems.append(
                f"{where}, binding '{trigger_name}' (serviceBusTrigger): sessions are not "
                "supported by the embedded broker"
            )
        has_queue = bool(trigger.get("queueName"))
        has_topic = bool(trigger.get("topicName") and trigger.get("subscriptionName"))
        if has_queue == has_topic:
            problems.append(
                f"{where}, binding '{trigger_name}' (serviceBusTrigger): needs either "
                "queue_name, or topic_name with subscription_name"
            )
    for setting in getattr(fn, "_settings", []):
        if setting.setting_name not in ("function_name",):
            problems.append(
                f"{where}: setting '{setting.setting_name}' (e.g. a retry policy) is not "
                "supported by the local host"
            )

    if len(problems) > before:
        return None
    func = fn.get_user_function()
    try:
        parameters = tuple(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        parameters = ()
    return FunctionSpec(
        name=name,
        trigger_type=kind,
        trigger=trigger,
        bindings=tuple(bindings),
        func=func,
        parameters=parameters,
        durable_client_arg=durable_client_arg,
        bus_outputs=tuple(bus_outputs),
        schedule=schedule,
        function_object=fn,
    )


def get_functions(app: Any) -> list[Any]:
    """``app.get_functions()``, callable more than once per app object.

    The SDK records the names it has seen and refuses a second call ("does not have a unique
    function name"); the worker calls it once per process, but the host and the durable engine
    each index the app, and tests start several hosts on one imported module.
    """
    if hasattr(app, "functions_bindings"):
        app.functions_bindings = None
    try:
        return list(app.get_functions())
    finally:
        if hasattr(app, "functions_bindings"):
            app.functions_bindings = None


def index_app(app: Any) -> tuple[FunctionSpec, ...]:
    """The functions of a `FunctionApp`/`DFApp` object; raises `AppLoadError` naming every problem."""
    problems: list[str] = []
    specs: list[FunctionSpec] = []
    seen: set[str] = set()
    try:
        functions = get_functions(app)
    except ValueError as exc:  # the SDK's own indexing refusal, e.g. a function name used twice
        raise AppLoadError([f"Worker failed to index functions: {exc}"]) from exc
    for fn in functions:
        spec = _spec_of(fn, problems)
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(f"function '{spec.name}' is registered twice")
        seen.add(spec.name)
        specs.append(spec)
    _check_routes(specs, problems)
    if problems:
        raise AppLoadError(problems)
    return tuple(specs)


def load_app(app_module: str = "function_app", attribute: str = "app") -> LoadedApp:
    """Import the app and index its functions; raises `AppLoadError` naming every unsupported binding.

    App settings must already be in the environment (see `appsettings.apply_settings`).
    """
    root = app_root(app_module)
    host_json = conformance.host_json_problems(root / "host.json")
    if host_json:
        raise AppLoadError(host_json)  # the host does not start at all
    module = import_app_module(app_module)
    app = getattr(module, attribute, None)
    if app is None or not hasattr(app, "get_functions"):
        raise AppLoadError([f"module '{module.__name__}' has no FunctionApp named '{attribute}'"])
    specs = index_app(app)
    problems = settings_problems(specs, os.environ)
    if problems:
        raise AppLoadError(problems)
    return LoadedApp(module, app, specs, root)


def settings_problems(specs: tuple[FunctionSpec, ...], settings: Mapping[str, str]) -> list[str]:
    """What the host and its extensions need from app settings: AzureWebJobsStorage and the worker
    runtime, and every Service Bus binding's `connection` (see `local.host.conformance`)."""
    problems = conformance.required_settings_problems((s.trigger_type for s in specs), settings)
    for spec in specs:
        for binding in spec.bindings:
            if binding.get("type") in ("serviceBusTrigger", "serviceBus"):
                problem = conformance.service_bus_connection_problem(
                    spec.name, str(binding.get("connection") or "AzureWebJobsServiceBus"), settings
                )
                if problem and problem not in problems:
                    problems.append(problem)
    return problems


def _check_routes(specs: list[FunctionSpec], problems: list[str]) -> None:
    from local.host.routes import RouteError, RouteTemplate

    http = [s for s in specs if s.trigger_type == "httpTrigger"]
    problems.extend(conformance.http_problems((s.name, s.route, s.methods, s.auth_level) for s in http))
    for spec in specs:
        if spec.trigger_type != "httpTrigger":
            continue
        try:
            RouteTemplate.parse(spec.route)
        except RouteError as exc:
            problems.append(
                f"function '{spec.name}', binding '{spec.trigger.get('name')}' (httpTrigger): "
                f"route '{spec.route}': {exc}"
            )

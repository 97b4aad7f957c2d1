"""The real Functions host's load-time rules, applied by the local host with the host's own words.

Every rule here is one the Azure Functions host (v4, extension bundle 4.x) applies when it loads
an app, and each cites where. Where the real host would refuse a function, the local host refuses
the whole app (stricter: Azure only disables that one function and logs "The '<name>' function is
in error: ..." (ScriptHostLoggerExtension), which is easy to miss in a deployment). A few rules are
*stricter than Azure on purpose* and say so: the real host silently ignores an unknown binding
property or host.json section, so a typo there (``autocomplete`` for ``autoCompleteMessages``)
deploys green and never takes effect.

Sources (azure-functions-host at 89dc438, Oct 2024; azure-sdk-for-net Service Bus extension 5.x):
- [ScriptHost] src/WebJobs.Script/Host/ScriptHost.cs: ValidateFunction, ValidateHttpFunction,
  HttpRoutesConflict.
- [Utility] src/WebJobs.Script/Utility.cs: FunctionNameValidationRegex, BindingNameValidationRegex,
  ValidateName, ValidateBinding.
- [WorkerMetadata] src/WebJobs.Script/Host/WorkerFunctionMetadataProvider.cs: ValidateBindings.
- [Descriptor] src/WebJobs.Script/Description/FunctionDescriptorProvider.cs: CreateBindingError.
- [HostJson] src/WebJobs.Script/Config/HostJsonFileConfigurationSource.cs: InitializeHostConfig.
- [Timeout] src/WebJobs.Script/Config/ScriptJobHostOptionsSetup.cs: ValidateTimeoutValue.
- [TelemetryMode] src/WebJobs.Script/Diagnostics/OpenTelemetry/TelemetryMode.cs.
- [SbFactory] sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/Config/
  ServiceBusClientFactory.cs: ResolveConnectionInformation (connection name → app setting, or
  ``<name>__fullyQualifiedNamespace`` for identity-based connections).
- [NameResolver] azure-webjobs-sdk: ``'%NAME%' does not resolve to a value.`` for an undefined
  ``%NAME%`` binding expression (the text the host logs for such a function).
- [Docs] learn.microsoft.com/azure/azure-functions/functions-app-settings (AzureWebJobsStorage,
  FUNCTIONS_WORKER_RUNTIME), functions-bindings-timer (NCRONTAB, six fields),
  functions-reference#connections (identity-based connections), functions-host-json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# [Utility] FunctionNameValidationRegex: a letter, then letters/digits/_/-, 128 at most; not "host".
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
# [Utility] BindingNameValidationRegex: a letter then letters/digits (no '_'), or $return.
_BINDING_NAME = re.compile(r"^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$")
# [ScriptHost] ValidateHttpFunction: the host's own route space.
RESERVED_ROUTE_PREFIXES = ("admin", "runtime")

# Binding types of extension bundle 4.x (Microsoft.Azure.Functions.ExtensionBundle, bundle.json of
# the 4.x line) plus the built-in http binding; a type outside this set is not found in the bundle.
BUNDLE_BINDING_TYPES = frozenset(
    {
        "httpTrigger", "http", "timerTrigger",
        "serviceBusTrigger", "serviceBus",
        "orchestrationTrigger", "activityTrigger", "entityTrigger", "durableClient",
        "blobTrigger", "blob", "queueTrigger", "queue", "table",
        "eventHubTrigger", "eventHub", "eventGridTrigger", "eventGrid",
        "cosmosDBTrigger", "cosmosDB", "signalRTrigger", "signalR", "signalRConnectionInfo",
        "sendGrid", "twilioSms", "kafkaTrigger", "kafka", "rabbitMQTrigger", "rabbitMQ",
        "sqlTrigger", "sql", "daprBindingTrigger", "daprServiceInvocationTrigger",
        "daprTopicTrigger", "daprState", "daprInvoke", "daprPublish", "daprBinding", "daprSecret",
        "webPubSubTrigger", "webPubSub", "webPubSubConnection", "webPubSubContext",
        "mysqlTrigger", "mysql", "redisPubSubTrigger", "redisListTrigger", "redisStreamTrigger",
        "redis", "warmupTrigger", "generic",
    }
)  # fmt: skip

_COMMON = frozenset({"name", "type", "direction", "dataType"})
# Properties each extension's attribute has (the host maps binding JSON onto the attribute by
# name): HttpTriggerAttribute, TimerTriggerAttribute, ServiceBusTriggerAttribute and
# ServiceBusAttribute (Service Bus extension 5.x; `accessRights` was removed in 5.x),
# OrchestrationTrigger/ActivityTrigger/DurableClient attributes (Durable extension 2.x).
# `cardinality` is the host's own trigger property (batches).
KNOWN_PROPERTIES: dict[str, frozenset[str]] = {
    "httpTrigger": _COMMON | {"authLevel", "methods", "route"},
    "http": _COMMON,
    "timerTrigger": _COMMON | {"schedule", "runOnStartup", "useMonitor"},
    "serviceBusTrigger": _COMMON
    | {"connection", "queueName", "topicName", "subscriptionName", "isSessionsEnabled",
       "autoCompleteMessages", "cardinality"},
    "serviceBus": _COMMON | {"connection", "queueName", "topicName", "entityType"},
    "orchestrationTrigger": _COMMON | {"orchestration"},
    "activityTrigger": _COMMON | {"activity"},
    "durableClient": _COMMON | {"taskHub", "connectionName"},
}  # fmt: skip

# HttpTriggerAttribute.AuthLevel is Microsoft.Azure.WebJobs.Extensions.Http.AuthorizationLevel;
# the Python SDK (azure.functions.AuthLevel) offers these three.
AUTH_LEVELS = ("anonymous", "function", "admin")

# [HostJson] top-level sections the host reads (WellKnownHostJsonProperties, ConfigurationSectionNames,
# incl. `telemetryMode` for OpenTelemetry); anything else is ignored by Azure, refused here.
HOST_JSON_SECTIONS = frozenset(
    {
        "version", "functionTimeout", "retry", "functions", "watchDirectories", "watchFiles",
        "singleton", "logging", "aggregator", "healthMonitor", "extensionBundle",
        "managedDependency", "customHandler", "httpWorker", "extensions", "concurrency",
        "sendCanceledInvocationsToWorker", "metadataProviderTimeout", "telemetryMode", "scale",
    }
)  # fmt: skip
TELEMETRY_MODES = ("None", "ApplicationInsights", "OpenTelemetry")  # [TelemetryMode], case-insensitive
EXTENSION_BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"


def in_error(function: str, message: str) -> str:
    """The host's line for a function it refuses (ScriptHostLoggerExtension.FunctionError)."""
    return f"The '{function}' function is in error: {message}"


# -- per function ---------------------------------------------------------------------------------


def function_name_problem(name: str) -> str | None:
    """[Utility] ValidateName, applied to worker-indexed functions by [WorkerMetadata]."""
    if not _FUNCTION_NAME.match(name) or name.lower() == "host":
        return in_error(name, f"'{name}' is not a valid function name.")
    return None


def binding_problems(function: str, bindings: Iterable[Mapping[str, Any]]) -> list[str]:
    """Binding names and duplicates ([WorkerMetadata] ValidateBindings), types in the bundle
    ([Descriptor]), and properties the extension knows (stricter than Azure, see module doc)."""
    problems: list[str] = []
    seen: set[str] = set()
    for binding in bindings:
        name = str(binding.get("name") or "")
        if not _BINDING_NAME.match(name):
            problems.append(
                in_error(
                    function,
                    f"The binding name {name} is invalid. Please assign a valid name to the binding.",
                )
            )
        if name.lower() in seen:
            problems.append(
                in_error(
                    function,
                    f"Multiple bindings with name '{name}' discovered. Binding names must be unique.",
                )
            )
        seen.add(name.lower())
        btype = str(binding.get("type") or "")
        if btype not in BUNDLE_BINDING_TYPES:
            problems.append(
                in_error(
                    function,
                    f"The binding type(s) '{btype}' were not found in the configured extension bundle. "
                    "Please ensure the type is correct and the correct version of extension bundle "
                    "is configured",
                )
            )
            continue
        known = KNOWN_PROPERTIES.get(btype)
        unknown = sorted(set(binding) - known) if known is not None else []
        if unknown:
            problems.append(
                in_error(
                    function,
                    f"binding '{name}' ({btype}): unknown propert{'y' if len(unknown) == 1 else 'ies'} "
                    f"{', '.join(repr(u) for u in unknown)}; the {btype} binding of extension bundle 4.x "
                    f"has {', '.join(sorted(known - _COMMON)) or 'no own properties'}. (Azure ignores an "
                    "unknown property without a word; the local host refuses it.)",
                )
            )
    return problems


def http_problems(functions: Iterable[tuple[str, str, frozenset[str] | None, str]]) -> list[str]:
    """[ScriptHost] ValidateFunction for HTTP functions: (name, route, methods, auth level) each.

    Reserved route prefixes, conflicting routes (same route ignoring case and slashes, and a
    method in common; no methods means all), unique names; the auth level must be one the
    HTTP extension knows.
    """
    problems: list[str] = []
    seen: dict[str, tuple[str, frozenset[str] | None]] = {}
    for name, route, methods, auth_level in functions:
        lowered = route.strip("/").lower()
        if lowered.startswith(RESERVED_ROUTE_PREFIXES):
            problems.append(in_error(name, "The specified route conflicts with one or more built in routes."))
        for other, (other_route, other_methods) in seen.items():
            if route.strip("/").lower() != other_route.strip("/").lower():
                continue
            if not methods or not other_methods or methods & other_methods:
                problems.append(
                    in_error(
                        name, f"The route specified conflicts with the route defined by function '{other}'."
                    )
                )
                break
        if name in seen:
            problems.append(
                in_error(name, f"The function or proxy name '{name}' must be unique within the function app.")
            )
        seen[name] = (route, methods)
        if auth_level not in AUTH_LEVELS:
            problems.append(
                in_error(name, f"authLevel '{auth_level}' is not one of {', '.join(AUTH_LEVELS)}.")
            )
    return problems


def unresolved_setting(function: str, name: str) -> str:
    """[NameResolver] the host's text for a ``%NAME%`` that names no app setting."""
    return in_error(function, f"'%{name}%' does not resolve to a value.")


def schedule_problem(function: str, expression: str, detail: str) -> str:
    """The timer extension's refusal (TimerTriggerAttributeBindingProvider / TimerSchedule.Create)."""
    return in_error(
        function,
        f"The schedule expression '{expression}' was not recognized as a valid cron expression or "
        f"timespan string. ({detail})",
    )


# -- app settings ---------------------------------------------------------------------------------


def _section(settings: Mapping[str, str], name: str) -> tuple[str | None, dict[str, str]]:
    """A configuration section as .NET reads app settings: its value and its ``__`` children."""
    prefix = f"{name}__".lower()
    children = {k[len(prefix) :]: v for k, v in settings.items() if k.lower().startswith(prefix)}
    value = next((v for k, v in settings.items() if k.lower() == name.lower()), None)
    return value, children


def service_bus_connection_problem(function: str, connection: str, settings: Mapping[str, str]) -> str | None:
    """[SbFactory] ResolveConnectionInformation: the `connection` names a setting (looked up as
    ``AzureWebJobs<name>``, then ``ConnectionStrings:<name>`` and ``<name>``); a non-blank value is
    a connection string, else ``<name>__fullyQualifiedNamespace`` must be set (managed identity)."""
    for candidate in (f"AzureWebJobs{connection}", f"ConnectionStrings__{connection}", connection):
        value, children = _section(settings, candidate)
        if value is None and not children:
            continue
        if value is not None and value.strip():
            return None
        if (children.get("fullyQualifiedNamespace") or "").strip():
            return None
        return in_error(
            function,
            "Connection should have an 'fullyQualifiedNamespace' property or be a string representing "
            "a connection string.",
        )
    shown = connection
    if "sharedaccesskey" in connection.lower() or connection.lower().startswith("endpoint="):
        shown = "<< REDACTED >> (a full connection string was incorrectly used instead of a connection name)"
    return in_error(
        function,
        f"Service Bus connection '{shown}' does not exist. Make sure that it is a defined App Setting.",
    )


def required_settings_problems(trigger_types: Iterable[str], settings: Mapping[str, str]) -> list[str]:
    """[Docs] functions-app-settings: AzureWebJobsStorage (a connection string, or identity-based
    ``__accountName`` / ``__blobServiceUri``) is required by every trigger but HTTP (the host keeps
    timers' and durable state there); FUNCTIONS_WORKER_RUNTIME, when set, must name the app's
    language (``python``; on Flex Consumption the plan's runtime setting replaces it)."""
    problems: list[str] = []
    kinds = set(trigger_types)
    if kinds - {"httpTrigger"}:
        value, children = _section(settings, "AzureWebJobsStorage")
        identity = any((children.get(k) or "").strip() for k in ("accountName", "blobServiceUri"))
        if not (value or "").strip() and not identity:
            problems.append(
                "Missing value for AzureWebJobsStorage. This is required for all triggers other than "
                f"httpTrigger (this app has {', '.join(sorted(kinds - {'httpTrigger'}))}). Set a connection "
                "string, or AzureWebJobsStorage__accountName for managed identity."
            )
    runtime = settings.get("FUNCTIONS_WORKER_RUNTIME")
    if runtime is not None and runtime.strip().lower() != "python":
        problems.append(
            f"FUNCTIONS_WORKER_RUNTIME is '{runtime}', but this is a Python app: the host would start "
            "no Python worker and load no function. Set it to 'python'."
        )
    return problems


# -- host.json ------------------------------------------------------------------------------------


def host_json_problems(path: Path) -> list[str]:
    """[HostJson] InitializeHostConfig (version), [Timeout] functionTimeout, the extension bundle,
    known sections (unknown ones are ignored by Azure: refused here) and telemetryMode."""
    if not path.is_file():
        return []  # the host writes a default {"version": "2.0"} (InitializeHostConfig)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return [f"Unable to parse host configuration file '{path}'."]
    if not isinstance(document, dict):
        return [f"Unable to parse host configuration file '{path}'."]
    if not document:
        return []
    problems: list[str] = []
    version = document.get("version")
    if not version:
        problems.append(
            "The host.json file is missing the required 'version' property. See "
            "https://aka.ms/functions-hostjson for steps to migrate the configuration file."
        )
    elif str(version) != "2.0":
        text = (
            f"'{version}' is an invalid value for host.json 'version' property. We recommend you set "
            "the 'version' property to '2.0'. "
        )
        if str(version).startswith("3"):
            text += (
                "This does not correspond to the function runtime version, only to the schema version "
                "of the host.json file. "
            )
        problems.append(
            text + "See https://aka.ms/functions-hostjson for more information on this configuration file."
        )
    unknown = sorted(set(document) - HOST_JSON_SECTIONS)
    if unknown:
        problems.append(
            f"host.json: unknown section(s) {', '.join(repr(u) for u in unknown)}; the Functions host reads "
            f"{', '.join(sorted(HOST_JSON_SECTIONS))} (Azure ignores the rest without a word; the local "
            "host refuses it)."
        )
    mode = document.get("telemetryMode")
    if mode is not None and str(mode).lower() not in (m.lower() for m in TELEMETRY_MODES):
        problems.append(f"host.json: telemetryMode '{mode}' is not one of {', '.join(TELEMETRY_MODES)}.")
    bundle = document.get("extensionBundle")
    if bundle is not None:
        if not isinstance(bundle, dict) or bundle.get("id") != EXTENSION_BUNDLE_ID:
            problems.append(f"host.json: extensionBundle.id must be '{EXTENSION_BUNDLE_ID}'.")
        elif not _bundle_range_allows_4(str(bundle.get("version", ""))):
            problems.append(
                f"host.json: extensionBundle.version '{bundle.get('version')}' does not select bundle 4.x, "
                "which the Python v2 model's Service Bus (extension 5.x) and Durable bindings here need."
            )
    timeout = document.get("functionTimeout")
    if timeout is not None and str(timeout).strip() not in ("-1", "-1.00:00:00"):
        seconds = _timespan(str(timeout))
        if seconds is None or seconds < 1:
            problems.append(
                "FunctionTimeout must be greater than 00:00:01 and less than 10675199.02:48:05.4775807."
            )
    return problems


def _bundle_range_allows_4(text: str) -> bool:
    """A NuGet version range such as ``[4.*, 5.0.0)`` whose lower bound is a 4.x version."""
    match = re.fullmatch(r"\s*[\[(]\s*(\d+)[^,]*,\s*(\d+)?[^\])]*[\])]\s*", text)
    return bool(match) and match is not None and match.group(1) == "4"


def _timespan(text: str) -> float | None:
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)

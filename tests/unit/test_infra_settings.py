"""The app settings Bicep provisions (infra/resources.bicep) are exactly those the app reads.

Read by the app: every `%NAME%` in its bindings and in host.json, every binding `connection`
(as the Service Bus extension resolves it), the host's own settings, and the CTS_ settings of
`shared/settings.py`. The test fails when

- a setting the app needs in Azure is not provisioned: a binding expression or connection, the
  host's storage, or a `shared/settings.py` field whose default is empty or a placeholder (a new
  such field must be provisioned or listed in OPTIONAL_IN_AZURE with a reason);
- a provisioned setting is read by nothing (e.g. a leftover like CTS_BUS__NAMESPACE).

The Bicep is read with a small reader of the ``appSettings`` array (one ``{ name: '...', value:
... }`` per line, as written there) instead of a full Bicep parser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from local.host.appsettings import read_local_settings
from local.host.loader import get_functions, load_app
from shared.settings import Settings

ROOT = Path(__file__).parents[2]
BICEP = ROOT / "infra" / "resources.bicep"

# Read by the Functions host, its extensions or azure-identity rather than by our code.
HOST_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",  # host telemetry
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # Entra auth for it
    "AZURE_CLIENT_ID",  # azure-identity DefaultAzureCredential: the user-assigned identity
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",  # the Python worker's OpenTelemetry hand-off
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",  # the Azure Monitor distro (functions/telemetry.py)
}
HOST_PREFIXES = ("AzureWebJobsStorage__",)

# Settings whose empty/placeholder default is right in Azure, and why.
OPTIONAL_IN_AZURE = {
    "CTS_GRAPH__CERTIFICATE_PATH": "only for auth=client_certificate; Azure uses the managed identity",
    "CTS_GRAPH__STATIC_TOKEN": "sandboxes only",
    "CTS_COMMERCE__STATIC_TOKEN": "sandboxes only",
    "CTS_COMMERCE__SCOPE": "empty means <base_url>/.default",
    "CTS_BUS__LOCAL_BROKER": "local stack only",
    "CTS_BUS__LOCAL_BROKER_FACTORY": "local stack only (names the stand-in that opens CTS_BUS__LOCAL_BROKER)",
    "CTS_STATE__SQLITE_PATH": "only for CTS_STATE__BACKEND=sqlite; Azure provisions table",
    "CTS_DATAVERSE__BASE_URL": "record channels are off by default (CTS_RECORDS__ENABLED)",
    "CTS_DATAVERSE__CLIENT_ID": "record channels are off by default",
    "CTS_DATAVERSE__STATIC_TOKEN": "sandboxes only",
    "CTS_DATAVERSE__SCOPE": "empty means <base_url>/.default",
    "CTS_RECORDS__TEMPLATE": "record channels are off by default",
    "CTS_RECORDS__APP_MODULE_ID": "record channels are off by default",
    "CTS_PROVISIONING__CHANNELS": "no channels beyond General is a valid choice",
    "CTS_COMMERCE__FIELD_NAMES": "no overrides is the default mapping",
    "CTS_COMMERCE__LEGAL_ENTITIES": "empty: only CTS_COMMERCE__LEGAL_ENTITY is served",
}
# Defaults that only work on the local stack or are placeholders (USRT: the demo data's company).
LOCAL_DEFAULTS = {"sqlite", ".local/state.sqlite", "USRT"}


def provisioned(bicep: Path = BICEP) -> dict[str, str]:
    """name -> value text of every entry of the Function App's ``appSettings`` array."""
    text = bicep.read_text(encoding="utf-8")
    block = re.search(r"appSettings:\s*\[(.*?)\n\s*\]", text, re.S)
    assert block, "infra/resources.bicep has no appSettings array"
    entries = re.findall(r"\{\s*name:\s*'([^']+)',\s*value:\s*(.+?)\s*\}\s*(?://.*)?$", block.group(1), re.M)
    assert entries, "no { name: ..., value: ... } entries found"
    names = [name for name, _ in entries]
    assert len(names) == len(set(names)), f"a setting is provisioned twice: {names}"
    return dict(entries)


def settings_fields(model: type[BaseModel] = Settings, prefix: str = "CTS_") -> dict[str, Any]:
    """Environment name -> default of every leaf field (nested models joined with ``__``)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields.update(settings_fields(annotation, env + "__"))
        else:
            fields[env] = info.get_default(call_default_factory=True)
    return fields


@pytest.fixture(scope="module")
def app_reads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """What the product app's bindings and host.json read: expressions and connections."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        for key, value in read_local_settings(ROOT / "local.settings.sample.json").items():
            mp.setenv(key, value)
        loaded = load_app(str(ROOT / "function_app.py"))
        raw = [json.loads(b) for fn in get_functions(loaded.app) for b in fn.get_raw_bindings()]
    expression = re.compile(r"%([^%]+)%")
    expressions = {
        m.replace(":", "__")
        for b in raw
        for k, v in b.items()
        if isinstance(v, str) and k not in ("name", "type", "direction")
        for m in expression.findall(v)
    }
    expressions |= set(expression.findall((ROOT / "host.json").read_text(encoding="utf-8")))
    connections = {str(b["connection"]) for b in raw if b.get("connection")}
    return {"expressions": expressions, "connections": connections}


def missing_reads(settings: dict[str, str], app_reads: dict[str, set[str]]) -> list[str]:
    missing = sorted(name for name in app_reads["expressions"] if name not in settings)
    missing += sorted(
        f"{c} (or {c}__fullyQualifiedNamespace)"
        for c in app_reads["connections"]
        if c not in settings and f"{c}__fullyQualifiedNamespace" not in settings
    )
    return missing


def unread(settings: dict[str, str], app_reads: dict[str, set[str]]) -> list[str]:
    known = set(settings_fields())
    connection_children = tuple(f"{c}__" for c in app_reads["connections"])
    return sorted(
        name
        for name in settings
        if name not in known
        and name not in app_reads["expressions"]
        and name not in HOST_SETTINGS
        and not name.startswith(HOST_PREFIXES + connection_children)
    )


def test_every_binding_expression_and_connection_is_provisioned(app_reads: dict[str, set[str]]) -> None:
    missing = missing_reads(provisioned(), app_reads)
    assert not missing, f"bindings or host.json read {missing}, which infra/resources.bicep does not set"


def test_the_hosts_storage_is_provisioned_identity_based() -> None:
    settings = provisioned()
    assert "AzureWebJobsStorage__accountName" in settings and "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"


def test_every_setting_without_a_usable_default_is_provisioned() -> None:
    settings = provisioned()
    needed = []
    for env, default in settings_fields().items():
        placeholder = default in ("", None) or str(default) in LOCAL_DEFAULTS or "contoso" in str(default)
        if placeholder and env not in OPTIONAL_IN_AZURE and env not in settings:
            needed.append(env)
    assert not needed, (
        f"{needed} have no usable default in Azure: provision them in infra/resources.bicep "
        "or add them to OPTIONAL_IN_AZURE with a reason"
    )


def test_every_provisioned_setting_is_read_by_something(app_reads: dict[str, set[str]]) -> None:
    leftovers = unread(provisioned(), app_reads)
    assert not leftovers, f"infra/resources.bicep provisions {leftovers}, which nothing reads"


def test_the_checks_fail_on_a_leftover_and_on_a_missing_setting(
    tmp_path: Path, app_reads: dict[str, set[str]]
) -> None:
    text = BICEP.read_text(encoding="utf-8")
    topic = "{ name: 'CTS_BUS__TOPIC', value: topicName }"
    assert topic in text
    leftover = tmp_path / "leftover.bicep"
    leftover.write_text(text.replace(topic, topic + "\n        { name: 'CTS_BUS__NAMESPACE', value: 'x' }"))
    assert unread(provisioned(leftover), app_reads) == ["CTS_BUS__NAMESPACE"]
    without_topic = tmp_path / "without_topic.bicep"
    without_topic.write_text(text.replace(topic, ""))
    assert missing_reads(provisioned(without_topic), app_reads) == ["CTS_BUS__TOPIC"]


def test_the_local_topics_detect_duplicates_over_the_window_bicep_gives_the_topics() -> None:
    """A resend with the same MessageId inside the window is dropped in Azure; the local host's
    topics must drop it too (local/host/bus_triggers.py, TOPIC_DUPLICATE_DETECTION)."""
    from local.host.bus_triggers import TOPIC_DUPLICATE_DETECTION

    text = BICEP.read_text()
    topics = re.findall(r"resource \w+ 'topics' = \{(.*?)\n  \}", text, flags=re.S)
    assert len(topics) >= 2  # the Commerce and the Dataverse topics
    for body in topics:
        assert "requiresDuplicateDetection: true" in body
        window = re.search(r"duplicateDetectionHistoryTimeWindow: '(PT(\d+)M)'", body)
        assert window is not None and int(window.group(2)) * 60 == TOPIC_DUPLICATE_DETECTION.total_seconds()

"""Build `local.settings.sample.json` from the typed settings, so the sample never drifts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from typing import Any

from pydantic import BaseModel

from shared.settings import Settings

# Settings the Functions runtime and bindings read (not part of `Settings`).
RUNTIME_SETTINGS: dict[str, str] = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
    "CTS_DURABLE_HUB": "cts",
}

# Sample values that point the app at the local stack instead of the production defaults.
LOCAL_OVERRIDES: dict[str, str] = {
    "CTS_GRAPH__BASE_URL": "http://127.0.0.1:8765/v1.0",
    "CTS_GRAPH__BETA_URL": "http://127.0.0.1:8765/beta",
    "CTS_GRAPH__AUTH": "static_token",
    "CTS_GRAPH__STATIC_TOKEN": "sandbox-token",
    "CTS_COMMERCE__BASE_URL": "http://127.0.0.1:8766",
    "CTS_COMMERCE__AUTH": "static_token",
    "CTS_COMMERCE__STATIC_TOKEN": "sandbox-token",
    # Graph cannot send headers: the function key travels in the URL (docs/drift.md).
    "CTS_WEBHOOK__NOTIFICATION_URL": "http://127.0.0.1:7071/api/graph/notifications?code=<function key>",
    "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL": (
        "http://127.0.0.1:7071/api/graph/lifecycle?code=<function key>"
    ),
    "CTS_WEBHOOK__CLIENT_STATE": "replace-with-a-long-random-secret",
}


def _flatten(model: BaseModel, prefix: str) -> Iterator[tuple[str, str]]:
    for name in type(model).model_fields:
        value: Any = getattr(model, name)
        key = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            yield from _flatten(value, key + "__")
        elif isinstance(value, Enum):
            yield key, str(value.value)
        elif isinstance(value, str):
            yield key, value
        else:
            yield key, json.dumps(value)


def setting_names() -> list[str]:
    """Every environment variable `Settings` reads."""
    return [k for k, _ in _flatten(Settings(), "CTS_")]


def sample() -> dict[str, Any]:
    values = dict(RUNTIME_SETTINGS)
    values.update(dict(_flatten(Settings(), "CTS_")))
    values.update(LOCAL_OVERRIDES)
    return {"IsEncrypted": False, "Values": values}

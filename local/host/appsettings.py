"""App settings for the local host: `local.settings.json` → environment, and `%SETTING%` expressions.

Mirrors Azure Functions Core Tools (`func start`): every entry of ``Values`` becomes an environment
variable unless the environment already defines it (Core Tools logs "Skipping ... already defined";
so do we). Settings passed explicitly to the host win over both.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("local.host")

_EXPRESSION = re.compile(r"%([^%]+)%")


class SettingNotFound(LookupError):
    """A `%NAME%` expression names an app setting that is not defined."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def read_local_settings(path: Path) -> dict[str, str]:
    """The ``Values`` of a `local.settings.json` file ({} when it does not exist)."""
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it or remove it") from exc
    if document.get("IsEncrypted"):
        raise ValueError(f"{path} is encrypted (IsEncrypted: true); the local host reads plain values only")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: 'Values' must be an object of strings")
    return {str(k): "" if v is None else str(v) for k, v in values.items()}


def apply_settings(
    local_settings: Mapping[str, str], explicit: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Put settings into ``os.environ`` the way `func start` does; returns what was set.

    ``local_settings`` never override the environment; ``explicit`` settings always do.
    """
    applied: dict[str, str] = {}
    for key, value in local_settings.items():
        if key in os.environ:
            if os.environ[key] != value:
                log.info("Skipping '%s' from local.settings.json: already defined in the environment", key)
            continue
        os.environ[key] = value
        applied[key] = value
    for key, value in (explicit or {}).items():
        os.environ[key] = str(value)
        applied[key] = str(value)
    return applied


def resolve(value: str, settings: Mapping[str, str] | None = None) -> str:
    """Replace every ``%NAME%`` in ``value`` by the app setting NAME (as Azure binding expressions do).

    Raises `SettingNotFound` for a name that is not defined.
    """
    source = os.environ if settings is None else settings

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in source:
            return source[name]
        # A ':' is a configuration path; as an app setting (environment variable) it is '__'
        # (https://learn.microsoft.com/azure/azure-functions/functions-app-settings).
        if name.replace(":", "__") in source:
            return source[name.replace(":", "__")]
        raise SettingNotFound(name)

    return _EXPRESSION.sub(substitute, value)

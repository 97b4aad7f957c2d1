"""The local Azure Functions host: runs `function_app.py` with no Core Tools and no Docker.

Public API (imported lazily so that `local.host.durable` and `local.host.broker` stay light):
`LocalHost`, `running_host`, `load_app`, `AppLoadError`. CLI: ``python -m local.host --help``.
See docs/local-host.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AppLoadError", "LocalHost", "load_app", "running_host"]


def __getattr__(name: str) -> Any:
    if name in ("LocalHost", "running_host"):
        from local.host import host

        return getattr(host, name)
    if name in ("load_app", "AppLoadError"):
        from local.host import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'local.host' has no attribute {name!r}")

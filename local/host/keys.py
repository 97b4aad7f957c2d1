"""Function keys for HTTP triggers, generated on first start and kept in ``<data>/host-keys.json``.

Azure semantics: ``function`` level accepts the function's own keys (any of its named keys), a
host function key or the master key; a function key of one function opens no other; ``admin``
level accepts only the master key. The key arrives in the ``code`` query parameter or the
``x-functions-key`` header. Comparisons are constant-time.

Keys are managed as in Azure, through the host's key management API (master key only;
https://github.com/Azure/azure-functions-host/wiki/Key-management-API): ``GET|PUT|DELETE
/admin/functions/{function}/keys[/{name}]`` and ``/admin/host/keys[/{name}]`` for host function
keys (served by local/host/http_triggers.py). So a named key (e.g. ``ops`` on every ops function,
or the webhook's own key) is set the same way locally as with ``az functionapp function keys set``.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def _new_key() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class HostKeys:
    master: str
    host_function_keys: dict[str, str]
    function_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)

    @classmethod
    def load_or_create(cls, path: Path, function_names: Iterable[str]) -> HostKeys:
        """Read the key file, adding keys for functions that have none yet (and saving it)."""
        document: dict[str, object] = {}
        if path.is_file():
            document = json.loads(path.read_text(encoding="utf-8"))
        master = str(document.get("masterKey") or _new_key())
        host = dict(document.get("functionKeys") or {"default": _new_key()})  # type: ignore[call-overload]
        functions = {k: dict(v) for k, v in dict(document.get("functions") or {}).items()}  # type: ignore[call-overload]
        changed = not path.is_file()
        for name in function_names:
            if name not in functions:
                functions[name] = {"default": _new_key()}
                changed = True
        keys = cls(master, host, functions, path)
        if changed:
            keys.save(path)
        return keys

    def persist(self) -> None:
        """Save to the file the keys were loaded from (no-op for keys built in memory)."""
        if self.path is not None:
            self.save(self.path)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "masterKey": self.master,
            "functionKeys": self.host_function_keys,
            "functions": self.function_keys,
        }
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
        os.replace(tmp, path)

    def set_key(self, function: str | None, name: str, value: str | None = None) -> str:
        """Create or replace the named key of `function` (None: a host function key); a new
        random value unless one is given. Returns the value."""
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError("a key name is letters, digits, '-', '_' or '.'")
        value = value or _new_key()
        if len(value) < 16 or not value.isprintable() or " " in value:
            # Local rule, stricter than needed: short or odd keys are refused outright.
            raise ValueError("a key value is at least 16 printable characters without spaces")
        keys = self.host_function_keys if function is None else self.function_keys.setdefault(function, {})
        keys[name] = value
        return value

    def delete_key(self, function: str | None, name: str) -> bool:
        keys = self.host_function_keys if function is None else self.function_keys.get(function, {})
        if function is None and name == "default":
            raise ValueError("the default host key cannot be deleted")
        return keys.pop(name, None) is not None

    def named_keys(self, function: str | None) -> dict[str, str]:
        return dict(self.host_function_keys if function is None else self.function_keys.get(function, {}))

    def default_key(self, function: str) -> str:
        return self.function_keys.get(function, {}).get("default") or self.host_function_keys["default"]

    def authorizes(self, level: str, function: str, presented: str | None) -> bool:
        """Whether ``presented`` grants ``level`` ('anonymous' | 'function' | 'admin') for ``function``."""
        if level == "anonymous":
            return True
        if not presented:
            return False
        candidates = [self.master]
        if level == "function":
            candidates += list(self.host_function_keys.values())
            candidates += list(self.function_keys.get(function, {}).values())
        given = presented.encode("utf-8")
        ok = False
        for key in candidates:  # check every key: timing does not reveal which one matched
            ok |= hmac.compare_digest(given, key.encode("utf-8"))
        return ok

"""Function keys for HTTP triggers, generated on first start and kept in ``<data>/host-keys.json``.

Azure semantics: ``function`` level accepts the function's own key, a host function key or the
master key; ``admin`` level accepts only the master key. The key arrives in the ``code`` query
parameter or the ``x-functions-key`` header. Comparisons are constant-time.
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
        keys = cls(master, host, functions)
        if changed:
            keys.save(path)
        return keys

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

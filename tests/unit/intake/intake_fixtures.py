"""Fixture files for the intake tests: realistic F&O / Dataverse bodies, one per file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(raw(name))
    return loaded


def body(document: object) -> bytes:
    return json.dumps(document).encode("utf-8")

"""Team names from the settings' templates, and mail nicknames Exchange accepts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Graph limits: displayName <= 256 characters, description <= 1024, mailNickname <= 64.
# https://learn.microsoft.com/graph/api/resources/group (mailNickname: ASCII 0-127 without
# @ () \ [] " ; : <> , SPACE); we keep the narrower set Exchange aliases always accept.
MAX_DISPLAY_NAME = 256
MAX_DESCRIPTION = 1024
MAX_MAIL_NICKNAME = 64

_NOT_ALIAS = re.compile(r"[^A-Za-z0-9._-]+")
_RUNS = re.compile(r"([._-])[._-]+")


class TemplateError(ValueError):
    """A template in the settings names a placeholder the planner does not provide."""


def render(template: str, setting: str, fields: Mapping[str, str]) -> str:
    """Fill `template` (str.format syntax) from `fields`; an unknown placeholder is a settings error."""
    try:
        return template.format_map(dict(fields))
    except (KeyError, IndexError, ValueError) as exc:
        known = ", ".join("{" + name + "}" for name in sorted(fields))
        raise TemplateError(
            f"settings.provisioning.{setting} = {template!r} cannot be filled ({exc!s}); "
            f"use only these placeholders: {known}"
        ) from exc


def display_name(text: str) -> str:
    """Whitespace collapsed and cut to Teams' display-name limit."""
    return " ".join(text.split())[:MAX_DISPLAY_NAME].strip()


def description(text: str) -> str:
    return text.strip()[:MAX_DESCRIPTION]


def mail_nickname(text: str, fallback: str = "team") -> str:
    """`text` made safe for an Exchange alias: ASCII letters, digits, '-', '_' and '.', no spaces,
    at most 64 characters, no leading/trailing '.' or '-' and no runs of separators.

    Accented letters keep their base letter ("Café Nørrebro" -> "Cafe-Nrrebro"); when nothing is
    left, `fallback` (made safe the same way) is used.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    alias = _NOT_ALIAS.sub("-", ascii_text.strip())
    alias = _RUNS.sub(r"\1", alias).strip(".-_")[:MAX_MAIL_NICKNAME].rstrip(".-_")
    if alias:
        return alias
    return mail_nickname(fallback) if fallback and fallback != text else "team"

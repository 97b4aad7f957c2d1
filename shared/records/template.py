"""The collaboration template: which records get which team and channel, and who is in them.

A JSON document in app settings (CTS_RECORDS__TEMPLATE), validated here with a clear error
(`TemplateError` names the field and what was expected). Three patterns (docs/records.md):

    {"patterns": [
      {"kind": "project_based", "min_estimated_value": 500000, "members": ["legal@contoso.com"],
       "guests": ["partner@fabrikam.com"], "extra_channels": [{"name": "Proposal", "connected": true},
       {"name": "Partners", "connected": false, "guests": true}], "on_close": "archive"},
      {"kind": "account_based", "min_revenue": 1000000, "flag": true, "on_close": "disconnect"},
      {"kind": "team_based", "teams": {"<Dataverse team id>": "<Teams team id>"}}
    ]}

An account is handled by the first pattern that takes it: project-based takes its large
opportunities (each gets its own team), account-based takes top accounts, team-based takes
accounts owned by a Dataverse team it maps to an existing Teams team (adopted, membership left
alone). Records no pattern takes are connected nowhere.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class TemplateError(ValueError):
    """The template cannot be used; the message says where and why."""


class OnClose(StrEnum):
    KEEP = "keep"  # a won/lost opportunity stays connected
    DISCONNECT = "disconnect"  # its tab, collaboration row and document location are removed
    ARCHIVE = "archive"  # project-based: its team is archived (read-only), connections kept


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtraChannel(_Rule):
    name: str = Field(min_length=1, max_length=50)
    connected: bool = True
    guests: bool = False  # a channel for external guests: never gets a record tab


class TeamBased(_Rule):
    kind: Literal["team_based"]
    # Dataverse owning team id -> existing Teams team (group) id, adopted as it is.
    teams: dict[str, str] = Field(min_length=1)
    connect_open_opportunities: bool = True


class AccountBased(_Rule):
    kind: Literal["account_based"]
    min_revenue: float | None = Field(default=None, ge=0)
    flag: bool = True  # accounts with cts_topaccount = true qualify
    team_name: str = Field(default="{account}", min_length=1)
    on_close: OnClose = OnClose.DISCONNECT


class ProjectBased(_Rule):
    kind: Literal["project_based"]
    min_estimated_value: float = Field(ge=0)
    team_name: str = Field(default="{opportunity} ({account})", min_length=1)
    members: tuple[str, ...] = ()  # Entra object ids or UPNs (other departments)
    guests: tuple[str, ...] = ()  # external guests: chat and files, never the record
    extra_channels: tuple[ExtraChannel, ...] = ()
    on_close: OnClose = OnClose.KEEP


Pattern = Annotated[TeamBased | AccountBased | ProjectBased, Field(discriminator="kind")]


class Template(_Rule):
    patterns: tuple[Pattern, ...] = Field(min_length=1)


_ADAPTER = TypeAdapter(Template)


def parse_template(text: str) -> Template:
    """The template from its JSON text, or a TemplateError saying what is wrong."""
    if not text.strip():
        raise TemplateError(
            "CTS_RECORDS__TEMPLATE is empty: set a JSON collaboration template (docs/records.md)."
        )
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"CTS_RECORDS__TEMPLATE is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    try:
        template = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise TemplateError(
            f"CTS_RECORDS__TEMPLATE is not a valid collaboration template: {problems}"
        ) from None
    kinds = [p.kind for p in template.patterns]
    if len(set(kinds)) != len(kinds):
        raise TemplateError(
            "CTS_RECORDS__TEMPLATE lists a pattern kind twice: each of the three at most once."
        )
    for p in template.patterns:
        if isinstance(p, ProjectBased):
            names = [c.name.casefold() for c in p.extra_channels]
            if len(set(names)) != len(names) or "general" in names:
                raise TemplateError(
                    "CTS_RECORDS__TEMPLATE project_based.extra_channels: "
                    "names must be unique and not 'General'."
                )
            if any(c.guests and c.connected for c in p.extra_channels):
                raise TemplateError(
                    "CTS_RECORDS__TEMPLATE project_based.extra_channels: "
                    "a guest channel cannot be connected to a record."
                )
    return template

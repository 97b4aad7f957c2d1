"""The business events *we* define in Commerce headquarters (X++ extension model), and their schemas.

Each event is one `BusinessEventSpec` here plus one JSON Schema (draft 2020-12) in `schemas/`,
named `<BusinessEventId>.v<MajorVersion>.schema.json`. A schema = the F&O envelope
(`schemas/envelope.schema.json`) + the event's own fields; extra fields are allowed, so a higher
MinorVersion (which may only *add* optional fields) is accepted as it is. A breaking change gets
a new MajorVersion, a new spec and a new schema file; majors not listed here are rejected.

All our events start at MajorVersion 0 / MinorVersion 0: that is what F&O stamps on a contract
that does not override its version (every out-of-box sample we found shows 0/0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from shared.domain.events import HintScope

TEST_EVENT_ID = "BusinessEventsTestEndpointContract"
"""BusinessEventId of the message F&O sends when an endpoint is activated (see docs/events.md)."""


@dataclass(frozen=True)
class BusinessEventSpec:
    event_id: str
    major_version: int
    minor_version: int
    """The newest minor version we know; higher minors are accepted, extra fields ignored."""
    scope: HintScope
    keys: tuple[tuple[str, str], ...]
    """(hint ids key, payload field): the alternate keys that name the scope."""
    company_specific: bool
    """Raised in a legal entity: BusinessEventLegalEntity must be non-empty."""
    title: str

    @property
    def schema_file(self) -> str:
        return f"{self.event_id}.v{self.major_version}.schema.json"


BUSINESS_EVENTS: tuple[BusinessEventSpec, ...] = (
    BusinessEventSpec(
        "CTS_StoreChangedBusinessEvent",
        0,
        0,
        HintScope.STORE,
        (("store", "StoreNumber"),),
        True,
        "Store changed",
    ),
    BusinessEventSpec(
        "CTS_WorkerChangedBusinessEvent",
        0,
        0,
        HintScope.WORKER,
        (("worker", "PersonnelNumber"),),
        False,
        "Worker changed",
    ),
    BusinessEventSpec(
        "CTS_StoreAssignmentChangedBusinessEvent",
        0,
        0,
        HintScope.ASSIGNMENT,
        (("store", "StoreNumber"), ("worker", "PersonnelNumber")),
        True,
        "Store assignment changed",
    ),
    BusinessEventSpec(
        "CTS_RegionChangedBusinessEvent",
        0,
        0,
        HintScope.REGION,
        (("region", "RegionId"),),
        False,
        "Region changed",
    ),
    BusinessEventSpec(
        "CTS_TaskListPublishedBusinessEvent",
        0,
        0,
        HintScope.TASK_LIST,
        (("task_list", "TaskListId"),),
        True,
        "Task list published",
    ),
    BusinessEventSpec(
        "CTS_TaskListChangedBusinessEvent",
        0,
        0,
        HintScope.TASK_LIST,
        (("task_list", "TaskListId"),),
        True,
        "Task list changed",
    ),
    BusinessEventSpec(
        "CTS_TaskChangedBusinessEvent",
        0,
        0,
        HintScope.TASK,
        (("task_list", "TaskListId"), ("task", "TaskId"), ("store", "StoreNumber")),
        True,
        "Task changed",
    ),
)


def business_event_versions(event_id: str) -> dict[int, BusinessEventSpec]:
    """The specs of one event id, by major version; empty when the id is not ours."""
    return {s.major_version: s for s in BUSINESS_EVENTS if s.event_id == event_id}


@dataclass(frozen=True)
class SchemaProblem:
    """The first thing wrong with a payload, phrased without the offending value."""

    missing: bool
    field: str
    expected: str


def schema_of(spec: BusinessEventSpec) -> dict[str, Any]:
    return _load(spec.schema_file)


def check(spec: BusinessEventSpec, payload: object) -> SchemaProblem | None:
    """Validate `payload` against the spec's schema; None when it is valid."""
    errors = list(_validator(spec.schema_file).iter_errors(payload))
    if not errors:
        return None
    # Missing fields first (the clearest fix), then the shallowest path, then by name: stable.
    error = min(errors, key=lambda e: (e.validator != "required", len(e.absolute_path), _path(e)))
    if error.validator == "required" and isinstance(error.instance, dict):
        absent = [f for f in error.validator_value if f not in error.instance]
        prefix = _path(error)
        return SchemaProblem(True, f"{prefix}.{absent[0]}" if prefix else str(absent[0]), "present")
    return SchemaProblem(False, _path(error) or "(message)", _expectation(error))


def _path(error: ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _expectation(error: ValidationError) -> str:
    v = error.validator_value
    match error.validator:
        case "type":
            kinds = v if isinstance(v, list) else [v]
            return "a JSON " + " or ".join(str(k) for k in kinds)
        case "minLength":
            return f"a string of at least {v} character(s)"
        case "maxLength":
            return f"a string of at most {v} characters"
        case "pattern":
            return "a string that is not blank"
        case "const":
            return f"exactly {json.dumps(v)}"
        case "enum":
            return "one of " + ", ".join(json.dumps(x) for x in v)
        case "minimum":
            return f"a number >= {v}"
        case _:
            return f"a value satisfying the schema keyword '{error.validator}'"


@cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _registry() -> Registry[Any]:
    names = ["envelope.schema.json", *(s.schema_file for s in BUSINESS_EVENTS)]
    return Registry().with_resources((_load(n)["$id"], Resource.from_contents(_load(n))) for n in names)


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_load(name), registry=_registry())

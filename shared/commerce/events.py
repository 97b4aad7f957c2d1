"""Commerce event intake: one Service Bus message in, one `IntakeResult` out. Pure, no I/O.

`parse_message` turns either real format into a `CommerceHint` (the scope to re-read):

- an F&O **business event** (BusinessEventsContract envelope) from our catalog
  (`shared.commerce.catalog.BUSINESS_EVENTS`), validated against its JSON Schema;
- an F&O **data event** delivered through Dataverse as a `RemoteExecutionContext`, for an entity
  in `shared.commerce.catalog.DATA_ENTITIES`;

the endpoint-activation message into a `TestMessage`; and anything else into a `Rejection` whose
`reason` is a `RejectReason` code. It never raises on any input. Duplicates are *not* decided
here (they need state): `is_newer` and `DedupeWindow` give the rule the handler applies.
docs/events.md documents the formats, the catalog and every reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.commerce.catalog import (
    MESSAGE_NAMES,
    TEST_EVENT_ID,
    RejectReason,
    business_event_versions,
    check,
    data_entity,
    normalise_name,
)
from shared.commerce.catalog.reasons import DOCS
from shared.domain.events import CommerceHint, EventFormat, IntakeResult, Rejection, TestMessage
from shared.domain.ids import MAX_EVENT_ID, commerce_id_problem, event_id_problem

MAX_BODY_BYTES = 256 * 1024
"""Service Bus Standard's message size limit; our events are a few hundred bytes."""

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DOTNET_DATE = re.compile(r"^/Date\((-?\d{1,17})(?:[+-]\d{4})?\)/$")
_FO_NULL_DATE_MS = -2208988800000  # 1900-01-01T00:00:00Z, F&O's "no date"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BASE64 = re.compile(r"^[A-Za-z0-9+/\r\n]+={0,2}$")
_EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
MAX_CONTROL_NUMBER = 2**63 - 1
"""ControlNumber is an int64 in F&O's BusinessEventsContract (X++ `int64`); anything outside
0..2^63-1, or a JSON number with a fraction or exponent, did not come from F&O. Unbounded, one
event with 1e30 would mark every later event of its scope as stale (`is_newer`)."""


def parse_message(
    body: bytes,
    *,
    content_type: str | None = None,
    application_properties: Mapping[str, Any] | None = None,
    legal_entities: Collection[str] | None = None,
) -> IntakeResult:
    """Classify one message body. `content_type` and `application_properties` are accepted for
    the trigger's convenience but not trusted: F&O does not document them, so the body decides.
    `legal_entities` (dataAreaIds, any case) are the companies this app serves: an event of another
    one is rejected (`other_legal_entity`); None accepts any (the CLI's offline check)."""
    del content_type, application_properties
    accepted = None if legal_entities is None else frozenset(e.strip().upper() for e in legal_entities)
    text = _decode(body)
    if isinstance(text, Rejection):
        return text
    try:
        doc = json.loads(text)
    except RecursionError:
        return _reject(
            RejectReason.NOT_JSON, "The body nests too deeply to be an event. Send one F&O event per message."
        )
    except ValueError as err:
        if _is_base64_json(text):
            return _base64_rejection()
        where = (
            f" (line {err.lineno}, column {err.colno}: {err.msg})"
            if isinstance(err, json.JSONDecodeError)
            else ""
        )
        return _reject(
            RejectReason.NOT_JSON,
            f"The body is not JSON{where}. Publish F&O business or "
            "data events to this topic unchanged; anything else belongs on another topic.",
        )
    if not isinstance(doc, dict):
        if isinstance(doc, str) and _is_base64_json(doc):
            return _base64_rejection()
        return _reject(
            RejectReason.NOT_AN_OBJECT,
            f"The body is a JSON {_json_type(doc)}, not an "
            "object. Publish exactly one event object per message (no arrays or bundles).",
        )
    if "MessageName" in doc and ("InputParameters" in doc or "PrimaryEntityName" in doc):
        return _parse_data_event(doc, body, accepted)
    if "BusinessEventId" in doc:
        return _parse_business_event(doc, accepted)
    return _reject(
        RejectReason.UNKNOWN_FORMAT,
        "The object is neither an F&O business event (no "
        "BusinessEventId) nor a data event (no MessageName with InputParameters or "
        "PrimaryEntityName). Check what publishes to this topic; only F&O business-event "
        f"and data-event endpoints should. See {DOCS}.",
    )


# --- bytes -> text -----------------------------------------------------------------------------


def _decode(body: bytes) -> str | Rejection:
    if len(body) > MAX_BODY_BYTES:
        return _reject(
            RejectReason.OVERSIZE,
            f"The body is {len(body)} bytes; events are at most "
            f"{MAX_BODY_BYTES}. F&O events are small hints: Check that the publisher is not "
            "sending exports or attachments to this topic.",
        )
    if body.startswith(_UTF16_BOMS):
        return _reject(
            RejectReason.NOT_UTF8,
            "The body is UTF-16 (it starts with a UTF-16 byte order mark). Publish JSON as UTF-8.",
        )
    raw = body.removeprefix(_UTF8_BOM)  # F&O bodies may carry a UTF-8 BOM; JSON parsers refuse it
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return _reject(
            RejectReason.NOT_UTF8,
            f"The body is not valid UTF-8 (first bad byte at offset "
            f"{err.start + len(body) - len(raw)}). Publish JSON as UTF-8.",
        )
    if not text.strip():
        return _reject(
            RejectReason.EMPTY_BODY,
            "The message has no body. Nothing to do: check the publisher; F&O always sends a JSON body.",
        )
    return text


def _is_base64_json(text: str) -> bool:
    """A relay that forwarded Logic Apps' base64 `ContentData` instead of the decoded body."""
    candidate = text.strip()
    if len(candidate) < 8 or not _BASE64.match(candidate):
        return False
    try:
        decoded = base64.b64decode("".join(candidate.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return decoded.removeprefix(_UTF8_BOM).lstrip().startswith(b"{")


def _base64_rejection() -> Rejection:
    return _reject(
        RejectReason.BASE64_BODY,
        "The body is base64 text that decodes to JSON. F&O "
        "writes the JSON itself; base64 is how Logic Apps shows a body, so a relay forwarded "
        "its ContentData. Make the relay send base64ToString(ContentData), or publish directly.",
    )


# --- business events ---------------------------------------------------------------------------


def _parse_business_event(doc: dict[str, Any], accepted: frozenset[str] | None) -> IntakeResult:
    event_id = _str(doc.get("EventId"))
    if event_id is not None and event_id_problem(event_id) is not None:
        return _bad_id("Business event", "EventId", str(event_id_problem(event_id)), None)
    name = doc.get("BusinessEventId")
    if not isinstance(name, str) or not name.strip():
        return _invalid(
            "Business event",
            "BusinessEventId",
            "a non-empty string (the business event class name)",
            event_id,
        )
    if name.strip().lower() == TEST_EVENT_ID.lower():
        return TestMessage(event_id=event_id)
    versions = business_event_versions(name)
    if not versions:
        return _reject(
            RejectReason.UNKNOWN_BUSINESS_EVENT,
            f"Business event {_quote(name)} is not "
            f"one this app handles. Activate only the CTS_* business events listed in {DOCS} "
            "for this endpoint, or filter the subscription on them.",
            event_id,
        )
    if "MajorVersion" not in doc:
        return _missing(name, "MajorVersion", event_id)
    major = doc["MajorVersion"]
    if not isinstance(major, int) or isinstance(major, bool):
        return _invalid(name, "MajorVersion", "a JSON integer", event_id)
    spec = versions.get(major)
    if spec is None:
        known = ", ".join(str(v) for v in sorted(versions))
        return _reject(
            RejectReason.UNSUPPORTED_MAJOR_VERSION,
            f"{name} MajorVersion {major} is not "
            f"supported (supported: {known}). Deploy the app version that handles it before "
            "activating the new contract in F&O; then replay this message from the "
            "dead-letter queue.",
            event_id,
        )
    problem = check(spec, doc)
    if problem is not None:
        if problem.missing:
            return _missing(name, problem.field, event_id)
        return _invalid(name, problem.field, problem.expected, event_id)
    control_number = doc["ControlNumber"]
    if (
        not isinstance(control_number, int)
        or isinstance(control_number, bool)
        or not 0 <= control_number <= MAX_CONTROL_NUMBER
    ):
        # JSON Schema's "integer" also admits 1.0 and 1e30: the type check above is not enough.
        return _reject(
            RejectReason.BAD_CONTROL_NUMBER,
            f"{name}: field ControlNumber is not an F&O control number; expected a whole JSON "
            f"number from 0 to {MAX_CONTROL_NUMBER} (an int64). Check what rewrote the event.",
            event_id,
        )
    ids: dict[str, str] = {}
    for key, field in spec.keys:
        value = str(doc[field]).strip()
        problem_text = commerce_id_problem(value)
        if problem_text is not None:
            return _bad_id(name, field, problem_text, event_id)
        ids[key] = value
    legal = _checked_legal_entity(name, doc.get("BusinessEventLegalEntity"), accepted, event_id)
    if isinstance(legal, Rejection):
        return legal
    legal_entity = legal
    if spec.company_specific and legal_entity is None:
        return _reject(
            RejectReason.LEGAL_ENTITY_MISSING,
            f"{name} is company-specific but "
            "BusinessEventLegalEntity is empty. Activate the event for the legal entities "
            "that own the stores (Business event catalog > Activate > Legal entity).",
            event_id,
        )
    try:
        event_time = _event_time(doc.get("EventTime"), doc.get("EventTimeIso8601"))
    except _BadEventTime:
        return _reject(
            RejectReason.BAD_EVENT_TIME,
            "Field EventTime: expected /Date(milliseconds)/ "
            "within the years 1-9999. Check the contract's EventTime serialisation.",
            event_id,
        )
    if event_id is None:  # the schema's minLength admits " " (found by tests/fuzz)
        return _invalid(name, "EventId", "a non-blank string (the event's GUID)", None)
    return CommerceHint(
        scope=spec.scope,
        ids=ids,
        event_id=event_id,
        event_type=name,
        format=EventFormat.BUSINESS_EVENT,
        legal_entity=legal_entity,
        control_number=control_number,
        event_time=event_time,
        major_version=major,
        minor_version=int(doc["MinorVersion"]),
    )


# --- data events -------------------------------------------------------------------------------


def _parse_data_event(doc: dict[str, Any], body: bytes, accepted: frozenset[str] | None) -> IntakeResult:
    correlation = _guid(doc.get("CorrelationId"))
    for field in ("CorrelationId", "RequestId", "OperationId"):
        problem_text = event_id_problem(doc[field]) if isinstance(doc.get(field), str) else None
        if problem_text is not None and doc[field].strip():
            return _bad_id("Data event", field, problem_text, None)
    message_raw = doc.get("MessageName")
    if not isinstance(message_raw, str):
        return _invalid("Data event", "MessageName", "a JSON string", correlation)
    message = MESSAGE_NAMES.get(message_raw.strip().lower())
    if message is None:
        return _reject(
            RejectReason.UNSUPPORTED_MESSAGE_NAME,
            f"Data event MessageName "
            f"{_quote(message_raw)} is not handled; only Create, Update and Delete (or "
            "OnExternalCreated/Updated/Deleted) are. Activate only the create, update and "
            f"delete data events listed in {DOCS}.",
            correlation,
        )
    entity_raw = doc.get("PrimaryEntityName")
    if entity_raw is None:
        return _missing("Data event", "PrimaryEntityName", correlation)
    if not isinstance(entity_raw, str):
        return _invalid("Data event", "PrimaryEntityName", "a JSON string", correlation)
    spec = data_entity(entity_raw)
    if spec is None:
        return _reject(
            RejectReason.UNSUPPORTED_ENTITY,
            f"Data events for entity {_quote(entity_raw)} "
            f"are not handled. Deactivate them for this endpoint; the entities we use are "
            f"listed in {DOCS}.",
            correlation,
        )
    if "InputParameters" not in doc:
        return _missing("Data event", "InputParameters", correlation)
    params = _pairs(doc["InputParameters"])
    if params is None:
        return _invalid("Data event", "InputParameters", "a list of {key, value} objects", correlation)
    target = params.get("Target")
    if not isinstance(target, dict):
        return _missing("Data event", "InputParameters.Target", correlation)

    records = list(_records(target, doc))
    ids: dict[str, str] = {}
    for key, field in spec.keys:
        found = _attribute(records, field)
        if found is _NOT_A_STRING:
            return _invalid(spec.entity, field, "a JSON string", correlation)
        if found is None:
            return _reject(
                RejectReason.MISSING_KEY,
                f"{spec.entity} {message.value} event: key field "
                f"{field} was not found in Target, PostEntityImages, PreEntityImages or "
                "Target.KeyAttributes. Include the entity's key fields in the event (for "
                "deletes, an entity image or key attributes).",
                correlation,
            )
        assert isinstance(found, str)
        problem_text = commerce_id_problem(found)
        if problem_text is not None:
            return _bad_id(spec.entity, field, problem_text, correlation)
        ids[key] = found
    legal_raw = _attribute(records, "dataAreaId")
    legal = _checked_legal_entity(
        spec.entity, legal_raw if isinstance(legal_raw, str) else None, accepted, correlation
    )
    if isinstance(legal, Rejection):
        return legal
    try:
        event_time = _event_time(doc.get("OperationCreatedOn"), None)
    except _BadEventTime:
        return _reject(
            RejectReason.BAD_EVENT_TIME,
            "Field OperationCreatedOn: expected "
            "/Date(milliseconds)/ within the years 1-9999. Check what rewrote the Dataverse "
            "message on its way to this topic.",
            correlation,
        )
    origin = next(
        (g for g in map(_guid, (doc.get(k) for k in ("RequestId", "OperationId"))) if g), correlation
    )
    if origin is None:
        origin = "sha256-" + hashlib.sha256(body.removeprefix(_UTF8_BOM)).hexdigest()[:32]
    keys = "/".join(ids[k] for k, _ in spec.keys)
    event_id = f"{origin}:{spec.entity}:{message.value}:{keys}"
    if event_id_problem(event_id) is not None:  # keep the dedupe record's Table key short
        event_id = "sha256-" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:32]
    return CommerceHint(
        scope=spec.scope,
        ids=ids,
        event_id=event_id,
        event_type=f"data:{spec.entity}:{message.value}",
        format=EventFormat.DATA_EVENT,
        legal_entity=legal,
        event_time=event_time,
    )


_NOT_A_STRING = object()


def _records(target: dict[str, Any], doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Where a data event's fields can be, in order: the Target entity (only changed columns on an
    update), the post-image, the pre-image (the record as it was, for deletes), then the key
    attributes of an EntityReference Target (deletes without an image)."""
    for source in (
        target.get("Attributes"),
        *_image_attributes(doc.get("PostEntityImages")),
        *_image_attributes(doc.get("PreEntityImages")),
        target.get("KeyAttributes"),
    ):
        pairs = _pairs(source)
        if pairs:
            yield {normalise_name(k): v for k, v in pairs.items()}


def _image_attributes(images: object) -> list[object]:
    pairs = _pairs(images)
    if not pairs:
        return []
    return [image.get("Attributes") for image in pairs.values() if isinstance(image, dict)]


def _attribute(records: list[dict[str, Any]], field: str) -> object:
    """The first non-empty value of `field`; `_NOT_A_STRING` when it is there but not text."""
    name = normalise_name(field)
    for record in records:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return _NOT_A_STRING
        if value.strip():
            return value.strip()
    return None


def _pairs(value: object) -> dict[str, Any] | None:
    """Dataverse's DataContract dictionaries: [{"key": k, "value": v}, …] -> {k: v}."""
    if not isinstance(value, list):
        return None
    out: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            return None
        out.setdefault(item["key"], item.get("value"))
    return out


# --- shared helpers ----------------------------------------------------------------------------


class _BadEventTime(ValueError):
    pass


def _event_time(value: object, iso: object) -> datetime | None:
    """The event time; None when absent (or F&O's 1900-01-01 "no date"). Raises when malformed."""
    if value is None:
        return None
    match = _DOTNET_DATE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _BadEventTime
    millis = int(match.group(1))
    if millis == _FO_NULL_DATE_MS:
        return _iso_time(iso)
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise _BadEventTime from None


def _iso_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.year <= 1900:
        return None
    return parsed.astimezone(UTC)


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _legal_entity(value: object) -> str | None:
    """dataAreaId is case-insensitive in F&O: OData shows 'usrt', business events 'USRT'."""
    text = _str(value)
    return text.upper() if text else None


def _checked_legal_entity(
    what: str, value: object, accepted: frozenset[str] | None, event_id: str | None
) -> str | Rejection | None:
    """The event's legal entity (upper case), or the rejection when it is not one this app serves."""
    legal_entity = _legal_entity(value)
    if legal_entity is None:
        return None
    problem_text = commerce_id_problem(legal_entity)
    if problem_text is not None:
        return _bad_id(what, "legal entity (dataAreaId)", problem_text, event_id)
    if accepted is not None and legal_entity not in accepted:
        return _reject(
            RejectReason.OTHER_LEGAL_ENTITY,
            f"{what}: the event belongs to a legal entity this app does not serve (allowed: "
            f"{', '.join(sorted(accepted)) or 'none'}; setting CTS_COMMERCE__LEGAL_ENTITIES). "
            "Activate the event only for the app's legal entities, or add this one to the setting.",
            event_id,
        )
    return legal_entity


def _bad_id(what: str, field: str, problem: str, event_id: str | None) -> Rejection:
    return _reject(
        RejectReason.INVALID_ID,
        f"{what}: field {field} is not a usable id ({problem}). Fix the publisher: ids are at most "
        f"64 letters, digits or '-_. +()&' (event ids: {MAX_EVENT_ID} printable ASCII characters); "
        f"see {DOCS}.",
        event_id,
    )


def _guid(value: object) -> str | None:
    text = _str(value)
    return None if text is None or text.strip("{}").lower() == _EMPTY_GUID else text


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def _quote(text: str) -> str:
    return json.dumps(text[:100])


def _missing(what: str, field: str, event_id: str | None) -> Rejection:
    return _reject(
        RejectReason.MISSING_FIELD,
        f"{what}: required field {field} is missing. Fix the "
        f"publisher's contract to match the schema in {DOCS}.",
        event_id,
    )


def _invalid(what: str, field: str, expected: str, event_id: str | None) -> Rejection:
    return _reject(
        RejectReason.INVALID_FIELD,
        f"{what}: field {field} is not valid; expected "
        f"{expected}. Fix the publisher's contract to match the schema in {DOCS}.",
        event_id,
    )


def _reject(reason: RejectReason, description: str, event_id: str | None = None) -> Rejection:
    if event_id is not None and event_id_problem(event_id) is not None:
        event_id = None  # never carry an unprintable or oversize id into logs and DLQ metadata
    return Rejection(reason=reason.value, description=description[:4096], event_id=event_id)


# --- duplicates --------------------------------------------------------------------------------


def is_newer(control_number: int | None, last_seen: int | None) -> bool:
    """Whether an event must be handled, given the last ControlNumber handled for its scope.

    F&O's ControlNumber increases (with gaps) in commit order, so an event at or below the last
    one handled for the same scope changed nothing that pass did not already read: skip it.
    Without a number on either side (data events, first event) it is handled: re-reading is safe.
    """
    return control_number is None or last_seen is None or control_number > last_seen


class DedupeWindow:
    """A bounded in-memory memory of handled hints: by `dedupe_key` (redelivery of the same event)
    and by `scope_key` (the highest ControlNumber handled). Ask `should_handle`, and `record`
    only after the hint was handled, so a failed attempt is retried. Least recently used keys are
    forgotten first; forgetting only costs one redundant, harmless sync pass."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last: OrderedDict[str, int] = OrderedDict()

    def should_handle(self, hint: CommerceHint) -> bool:
        if hint.dedupe_key in self._seen:
            return False
        return is_newer(hint.control_number, self._last.get(hint.scope_key))

    def record(self, hint: CommerceHint) -> None:
        self._remember(self._seen, hint.dedupe_key, None)
        if hint.control_number is not None:
            last = self._last.get(hint.scope_key)
            newest = hint.control_number if last is None else max(last, hint.control_number)
            self._remember(self._last, hint.scope_key, newest)

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._capacity:
            table.popitem(last=False)

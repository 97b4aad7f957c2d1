"""Why a Commerce message is rejected: the stable codes used as Service Bus dead-letter reasons.

Each code has one meaning and one fix, listed in docs/events.md ("Rejection reasons"); the
`Rejection.description` built by the parser adds the specifics (which field, what was expected)
but never a field's value, so no personal data reaches the dead-letter queue's metadata.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    EMPTY_BODY = "empty_body"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    BASE64_BODY = "base64_body"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FORMAT = "unknown_format"
    UNKNOWN_BUSINESS_EVENT = "unknown_business_event"
    UNSUPPORTED_MAJOR_VERSION = "unsupported_major_version"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    LEGAL_ENTITY_MISSING = "legal_entity_missing"
    BAD_EVENT_TIME = "bad_event_time"
    UNSUPPORTED_MESSAGE_NAME = "unsupported_message_name"
    UNSUPPORTED_ENTITY = "unsupported_entity"
    MISSING_KEY = "missing_key"
    INVALID_ID = "invalid_id"
    BAD_CONTROL_NUMBER = "bad_control_number"
    OTHER_LEGAL_ENTITY = "other_legal_entity"


DOCS = "docs/events.md"
"""Where every reason's meaning and fix is written down; descriptions point there."""

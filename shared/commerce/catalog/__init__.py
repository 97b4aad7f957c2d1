"""What Commerce may send us: our business events (with JSON Schemas), the data-event entities we
map to a scope, and the rejection reasons. Documented for people in docs/events.md."""

from shared.commerce.catalog.business_events import (
    BUSINESS_EVENTS,
    TEST_EVENT_ID,
    BusinessEventSpec,
    SchemaProblem,
    business_event_versions,
    check,
    schema_of,
)
from shared.commerce.catalog.data_events import (
    DATA_ENTITIES,
    MESSAGE_NAMES,
    DataEntitySpec,
    DataMessage,
    data_entity,
    normalise_name,
)
from shared.commerce.catalog.reasons import RejectReason

__all__ = [
    "BUSINESS_EVENTS",
    "DATA_ENTITIES",
    "MESSAGE_NAMES",
    "TEST_EVENT_ID",
    "BusinessEventSpec",
    "DataEntitySpec",
    "DataMessage",
    "RejectReason",
    "SchemaProblem",
    "business_event_versions",
    "check",
    "data_entity",
    "normalise_name",
    "schema_of",
]

"""Embedded broker with Service Bus semantics, persisted in SQLite. See docs/bus.md."""

from ._broker import Broker, CorrelationRule, Subscription, targeting_rules
from ._store import MAX_DELIVERY_REASON, TTL_REASON, EntityNotFound, MessageLockLost

__all__ = [
    "MAX_DELIVERY_REASON",
    "TTL_REASON",
    "Broker",
    "CorrelationRule",
    "EntityNotFound",
    "MessageLockLost",
    "Subscription",
    "targeting_rules",
]

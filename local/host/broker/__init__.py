"""Embedded broker with Service Bus semantics, persisted in SQLite. See docs/bus.md."""

from ._broker import Broker, CorrelationRule, Subscription, targeting_rules
from ._store import MAX_DELIVERY_REASON, TTL_REASON, EntityNotFound, MessageLockLost


def open_ops_broker(path: str) -> Broker:
    """The broker at `path` as the ops tools use it (the app's `CTS_BUS__LOCAL_BROKER_FACTORY`)."""
    return Broker(path, poll_interval=0.2)


__all__ = [
    "MAX_DELIVERY_REASON",
    "TTL_REASON",
    "Broker",
    "CorrelationRule",
    "EntityNotFound",
    "MessageLockLost",
    "Subscription",
    "open_ops_broker",
    "targeting_rules",
]

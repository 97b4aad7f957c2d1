"""Service Bus operations that are not triggers: sending, dead-letter listing, replay and purge.

The protocol (`BusSender`, `DeadLetterBus`) has two implementations: the local embedded broker
(`local.host.broker.Broker`) and Azure Service Bus (`shared.bus.servicebus.ServiceBus`, imported
on demand: it loads azure-servicebus). See docs/bus.md.
"""

from .protocol import (
    TARGET_SUBSCRIPTION_PROPERTY,
    BusSender,
    DeadLetterBus,
    DeadLetterReceiver,
    EntityRef,
    OutgoingMessage,
    PropertyValue,
    ReceivedMessage,
    targeting_sql_filter,
)
from .replay import (
    Action,
    AuditRecord,
    DeadLetterFilter,
    Summary,
    list_dead_letters,
    purge_dead_letters,
    replay_dead_letters,
)

__all__ = [
    "TARGET_SUBSCRIPTION_PROPERTY",
    "Action",
    "AuditRecord",
    "BusSender",
    "DeadLetterBus",
    "DeadLetterFilter",
    "DeadLetterReceiver",
    "EntityRef",
    "OutgoingMessage",
    "PropertyValue",
    "ReceivedMessage",
    "Summary",
    "list_dead_letters",
    "purge_dead_letters",
    "replay_dead_letters",
    "targeting_sql_filter",
]

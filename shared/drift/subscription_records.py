"""The Graph change-notification subscriptions the app holds (partition `subscriptions/graph`),
kept by shared/drift/subscriptions.py's keeper; never with their clientState (a secret)."""

from __future__ import annotations

from shared.domain.subscriptions import Subscription
from shared.state import StateStore
from shared.state.store import SUBSCRIPTIONS


async def put_subscription(state: StateStore, subscription: Subscription) -> None:
    """Remember a subscription the app holds (without its clientState: that is a secret)."""
    data = subscription.model_dump(mode="json", exclude={"client_state"})
    await state.backend.upsert(SUBSCRIPTIONS, "graph", subscription.subscription_id, data)


async def get_subscription(state: StateStore, subscription_id: str) -> Subscription | None:
    found = await state.backend.get(SUBSCRIPTIONS, "graph", subscription_id)
    return None if found is None else Subscription.model_validate(found.data)


async def list_subscriptions(state: StateStore) -> list[Subscription]:
    return [Subscription.model_validate(e.data) async for e in state.backend.query(SUBSCRIPTIONS, "graph")]


async def delete_subscription(state: StateStore, subscription_id: str) -> None:
    await state.backend.delete(SUBSCRIPTIONS, "graph", subscription_id)

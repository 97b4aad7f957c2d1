"""Change-notification subscriptions through the SDK: create, renew, delete, list.

Graph validates `notificationUrl` (and `lifecycleNotificationUrl`) with a handshake before it
answers 201; Teams resources need a lifecycle URL when expiring more than 1 h ahead.
https://learn.microsoft.com/graph/api/subscription-post-subscriptions,
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks. Permissions are those of
the watched resource (e.g. TeamMember.Read.All for /teams/getAllMembers, Group.Read.All for /groups).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.subscriptions import Subscription
from shared.graph.client import GraphClient, sdk


def subscription_from(data: Any) -> Subscription:
    expiration = data.expiration_date_time or datetime.now(UTC)
    return Subscription(
        subscription_id=str(data.id),
        resource=str(data.resource or ""),
        change_type=str(data.change_type or ""),
        notification_url=str(data.notification_url or ""),
        expiration=expiration,
        lifecycle_notification_url=data.lifecycle_notification_url,
        client_state=data.client_state,
    )


async def create_subscription(
    client: GraphClient,
    *,
    resource: str,
    change_type: str,
    notification_url: str,
    expiration: datetime,
    client_state: str,
    lifecycle_notification_url: str | None = None,
) -> Subscription:
    from msgraph.generated.models.subscription import Subscription as SdkSubscription

    if len(client_state) > 128:  # the subscription resource's documented maximum
        raise ValueError("clientState must be at most 128 characters")
    body = SdkSubscription(
        resource=resource,
        change_type=change_type,
        notification_url=notification_url,
        lifecycle_notification_url=lifecycle_notification_url,
        expiration_date_time=expiration,
        client_state=client_state,
    )
    return subscription_from(await sdk(client.service.subscriptions.post(body)))


async def renew_subscription(client: GraphClient, subscription_id: str, expiration: datetime) -> Subscription:
    from msgraph.generated.models.subscription import Subscription as SdkSubscription

    builder = client.service.subscriptions.by_subscription_id(subscription_id)
    updated = await sdk(builder.patch(SdkSubscription(expiration_date_time=expiration)))
    if updated is None:  # 204: read it back
        updated = await sdk(builder.get())
    return subscription_from(updated)


async def delete_subscription(client: GraphClient, subscription_id: str) -> None:
    await sdk(client.service.subscriptions.by_subscription_id(subscription_id).delete())


async def list_subscriptions(client: GraphClient) -> list[Subscription]:
    out: list[Subscription] = []
    page = await sdk(client.service.subscriptions.get())
    while page is not None:
        out.extend(subscription_from(s) for s in page.value or [])
        if not page.odata_next_link:
            break
        page = await sdk(client.service.subscriptions.with_url(page.odata_next_link).get())
    return out

"""Graph change-notification subscriptions and the directory delta the reconciler reads."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Subscription(_Model):
    subscription_id: str
    resource: str
    change_type: str
    notification_url: str
    expiration: datetime
    lifecycle_notification_url: str | None = None
    client_state: str | None = None


class MemberChange(_Model):
    group_id: str
    user_id: str
    removed: bool = False
    owner: bool = Field(default=False, description="From owners@delta (a change of the group's owners)")


class GroupDelta(_Model):
    """One round of `/groups/delta`: what changed since the last delta link."""

    changed_group_ids: tuple[str, ...] = ()
    removed_group_ids: tuple[str, ...] = Field(default=(), description="Deleted (soft or hard)")
    member_changes: tuple[MemberChange, ...] = ()
    display_names: dict[str, str] = Field(default_factory=dict, description="Changed group id -> its name")
    delta_link: str | None = None
    resync_required: bool = Field(
        default=False, description="The token expired (410 / syncStateNotFound): run a full reconciliation"
    )

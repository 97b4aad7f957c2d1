"""The Gateway facade: every Graph operation the app uses, returning domain models.

One instance per process is enough: it holds one msgraph-sdk client per event loop
(client.ClientCache). Errors are GraphError subclasses (errors.py), never raw JSON.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from shared.coalesce import Coalesced
from shared.domain.execution import MemberFailure
from shared.domain.ids import segment
from shared.domain.planner import (
    PlannerBucket,
    PlannerPlan,
    PlannerSchedule,
    PlannerTask,
    PlannerTaskDetails,
    TaskDetailsFields,
    TaskFields,
)
from shared.domain.records import ChannelTab, DriveFile, FilesFolder
from shared.domain.subscriptions import GroupDelta, Subscription
from shared.domain.teams import Channel, Identity, Member, MemberRole, Team, Visibility
from shared.domain.todo import TodoFields, TodoList, TodoTask
from shared.graph import channels, delta, members, planner, records, subscriptions, tags, teams, todo, users
from shared.graph.batch import BatchRequest, BatchResponse, run_batch
from shared.graph.client import ClientCache, GraphClient
from shared.graph.coalesce import CALL_SIZE
from shared.graph.errors import NotFound
from shared.graph.pacing import Pacing
from shared.graph.retry import RetryStats, Sleep
from shared.graph.teams import PollPolicy
from shared.settings import GraphSettings


class Gateway:
    """Microsoft Graph for the app. `settings.base_url` points at Graph or at the sandbox."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        credential: Any = None,
        poll: PollPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        pacing: Pacing | None = None,
    ) -> None:
        self.settings = settings
        fast = settings.auth == "static_token"  # the sandboxes finish async operations at once
        self.poll = poll or (PollPolicy.fast() if fast else PollPolicy())
        self._sleep = sleep
        # One pacing for every loop's client: the process's share of Graph's limits.
        self.pacing = pacing or Pacing.of(settings.team_creates_per_second)
        self._clients = ClientCache(settings, credential, sleep=sleep, pacing=self.pacing)
        self._coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Coalesced[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def client(self) -> GraphClient:
        """The msgraph-sdk stack of the running event loop (`.service` is the GraphServiceClient)."""
        return self._clients.get()

    @property
    def stats(self) -> RetryStats:
        """HTTP requests sent (with retries), retries and seconds slept, for this loop's client."""
        return self.client().transport.stats

    async def aclose(self) -> None:
        await self._clients.aclose()

    # record-connected channels (tabs, files folders)
    async def installed_app_ids(self, team_id: str) -> set[str]:
        return await records.installed_app_ids(self.client(), team_id)

    async def install_app(self, team_id: str, app_id: str) -> bool:
        return await records.install_app(self.client(), team_id, app_id)

    async def list_tabs(self, team_id: str, channel_id: str) -> list[ChannelTab]:
        return await records.list_tabs(self.client(), team_id, channel_id)

    async def create_tab(
        self,
        team_id: str,
        channel_id: str,
        *,
        app_id: str,
        name: str,
        entity_id: str,
        content_url: str,
        website_url: str,
    ) -> ChannelTab:
        return await records.create_tab(
            self.client(),
            team_id,
            channel_id,
            app_id=app_id,
            name=name,
            entity_id=entity_id,
            content_url=content_url,
            website_url=website_url,
        )

    async def delete_tab(self, team_id: str, channel_id: str, tab_id: str) -> bool:
        return await records.delete_tab(self.client(), team_id, channel_id, tab_id)

    async def files_folder(self, team_id: str, channel_id: str) -> FilesFolder:
        return await records.files_folder(self.client(), team_id, channel_id)

    async def files_at(self, url: str) -> list[DriveFile] | None:
        return await records.files_at(self.client(), url)

    # users
    async def resolve_upns(self, upns: Iterable[str]) -> dict[str, Identity]:
        """UPN or object id -> Identity; concurrent calls on this loop share their requests
        (coalesce.Coalesced: a reconciliation batch's passes cost one call per 300 people)."""
        plans = self.settings.teams_service_plan_ids
        lookups = self._coalesced("users", lambda client, keys: users.resolve_upns(client, keys, plans))
        return await lookups.get(upns)

    def _coalesced(self, name: str, look_up: Any) -> Coalesced[Any]:
        """This loop's `Coalesced` for `name`; `look_up(client, keys)` is its one look-up."""
        loop = asyncio.get_running_loop()
        mine = self._coalescers.setdefault(loop, {})
        found = mine.get(name)
        if found is None:
            client = self.client()
            found = mine[name] = Coalesced(lambda keys: look_up(client, keys), size=CALL_SIZE)
        return found

    async def resolve_employee_ids(self, employee_ids: Iterable[str]) -> dict[str, Identity]:
        return await users.resolve_employee_ids(self.client(), employee_ids)

    # teams
    async def get_team(self, team_id: str) -> Team | None:
        return await teams.get_team(self.client(), team_id)

    async def get_team_state(
        self, team_id: str, plan_title: str | None = None, *, with_tags: bool = False
    ) -> Team | None:
        return await teams.get_team_state(self.client(), team_id, plan_title, with_tags=with_tags)

    # tags
    async def create_tag(self, team_id: str, name: str, user_ids: Sequence[str]) -> str:
        return await tags.create_tag(self.client(), team_id, name, user_ids)

    async def add_tag_member(self, team_id: str, tag_id: str, user_id: str) -> None:
        await tags.add_tag_member(self.client(), team_id, tag_id, user_id)

    async def remove_tag_member(self, team_id: str, tag_id: str, member_id: str) -> None:
        await tags.remove_tag_member(self.client(), team_id, tag_id, member_id)

    async def delete_tag(self, team_id: str, tag_id: str) -> None:
        await tags.delete_tag(self.client(), team_id, tag_id)

    async def find_teams(
        self, *, mail_nickname: str | None = None, display_name: str | None = None
    ) -> list[Team]:
        """Teams whose group has this nickname or display name. By display name alone (the
        adoption check before a create), concurrent calls share their requests (`displayName in
        (...)`, 15 names per request: coalesce.Coalesced)."""
        if display_name and not mail_nickname:
            named: Coalesced[list[Team]] = self._coalesced("teams-named", teams.find_teams_named)
            return (await named.get([display_name])).get(display_name, [])
        return await teams.find_teams(self.client(), mail_nickname=mail_nickname, display_name=display_name)

    async def create_team(
        self,
        *,
        display_name: str,
        owner_id: str,
        description: str = "",
        visibility: Visibility = Visibility.PRIVATE,
    ) -> str:
        return await teams.create_team(
            self.client(),
            display_name=display_name,
            description=description,
            visibility=visibility,
            owner_id=owner_id,
            poll=self.poll,
            sleep=self._sleep,
        )

    async def update_team(
        self, team_id: str, *, display_name: str | None = None, description: str | None = None
    ) -> None:
        await teams.update_team(self.client(), team_id, display_name=display_name, description=description)

    async def set_mail_nickname(self, team_id: str, mail_nickname: str) -> None:
        """PATCH the team's group (POST /teams cannot set it). Needs Group.ReadWrite.All."""
        await self.client().call("PATCH", f"groups/{segment(team_id)}", {"mailNickname": mail_nickname})

    async def archive_team(self, team_id: str) -> None:
        await teams.set_archived(self.client(), team_id, True, self.poll, sleep=self._sleep)

    async def unarchive_team(self, team_id: str) -> None:
        await teams.set_archived(self.client(), team_id, False, self.poll, sleep=self._sleep)

    # members
    async def add_members(
        self, team_id: str, people: Sequence[tuple[str, MemberRole]], *, new_team: bool = False
    ) -> list[MemberFailure]:
        return await members.add_members(
            self.client(),
            team_id,
            people,
            new_team=new_team,
            replication_delay=self.poll.replication_delay,
            replication_attempts=self.poll.replication_attempts,
        )

    async def list_members(self, team_id: str) -> list[Member]:
        return await members.list_members(self.client(), team_id)

    async def membership_id(self, team_id: str, user_id: str) -> str:
        found = next((m for m in await self.list_members(team_id) if m.user_id == user_id), None)
        if found is None or not found.membership_id:
            raise NotFound(f"user {user_id} is not a member of team {team_id}", status=404, code="NotFound")
        return found.membership_id

    async def remove_member(
        self, team_id: str, *, membership_id: str | None = None, user_id: str | None = None
    ) -> None:
        mid = membership_id or await self.membership_id(team_id, _required(user_id))
        await members.remove_member(self.client(), team_id, mid)

    async def set_role(
        self, team_id: str, role: MemberRole, *, membership_id: str | None = None, user_id: str | None = None
    ) -> None:
        mid = membership_id or await self.membership_id(team_id, _required(user_id))
        await members.set_role(self.client(), team_id, mid, role)

    # channels
    async def list_channels(self, team_id: str) -> list[Channel]:
        return await channels.list_channels(self.client(), team_id)

    async def create_channel(self, team_id: str, name: str, description: str = "") -> tuple[Channel, bool]:
        return await channels.create_channel(self.client(), team_id, name, description)

    # directory delta
    async def groups_delta(
        self, delta_link: str | None = None, *, group_ids: Iterable[str] | None = None, from_now: bool = False
    ) -> GroupDelta:
        """One delta round; `from_now`: no groups, just a delta link for changes after now."""
        return await delta.groups_delta(self.client(), delta_link, group_ids=group_ids, from_now=from_now)

    # planner
    async def list_plans(self, group_id: str) -> list[PlannerPlan]:
        return await planner.list_plans(self.client(), group_id)

    async def create_plan(self, group_id: str, title: str) -> PlannerPlan:
        return await planner.create_plan(self.client(), group_id, title)

    async def list_buckets(self, plan_id: str) -> list[PlannerBucket]:
        return await planner.list_buckets(self.client(), plan_id)

    async def create_bucket(self, plan_id: str, name: str) -> PlannerBucket:
        return await planner.create_bucket(self.client(), plan_id, name)

    async def list_tasks(self, plan_id: str) -> list[PlannerTask]:
        return await planner.list_tasks(self.client(), plan_id)

    async def list_tasks_of_plans(self, plan_ids: Iterable[str]) -> dict[str, list[PlannerTask]]:
        return await planner.list_tasks_of_plans(self.client(), plan_ids)

    async def get_task(self, task_id: str, *, version: str = "v1.0") -> PlannerTask:
        return await planner.get_task(self.client(), task_id, version=version)

    async def create_task(self, plan_id: str, fields: TaskFields) -> PlannerTask:
        return await planner.create_task(self.client(), plan_id, fields)

    async def update_task(self, task: PlannerTask | str, etag: str | None, fields: TaskFields) -> PlannerTask:
        task_id, tag = _id_and_etag(task, etag)
        return await planner.update_task(self.client(), task_id, tag, fields)

    async def delete_task(self, task: PlannerTask | str, etag: str | None = None) -> None:
        task_id, tag = _id_and_etag(task, etag)
        await planner.delete_task(self.client(), task_id, tag)

    async def get_task_details(self, task_id: str) -> PlannerTaskDetails:
        return await planner.get_task_details(self.client(), task_id)

    async def update_task_details(
        self, details: PlannerTaskDetails, fields: TaskDetailsFields
    ) -> PlannerTaskDetails:
        return await planner.update_task_details(
            self.client(), details.task_id, _required(details.etag), fields
        )

    async def read_task_bundle(
        self, task_id: str, plan_id: str | None = None
    ) -> tuple[PlannerTask, str | None, PlannerTaskDetails, list[PlannerBucket]] | None:
        """Task, completedBy user id, details and the plan's buckets in one $batch; None if gone."""
        return await planner.read_task_bundle(self.client(), task_id, plan_id)

    async def update_task_fields(
        self, task_id: str, etag: str, fields: TaskFields, *, clear_due: bool = False
    ) -> PlannerTask:
        return await planner.update_task_fields(self.client(), task_id, etag, fields, clear_due=clear_due)

    async def get_task_beta(self, task_id: str) -> PlannerTask | None:
        """The task with its beta-only `recurrence`; None when gone."""
        return await planner.get_task_beta(self.client(), task_id)

    async def set_task_schedule(
        self, task_id: str, etag: str, schedule: PlannerSchedule | None
    ) -> PlannerTask:
        return await planner.set_task_schedule(self.client(), task_id, etag, schedule)

    # To Do (a worker's own task lists; Tasks.ReadWrite.All)
    async def list_todo_lists(self, user_id: str) -> list[TodoList]:
        return await todo.list_lists(self.client(), user_id)

    async def ensure_todo_list(self, user_id: str, name: str) -> TodoList:
        """The user's To Do list called `name`, created when missing."""
        return await todo.ensure_list(self.client(), user_id, name)

    async def list_todo_tasks(self, user_id: str, list_id: str) -> list[TodoTask]:
        return await todo.list_tasks(self.client(), user_id, list_id)

    async def create_todo_task(self, user_id: str, list_id: str, fields: TodoFields) -> TodoTask:
        return await todo.create_task(self.client(), user_id, list_id, fields)

    async def get_todo_task(self, user_id: str, list_id: str, task_id: str) -> TodoTask | None:
        """None when the task (or its list) is gone."""
        return await todo.get_task(self.client(), user_id, list_id, task_id)

    async def update_todo_task(
        self, user_id: str, list_id: str, task_id: str, fields: TodoFields
    ) -> TodoTask:
        return await todo.update_task(self.client(), user_id, list_id, task_id, fields)

    async def delete_todo_task(self, user_id: str, list_id: str, task_id: str) -> None:
        """Already gone is fine."""
        await todo.delete_task(self.client(), user_id, list_id, task_id)

    # subscriptions
    async def create_subscription(
        self,
        *,
        resource: str,
        change_type: str,
        notification_url: str,
        expiration: datetime,
        client_state: str,
        lifecycle_notification_url: str | None = None,
    ) -> Subscription:
        return await subscriptions.create_subscription(
            self.client(),
            resource=resource,
            change_type=change_type,
            notification_url=notification_url,
            expiration=expiration,
            client_state=client_state,
            lifecycle_notification_url=lifecycle_notification_url,
        )

    async def renew_subscription(self, subscription_id: str, expiration: datetime) -> Subscription:
        return await subscriptions.renew_subscription(self.client(), subscription_id, expiration)

    async def delete_subscription(self, subscription_id: str) -> None:
        await subscriptions.delete_subscription(self.client(), subscription_id)

    async def list_subscriptions(self) -> list[Subscription]:
        return await subscriptions.list_subscriptions(self.client())

    # $batch
    async def batch(
        self, requests: Iterable[BatchRequest], *, version: str = "v1.0"
    ) -> dict[str, BatchResponse]:
        """Send requests in ≤ 20-request $batch calls (to `/beta/$batch` for version="beta");
        per-request results by id."""
        return await run_batch(
            self.client(),
            requests,
            sleep=self._sleep,
            not_found_delay=self.poll.replication_delay,
            not_found_attempts=self.poll.replication_attempts,
            version=version,
        )


def _required(value: str | None) -> str:
    if not value:
        raise ValueError("a user id / membership id / etag is required")
    return value


def _id_and_etag(task: PlannerTask | str, etag: str | None) -> tuple[str, str]:
    if isinstance(task, PlannerTask):
        return task.task_id, _required(etag or task.etag)
    return task, _required(etag)

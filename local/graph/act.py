"""Side-channel actions: a person changes Teams or Planner by hand (drift, two-way sync).

Each action changes the tenant exactly as the Graph call would (delta log, notifications, ETags)
but bypasses auth, throttling, faults and counters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .core import Sandbox
from .errors import GraphError
from .todo import ACTIONS as TODO_ACTIONS
from .users import resolve_user

Action = Callable[[Sandbox, dict[str, Any]], Any]


def _user(sb: Sandbox, data: dict[str, Any], key: str = "userId") -> dict[str, Any]:
    user = resolve_user(sb, str(data.get(key)))
    if user is None:
        raise GraphError(404, "NotFound", f"Unknown user {data.get(key)!r}.")
    return user


def _team(sb: Sandbox, data: dict[str, Any]) -> dict[str, Any]:
    from .teams import team_or_404

    return team_or_404(sb, str(data.get("teamId")))


def add_member(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .members import add_member as add

    team = _team(sb, data)
    return add(sb, team["id"], _user(sb, data), ["owner"] if data.get("owner") else [])


def remove_member(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .members import membership_id
    from .members import remove_member as remove

    team = _team(sb, data)
    member = sb.store.get("member", membership_id(team["id"], _user(sb, data)["id"]))
    if member is None:
        raise GraphError(404, "NotFound", "Not a member.")
    remove(sb, team["id"], member)
    return {"removed": member["id"]}


def set_role(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .members import membership_id, set_roles

    team = _team(sb, data)
    member = sb.store.get("member", membership_id(team["id"], _user(sb, data)["id"]))
    if member is None:
        raise GraphError(404, "NotFound", "Not a member.")
    return set_roles(sb, team["id"], member, ["owner"] if data.get("owner") else [])


def rename_team(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .teams import rename_team as rename

    team = _team(sb, data)
    rename(sb, team, {"displayName": data["displayName"]})
    return team


def rename_channel(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .channels import update_channel

    team = _team(sb, data)
    channel = sb.store.get("channel", str(data.get("channelId")))
    if channel is None:
        raise GraphError(404, "NotFound", "Unknown channel.")
    update_channel(sb, team["id"], channel, {"displayName": data["displayName"]})
    return channel


def task_progress(percent: int | None) -> Action:
    def act(sb: Sandbox, data: dict[str, Any]) -> Any:
        from .planner import update_task_as

        value = percent if percent is not None else int(data["percentComplete"])
        return update_task_as(sb, str(data.get("taskId")), _user(sb, data)["id"], {"percentComplete": value})

    return act


def edit_task(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .planner import update_task_as

    changes = {k: v for k, v in data.items() if k not in ("taskId", "userId")}
    return update_task_as(sb, str(data.get("taskId")), _user(sb, data)["id"], changes)


def delete_task(sb: Sandbox, data: dict[str, Any]) -> Any:
    """A person deletes a task in Planner (no If-Match needed by hand)."""
    from .planner import delete_task_as

    _user(sb, data)
    return delete_task_as(sb, str(data.get("taskId")))


_NEW_TASK_FIELDS = ("planId", "title", "bucketId", "dueDateTime", "assignments", "percentComplete")


def create_task(sb: Sandbox, data: dict[str, Any]) -> Any:
    """A person creates a task in a plan in Teams/Planner: createdBy is that user."""
    from .planner import new_task

    body = {k: data[k] for k in _NEW_TASK_FIELDS if k in data}
    return new_task(sb, body, _user(sb, data)["id"])


def publish_task(sb: Sandbox, data: dict[str, Any]) -> Any:
    """A list published from Teams (Tasks by Planner -> Published lists) lands one task in a plan:
    ``{planId, title, publicationId, publicationName, publishingTeamId?, userId?}``. Who Graph names
    in createdBy for a published task is [unconfirmed]: the publishing user when `userId` is given,
    else an application (the publishing service)."""
    from .planner import new_task, publication_source

    if not data.get("publicationId"):
        raise GraphError(400, "BadRequest", "publicationId is required.")
    body = {k: data[k] for k in _NEW_TASK_FIELDS if k in data}
    actor = _user(sb, data)["id"] if data.get("userId") else None
    source = publication_source(
        str(data["publicationId"]),
        str(data.get("publicationName") or ""),
        data.get("publishingTeamId"),
        str(data.get("planId")),
    )
    return new_task(sb, body, actor, source)


def delete_channel(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .tabs import delete_channel_as_person

    return delete_channel_as_person(sb, data)


def upload_file(sb: Sandbox, data: dict[str, Any]) -> Any:
    from .files import upload_file as upload

    return upload(sb, data)


ACTIONS: dict[str, Action] = {
    "delete-channel": delete_channel,  # a person deletes a channel in Teams
    "upload-file": upload_file,  # a person drops a file in a channel's Files tab
    "add-member": add_member,
    "remove-member": remove_member,
    "set-role": set_role,
    "rename-team": rename_team,
    "rename-channel": rename_channel,
    "complete-task": task_progress(100),
    "start-task": task_progress(50),
    "set-task-progress": task_progress(None),
    "edit-task": edit_task,
    "delete-task": delete_task,
    "create-task": create_task,  # a person makes a task in the plan (ad hoc)
    "publish-task": publish_task,  # a list published from Teams lands a task in the plan
    **TODO_ACTIONS,  # a person edits their To Do: todo-update, todo-delete
}

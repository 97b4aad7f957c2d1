"""Task features beyond title/due/status (pure): priority, checklist (from the notes) and the task
link as a Planner reference. All three are Commerce-owned, like the title: Planner gets Commerce's
value, a Teams edit is overwritten and reported. What Commerce does not hold (a checklist item's
tick, references and items people add in Teams, a priority when Commerce sets none) is left alone.
"""

from __future__ import annotations

import re
import uuid

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.planner import ChecklistItem
from shared.domain.tasks import TaskPriority


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# plannerTask.priority is 0-10: 0-1 urgent, 2-4 important, 5-7 medium, 8-10 low; Planner itself
# writes 1, 3, 5 and 9 (../shared/reference/graph-apis.md, "Planner"; seen on
# https://learn.microsoft.com/en-us/dotnet/api/azure.connectors.sdk.planner.models.createtaskrequest.priority
# and https://learn.microsoft.com/graph/api/resources/plannertask "priority").
PLANNER_PRIORITY: dict[TaskPriority, int] = {
    TaskPriority.URGENT: 1,
    TaskPriority.IMPORTANT: 3,
    TaskPriority.MEDIUM: 5,
    TaskPriority.LOW: 9,
}
DEFAULT_PLANNER_PRIORITY = 5  # a task created without one is medium


def planner_priority(priority: TaskPriority) -> int:
    """Commerce priority -> the value Planner writes for that class."""
    return PLANNER_PRIORITY[priority]


def priority_class(value: int | None) -> TaskPriority:
    """Planner's 0-10 -> its class; None (never set) is Planner's default, medium."""
    v = DEFAULT_PLANNER_PRIORITY if value is None else value
    if not 0 <= v <= 10:
        raise ValueError("plannerTask.priority is 0-10")
    if v <= 1:
        return TaskPriority.URGENT
    if v <= 4:
        return TaskPriority.IMPORTANT
    if v <= 7:
        return TaskPriority.MEDIUM
    return TaskPriority.LOW


# -- checklist <-> the notes' sub-steps ----------------------------------------------------------
# Commerce's task has Notes and nothing like a checklist (reference 2.1: "checklist concept beyond
# task list" unconfirmed). Sub-steps are written in the notes as "- [ ] step" lines (Markdown task
# list items; "* [ ]" and "- [x]" are read too); they become the Planner task's checklist on
# /details, the rest of the notes its description. Commerce owns which steps there are and their
# titles; the tick is the store's, made in Teams, and is never overwritten (Commerce has no field
# for it). Items people add in Teams are theirs and are left alone.
CHECKLIST_MAX = 20  # https://learn.microsoft.com/office365/planner/planner-limits: 20 per task (403
# MaximumChecklistItemsOnTask past it)
_ITEM = re.compile(r"^\s*[-*]\s*\[[ xX]?\]\s+(?P<title>\S.*?)\s*$")
_NAMESPACE = uuid.UUID("6f1d4c2e-8a53-4b7e-9a51-2c0de7a5c151")  # ours: checklist item ids


class Checklist(_Model):
    """The checklist a store task's notes ask for: (item id, title) in order, at most 20."""

    items: tuple[tuple[str, str], ...] = ()
    overflow: tuple[str, ...] = Field(default=(), description="Steps past the 20 Planner holds")

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(i for i, _ in self.items)


def split_notes(notes: str) -> tuple[str, tuple[str, ...]]:
    """(the notes without their step lines, the steps' titles in order)."""
    text, steps = [], []
    for line in notes.replace("\r\n", "\n").split("\n"):
        found = _ITEM.match(line)
        if found:
            steps.append(found.group("title"))
        else:
            text.append(line)
    return "\n".join(text).strip(), tuple(steps)


def item_id(key: str, title: str, n: int = 0) -> str:
    """A stable GUID per pair, step title and repeat (the n-th step with that title): a step keeps
    its id (and its tick in Teams) when other steps are added, removed or moved."""
    return str(uuid.uuid5(_NAMESPACE, f"{key}\n{title}\n{n}"))


def checklist_of(key: str, steps: tuple[str, ...]) -> Checklist:
    seen: dict[str, int] = {}
    items = []
    for title in steps:
        n = seen.get(title, 0)
        seen[title] = n + 1
        items.append((item_id(key, title, n), title))
    return Checklist(items=tuple(items[:CHECKLIST_MAX]), overflow=tuple(t for _, t in items[CHECKLIST_MAX:]))


class ChecklistChange(_Model):
    upserts: tuple[ChecklistItem, ...] = ()
    removals: frozenset[str] = frozenset()
    edited: bool = Field(default=False, description="A step's title was changed in Teams")
    dropped: int = Field(default=0, description="Steps not added: the task is at the 20-item limit")

    @property
    def empty(self) -> bool:
        return not self.upserts and not self.removals


def checklist_change(
    want: Checklist, have: tuple[ChecklistItem, ...], ours: frozenset[str] | None
) -> ChecklistChange:
    """What to PATCH so the task shows Commerce's steps: add the missing ones (unticked), set a title
    edited in Teams back (its tick kept), remove the steps Commerce dropped (`ours`: the ids we
    wrote; None = unknown: nothing is removed). Other items are left. Adds stop at 20 items."""
    by_id = {i.item_id: i for i in have}
    removals = frozenset((ours or frozenset()) - want.ids) & by_id.keys()
    upserts, edited = [], False
    room = CHECKLIST_MAX - (len(by_id) - len(removals))
    dropped = 0
    for ident, title in want.items:
        current = by_id.get(ident)
        if current is None:
            if room <= 0:
                dropped += 1
                continue
            room -= 1
            upserts.append(ChecklistItem(item_id=ident, title=title))
        elif current.title != title:
            edited = True
            upserts.append(current.model_copy(update={"title": title}))
    deleted_in_teams = (ours or frozenset()) & want.ids - by_id.keys()
    return ChecklistChange(
        upserts=tuple(upserts), removals=removals, edited=edited or bool(deleted_in_teams), dropped=dropped
    )


# -- the task link as a Planner reference ------------------------------------------------------
# details.references is an open type keyed by the URL, whose key "can't contain the following
# characters: ., :, %, @, # so they need to be encoded" (example key
# `https%3A//contoso%2Esharepoint%2Ecom/...`), and a PATCH entry needs
# "@odata.type": "microsoft.graph.externalReference":
# https://learn.microsoft.com/graph/api/resources/plannerexternalreferences . Only a URL task link
# becomes one (a menu item or POS operation stays a "Link:" line of the description).
LINK_ALIAS = "Commerce task link"
REFERENCES_MAX = 10  # the stricter published copy of the planner-limits page (10 / 15)
_ENCODE = (("%", "%25"), (".", "%2E"), (":", "%3A"), ("@", "%40"), ("#", "%23"))


def reference_key(url: str) -> str:
    """The URL as a references key ('%' first, so the result decodes back unambiguously)."""
    for char, code in _ENCODE:
        url = url.replace(char, code)
    return url


def url_of_reference(key: str) -> str:
    for char, code in reversed(_ENCODE):
        key = key.replace(code, char)
    return key


def link_reference(link: str | None) -> str | None:
    """The references key of a URL task link; None for no link or one that is not http(s)."""
    text = (link or "").strip()
    if not re.match(r"^https?://\S+$", text, flags=re.IGNORECASE):
        return None
    return reference_key(text)


class ReferenceChange(_Model):
    add: str | None = None
    remove: str | None = None
    dropped: bool = Field(default=False, description="Not added: the task is at the references limit")

    @property
    def empty(self) -> bool:
        return self.add is None and self.remove is None


def reference_change(want: str | None, have: frozenset[str], ours: str | None) -> ReferenceChange:
    """Add Commerce's link when missing; remove the one we wrote when Commerce's changed or went.
    References people added are left alone."""
    remove = ours if ours is not None and ours != want and ours in have else None
    add = want if want is not None and want not in have else None
    if add is not None and len(have) - (1 if remove else 0) >= REFERENCES_MAX:
        return ReferenceChange(remove=remove, dropped=True)
    return ReferenceChange(add=add, remove=remove)

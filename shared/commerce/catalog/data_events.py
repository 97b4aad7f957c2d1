"""The F&O data events (Power Platform integration) we accept, and how each names its scope.

F&O delivers data events through Dataverse as a `RemoteExecutionContext`. The entity arrives under
its *virtual table* name, `mserp_` + the lower-cased entity name (`mserp_retailstoreentity`), with
attributes named the same way (`mserp_storenumber`); older samples show the plain entity name
(`RetailStoreEntity`, `StoreNumber`). Both are accepted: names are compared lower-cased with the
`mserp_` prefix removed. See docs/events.md ("Data events") for sources and what is unconfirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.events import HintScope

VIRTUAL_TABLE_PREFIX = "mserp_"


class DataMessage(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


MESSAGE_NAMES: dict[str, DataMessage] = {
    "create": DataMessage.CREATE,
    "update": DataMessage.UPDATE,
    "delete": DataMessage.DELETE,
    # Virtual-table events (how F&O entities surface in Dataverse).
    "onexternalcreated": DataMessage.CREATE,
    "onexternalupdated": DataMessage.UPDATE,
    "onexternaldeleted": DataMessage.DELETE,
}


@dataclass(frozen=True)
class DataEntitySpec:
    entity: str
    """F&O data entity name, as in the data event catalog."""
    scope: HintScope
    keys: tuple[tuple[str, str], ...]
    """(hint ids key, entity field): the alternate keys that name the scope."""
    source: str
    """Where the entity and its fields are documented, or why we assume them."""


DATA_ENTITIES: tuple[DataEntitySpec, ...] = (
    DataEntitySpec(
        "RetailStoreEntity",
        HintScope.STORE,
        (("store", "StoreNumber"),),
        "CDM: operationsCommon/Entities/Commerce/ChannelManagement/BrickAndMortarStore",
    ),
    # The store side of a channel worker is RetailChannelId; whether it equals the StoreNumber is
    # not documented, so it is passed on as 'channel' for the handler to resolve.
    DataEntitySpec(
        "RetailChannelWorkerEntity",
        HintScope.ASSIGNMENT,
        (("worker", "PersonnelNumber"), ("channel", "RetailChannelId")),
        "CDM: operationsCommon/Entities/Commerce/ChannelManagement/BrickAndMortarStore",
    ),
    DataEntitySpec(
        "HcmWorkerEntity",
        HintScope.WORKER,
        (("worker", "PersonnelNumber"),),
        "unconfirmed entity name (public collection 'Workers')",
    ),
    DataEntitySpec(
        "HcmEmploymentEntity",
        HintScope.WORKER,
        (("worker", "PersonnelNumber"),),
        "unconfirmed entity name; hires and terminations change employment rows",
    ),
    # Commerce task management has no public OData entity; these are the CTS extension's own.
    DataEntitySpec(
        "CTSTaskListEntity", HintScope.TASK_LIST, (("task_list", "TaskListId"),), "ours (CTS extension model)"
    ),
    # Dataverse's own tables (record-connected channels): a Service Bus step on Create/Update/Delete
    # of account and opportunity sends the same RemoteExecutionContext; the primary key is always
    # in the Target (or, for a delete, the EntityReference images). docs/records.md.
    DataEntitySpec("account", HintScope.ACCOUNT, (("account", "accountid"),), "Dataverse table account"),
    DataEntitySpec(
        "opportunity",
        HintScope.OPPORTUNITY,
        (("opportunity", "opportunityid"),),
        "Dataverse table opportunity",
    ),
    DataEntitySpec(
        "CTSTaskEntity",
        HintScope.TASK,
        (("task_list", "TaskListId"), ("task", "TaskId"), ("store", "StoreNumber")),
        "ours (CTS extension model)",
    ),
)


def normalise_name(name: str) -> str:
    """'mserp_RetailStoreEntity' / 'RetailStoreEntity' / 'retailstoreentity' -> 'retailstoreentity'."""
    lowered = name.strip().lower()
    return lowered.removeprefix(VIRTUAL_TABLE_PREFIX)


_BY_NAME = {normalise_name(s.entity): s for s in DATA_ENTITIES}


def data_entity(name: str) -> DataEntitySpec | None:
    return _BY_NAME.get(normalise_name(name))

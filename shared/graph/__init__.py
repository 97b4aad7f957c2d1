"""The Graph gateway: the only code that talks to Microsoft Graph (msgraph-sdk, imported lazily).

    gateway = Gateway(settings.graph)
    team_id = await gateway.create_team(display_name="Store 0042", owner_id=manager_id)
    result = await execute_plan(plan, gateway)

See docs/graph-gateway.md for calls per operation, the retry policy and permissions.
"""

from shared.graph.batch import BatchRequest, BatchResponse
from shared.graph.errors import (
    BadRequest,
    Conflict,
    FailedDependency,
    Forbidden,
    Gone,
    GraphError,
    GraphUnavailable,
    NotFound,
    PlannerLimitExceeded,
    PreconditionFailed,
    ServerError,
    Throttled,
    Unauthorized,
)
from shared.graph.executor import execute_plan
from shared.graph.gateway import Gateway
from shared.graph.retry import RetryPolicy
from shared.graph.teams import PollPolicy

__all__ = [
    "BadRequest",
    "BatchRequest",
    "BatchResponse",
    "Conflict",
    "FailedDependency",
    "Forbidden",
    "Gateway",
    "Gone",
    "GraphError",
    "GraphUnavailable",
    "NotFound",
    "PlannerLimitExceeded",
    "PollPolicy",
    "PreconditionFailed",
    "RetryPolicy",
    "ServerError",
    "Throttled",
    "Unauthorized",
    "execute_plan",
]

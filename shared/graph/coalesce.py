"""Look-ups made at about the same time share their Graph requests.

The passes of a reconciliation batch (25 teams at once) each look up a few things by key -- their
~20 people (`users.resolve_upns`), the team of their name (`teams.find_teams_named`) -- and
Graph answers up to 15 keys per request (`in`, shared/graph/users.py) and 20 requests per
`$batch` call. Alone, each pass sends its own call; coalesced, one call of 20 requests serves
the lot. `shared.coalesce.Coalesced` is that one mechanism for every such look-up.

How callers share a call (the window, the size, failures and cancellations) is the one generic
mechanism in shared/coalesce.py; this module holds Graph's numbers for it. The Gateway keeps one
`Coalesced` per look-up per event loop.
"""

from __future__ import annotations

MAX_BATCH = 20  # requests per $batch call (https://learn.microsoft.com/graph/json-batching)

IN_LIMIT = 15
"""Keys per request: 'When using the "in" operator, the request is limited to 15 expressions in
the filter clause by default' (Graph known issues, https://developer.microsoft.com/graph/known-issues/?search=13635)."""

CALL_SIZE = IN_LIMIT * MAX_BATCH  # keys per $batch call: 20 requests of 15

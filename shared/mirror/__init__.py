"""Task mirroring, the I/O side: reads both sides into `shared.tasks.decide`'s inputs, runs the
decision with If-Match (412 -> re-read, decide again), records the pair's status, polls Planner.

- `mirror_pass(key, ...)`: one pair, one pass (the `mirror_task` orchestration's activity).
- one orchestration per pair, nothing lost: `shared.spine` with `shared.spine.features.TASK_PAIRS`.
- `poll_plans(...)`: the ETag poll; `request_task_mirrors(hint, ...)`: Commerce task events;
  `reconcile_keys(...)`: the Commerce-side safety net.
"""

from shared.mirror.context import CACHE, NoPlan, StoreContext, plan_of_store, store_context
from shared.mirror.executor import Buckets, Executed, Stale, execute
from shared.mirror.intake import keys_of_hint, needs_pass, reconcile_keys, request_task_mirrors
from shared.mirror.keys import PairKey, instance_id
from shared.mirror.mirror_pass import PassResult, mirror_pass
from shared.mirror.pairs import MirrorRecord, get_mirror, list_mirrors, record_mirror
from shared.mirror.poll import PollResult, commit_delta_links, poll_plans
from shared.mirror.reader import read_planner_task, read_store_task

__all__ = [
    "CACHE",
    "Buckets",
    "Executed",
    "MirrorRecord",
    "NoPlan",
    "PairKey",
    "PassResult",
    "PollResult",
    "Stale",
    "StoreContext",
    "commit_delta_links",
    "execute",
    "get_mirror",
    "instance_id",
    "keys_of_hint",
    "list_mirrors",
    "mirror_pass",
    "needs_pass",
    "plan_of_store",
    "poll_plans",
    "read_planner_task",
    "read_store_task",
    "reconcile_keys",
    "record_mirror",
    "request_task_mirrors",
    "store_context",
]

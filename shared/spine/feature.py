"""What a feature tells the spine about itself (`Feature`), and the one shape of a pass's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from shared.domain.ids import durable_id

BUSY = "busy"  # the outcome of a pass that found the key's lease held by another pass


def hashed_instance_id(prefix: str, key: str) -> str:
    """`mirror-TL-7_2F1_400042`: stable per key, Durable-safe, and distinct for distinct keys
    (`shared.domain.ids.durable_id`: an injective spelling, or a SHA-256 when too long)."""
    return durable_id(f"{prefix}-", key)


@dataclass(frozen=True)
class Feature:
    """One "one pass per key" feature. Pure data: names only, so any layer may import it.

    - `partition`: the request counters' partition in the state store (one row per key).
    - `orchestrator` / `pass_activity` / `finish_activity`: the Durable function names
      `functions/spine.register` gives the orchestrator and its two activities.
    - `instance_prefix` / `instance_ids`: the deterministic instance id of a key's orchestration
      (default: prefix, the key made safe, and a short hash of it).
    - `lease_ttl`: take a lease around each pass (a pass outside the orchestration, e.g. a
      reconciliation, may then run the same key); None: the orchestration alone runs the key.
    - `started_counter`: the state store counter `request_many` bumps per started orchestration.
    - retry / busy-wait: how the orchestration retries a failed pass and waits out a held lease.
    """

    name: str
    partition: str
    orchestrator: str
    instance_prefix: str
    pass_activity: str = ""
    finish_activity: str = ""
    instance_ids: Callable[[str], str] | None = field(default=None, compare=False)
    lease_ttl: timedelta | None = None
    started_counter: str | None = None
    first_retry_ms: int = 1_000
    max_attempts: int = 5
    busy_wait: timedelta = timedelta(seconds=5)
    busy_attempts: int = 60

    def __post_init__(self) -> None:
        if not self.pass_activity:
            object.__setattr__(self, "pass_activity", f"{self.orchestrator}_pass")
        if not self.finish_activity:
            object.__setattr__(self, "finish_activity", f"{self.orchestrator}_finish")

    def instance_id(self, key: str) -> str:
        if self.instance_ids is not None:
            return self.instance_ids(key)
        return hashed_instance_id(self.instance_prefix, key)


@dataclass(frozen=True, kw_only=True)
class PassResult:
    """What every pass returns. A feature subclasses it for its own fields (frozen, kw_only) and
    overrides `summary` (the small counts shown in the orchestration's custom status).

    `outcome` is the feature's word for what happened (teams: converged/changed/held/...; tasks:
    the decision's outcome), or `BUSY`; `covered` is the request number the pass covered, set by
    the spine (`run_pass`) -- a pass never reads it itself."""

    key: str
    outcome: str
    covered: int = 0

    def summary(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

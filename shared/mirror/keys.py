"""Pair keys ('TL-7/1@0042' = task list / task @ store) and the mirror orchestration's instance id."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.ids import CommerceId, commerce_id_problem
from shared.spine.feature import hashed_instance_id


class PairKey(BaseModel):
    """A pair's three Commerce ids. They follow the id rules (shared/domain/ids.py), which exclude
    '/' and '@', so `str(key)` parses back into the same three ids."""

    model_config = ConfigDict(frozen=True)

    task_list: CommerceId
    task: CommerceId
    store: CommerceId

    @staticmethod
    def is_valid(task_list: str, task: str, store: str) -> bool:
        """Whether the three ids can form a pair key (a Commerce row that fails is skipped)."""
        return all(commerce_id_problem(v) is None for v in (task_list, task, store))

    @classmethod
    def parse(cls, key: str) -> PairKey:
        """'TL-7/1@0042' -> list 'TL-7', task '1', store '0042' (the store is after the last '@',
        the task after the last '/' before it)."""
        left, at, store = key.rpartition("@")
        task_list, slash, task = left.rpartition("/")
        if not (at and slash and task_list and task and store):
            raise ValueError("not a store task key (expected '<task list>/<task>@<store>')")
        try:
            return cls(task_list=task_list, task=task, store=store)
        except ValidationError:
            raise ValueError("not a store task key: an id breaks the id rules") from None

    def __str__(self) -> str:
        return f"{self.task_list}/{self.task}@{self.store}"


def instance_id(key: str) -> str:
    """`mirror-TL-7_2F1_400042`: stable per pair, Durable-safe, distinct for distinct keys (the
    spine's default id, `shared.domain.ids.durable_id`)."""
    return hashed_instance_id("mirror", key)

"""Pair keys ('TL-7/1@0042' = task list / task @ store) and the mirror orchestration's instance id."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.spine.feature import hashed_instance_id


class PairKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_list: str
    task: str
    store: str

    @classmethod
    def parse(cls, key: str) -> PairKey:
        """'TL-7/1@0042' -> list 'TL-7', task '1', store '0042' (the store is after the last '@',
        the task after the last '/' before it)."""
        left, at, store = key.rpartition("@")
        task_list, slash, task = left.rpartition("/")
        if not (at and slash and task_list and task and store):
            raise ValueError(f"not a store task key (expected '<task list>/<task>@<store>'): {key!r}")
        return cls(task_list=task_list, task=task, store=store)

    def __str__(self) -> str:
        return f"{self.task_list}/{self.task}@{self.store}"


def instance_id(key: str) -> str:
    """`mirror-TL-7_1_0042-1a2b3c4d`: stable per pair, safe for Durable ids and Table keys; the hash
    keeps keys apart that only differ in the characters replaced (the spine's default id)."""
    return hashed_instance_id("mirror", key)

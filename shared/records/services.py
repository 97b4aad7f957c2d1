"""What a records pass needs: the Dataverse client and the parsed template on top of the base ports
(gateway, state, settings), all built by the composition root (functions/root.py `Root.records`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared.dataverse import DataverseClient
from shared.records.records_pass import RecordsPassResult, records_pass
from shared.records.template import Template
from shared.settings import Settings
from shared.state import StateStore


class BasePorts(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def gateway(self) -> Any: ...


@dataclass
class RecordServices:
    base: BasePorts
    dataverse: DataverseClient
    template: Template

    async def run_pass(
        self, account_id: str, *, dry_run: bool = False, instance_id: str | None = None
    ) -> RecordsPassResult:
        return await records_pass(
            account_id,
            dataverse=self.dataverse,
            gateway=self.base.gateway,
            state=self.base.state,
            settings=self.base.settings,
            template=self.template,
            dry_run=dry_run,
        )

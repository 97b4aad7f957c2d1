"""What a records pass needs, per event loop: the Dataverse client and the parsed template on top
of the provisioning services (gateway, state, settings: shared/sync/services.py)."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from shared.dataverse import DataverseClient
from shared.records.records_pass import RecordsPassResult, records_pass
from shared.records.template import Template, parse_template
from shared.sync.services import Services, services


@dataclass
class RecordServices:
    base: Services
    dataverse: DataverseClient
    template: Template

    async def run_pass(
        self, account_id: str, *, dry_run: bool = False, instance_id: str | None = None
    ) -> RecordsPassResult:
        return await records_pass(
            account_id,
            dataverse=self.dataverse,
            gateway=self.base.gateway,  # type: ignore[arg-type]
            state=self.base.state,
            settings=self.base.settings,
            template=self.template,
            dry_run=dry_run,
        )


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RecordServices] = weakref.WeakKeyDictionary()


def record_services(**kw: Any) -> RecordServices:
    """This loop's record services; raises TemplateError (a clear message) for a bad template."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        base = services(**kw)
        found = RecordServices(
            base=base,
            dataverse=DataverseClient.from_settings(base.settings),
            template=parse_template(base.settings.records.template),
        )
        _by_loop[loop] = found
    return found

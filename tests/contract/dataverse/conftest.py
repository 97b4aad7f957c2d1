from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.commerce.testing import RecordingSender
from local.dataverse.testing import DataverseSandboxHandle, running_dataverse_sandbox

ACCOUNT = "0a000000-0000-0000-0000-000000000001"
USER = "0c000000-0000-0000-0000-000000000001"


def small_org() -> dict[str, list[dict[str, object]]]:
    return {
        "systemuser": [
            {
                "systemuserid": USER,
                "fullname": "Ada Seller",
                "domainname": "ada@contoso.com",
                "azureactivedirectoryobjectid": "11111111-1111-1111-1111-111111111111",
            }
        ],
        "account": [
            {
                "accountid": ACCOUNT,
                "name": "Contoso",
                "revenue": 2_000_000,
                "ownerid_systemuser@odata.bind": f"/systemusers({USER})",
            }
        ],
        "opportunity": [
            {
                "opportunityid": f"0b000000-0000-0000-0000-{i:012d}",
                "name": f"Deal {i}",
                "estimatedvalue": 1000 * i,
                "parentaccountid@odata.bind": f"/accounts({ACCOUNT})",
                "ownerid_systemuser@odata.bind": f"/systemusers({USER})",
            }
            for i in range(1, 8)
        ],
    }


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def dataverse(sender: RecordingSender) -> Iterator[DataverseSandboxHandle]:
    with running_dataverse_sandbox(sender=sender, seed=7, page_size=5000) as handle:
        handle.seed(small_org())
        yield handle

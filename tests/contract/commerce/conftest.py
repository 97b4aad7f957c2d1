"""The Commerce sandbox over HTTP, with a bus sender that records what it publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.commerce.testing import CommerceSandboxHandle, RecordingSender, running_commerce_sandbox
from local.scenarios import SAMPLE_ORG
from local.scenarios.generate import generate_org


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def sandbox(tmp_path: Path, sender: RecordingSender) -> Iterator[CommerceSandboxHandle]:
    """The sample org, publishing business events and data events, repeatable faults."""
    with running_commerce_sandbox(
        tmp_path / "commerce.sqlite", org=SAMPLE_ORG, sender=sender, event_format="both", seed=1
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommerceSandboxHandle]:
    """60 stores and 2,500 workers: three pages of workers at F&O's page size of 1,000."""
    org = generate_org(stores=60, workers=2500, seed=3)
    db = tmp_path_factory.mktemp("big") / "commerce.sqlite"
    with running_commerce_sandbox(db, org=org, seed=2) as handle:
        yield handle

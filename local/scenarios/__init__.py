"""Sample orgs, the org-file loader and the large-org generator (see docs/commerce.md)."""

from pathlib import Path

from local.scenarios.orgfile import (
    DirectoryUser,
    ExistingTeam,
    LoadedOrg,
    OrgFile,
    OrgFileError,
    existing_team_id,
    load_org,
    parse_org_file,
)

SAMPLE_ORG = Path(__file__).with_name("sample-org.json")

__all__ = [
    "SAMPLE_ORG",
    "DirectoryUser",
    "ExistingTeam",
    "LoadedOrg",
    "OrgFile",
    "OrgFileError",
    "existing_team_id",
    "load_org",
    "parse_org_file",
]

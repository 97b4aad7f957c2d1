"""The Dataverse tables the sandbox serves: logical names, entity sets, columns, lookups.

Column names are Dataverse's logical names (lower case) as the Web API returns them; lookups
appear as `_<name>_value` with the bound navigation property `<name>@odata.bind` (single-valued)
or `<name>_<target>@odata.bind` (polymorphic: owner, regarding, parent site or location).
Sources:
- account: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/account
- opportunity: https://learn.microsoft.com/dynamics365/developer/reference/entities/opportunity
  (statecode 0 Open, 1 Won, 2 Lost)
- systemuser, team: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/systemuser
- msdyn_teamscollaboration ("Microsoft Teams Collaboration entity", ownership None):
  https://learn.microsoft.com/dynamics365/developer/reference/entities/msdyn_teamscollaboration
  The page lists RegardingObjectId next to RegardingObjectTypeCode/TypeName as writable columns;
  we model it as a plain Edm.Guid with the type in the two other columns (a third-party walkthrough
  says RegardingObjectTypeCode is required) -- [unconfirmed: not stated as a lookup or not].
- sharepointsite / sharepointdocumentlocation (regardingobjectid and parentsiteorlocation are
  polymorphic lookups): https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/sharepointdocumentlocation
- `cts_topaccount` is ours (a custom column an organisation adds for the account-based rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lookup:
    name: str  # navigation property / lookup logical name, e.g. "parentaccountid"
    targets: tuple[str, ...]  # target logical names


@dataclass(frozen=True)
class Table:
    logical: str
    set_name: str
    primary_key: str
    type_code: int
    columns: frozenset[str]
    lookups: tuple[Lookup, ...] = ()
    required: frozenset[str] = field(default_factory=frozenset)

    def lookup_column(self, lookup: Lookup) -> str:
        return f"_{lookup.name}_value"

    @property
    def all_columns(self) -> frozenset[str]:
        return (
            self.columns
            | {self.primary_key, "versionnumber", "createdon", "modifiedon"}
            | {self.lookup_column(lk) for lk in self.lookups}
        )


_STATE = frozenset({"statecode", "statuscode"})
_OWNER = Lookup("ownerid", ("systemuser", "team"))

TABLES: tuple[Table, ...] = (
    Table(
        "account",
        "accounts",
        "accountid",
        1,
        frozenset({"name", "accountnumber", "revenue", "cts_topaccount", "description"}) | _STATE,
        (_OWNER, Lookup("owningteam", ("team",)), Lookup("owninguser", ("systemuser",))),
        frozenset({"name"}),
    ),
    Table(
        "opportunity",
        "opportunities",
        "opportunityid",
        3,
        frozenset({"name", "estimatedvalue", "description", "closeprobability"}) | _STATE,
        (Lookup("parentaccountid", ("account",)), _OWNER),
        frozenset({"name"}),
    ),
    Table(
        "systemuser",
        "systemusers",
        "systemuserid",
        8,
        frozenset(
            {"fullname", "domainname", "internalemailaddress", "azureactivedirectoryobjectid", "isdisabled"}
        ),
    ),
    Table(
        "team",
        "teams",
        "teamid",
        9,
        frozenset({"name", "teamtype", "azureactivedirectoryobjectid"}),
        required=frozenset({"name"}),
    ),
    Table(
        "msdyn_teamscollaboration",
        "msdyn_teamscollaborations",
        "msdyn_teamscollaborationid",
        10_068,  # a solution table: its type code is assigned per organisation [sandbox value]
        frozenset(
            {
                "msdyn_appid",
                "msdyn_channelfolderrelativeurl",
                "msdyn_channelid",
                "msdyn_channelname",
                "msdyn_channeltype",
                "msdyn_contenturl",
                "msdyn_groupid",
                "msdyn_pipedentityid",
                "msdyn_teamid",
                "msdyn_teamname",
                "msdyn_teamsiteurl",
                "msdyn_tenantid",
                "msdyn_weburl",
                "regardingobjectid",
                "regardingobjecttypecode",
                "regardingobjecttypename",
            }
        )
        | _STATE,
        required=frozenset({"regardingobjecttypecode"}),
    ),
    Table(
        "sharepointsite",
        "sharepointsites",
        "sharepointsiteid",
        9502,
        frozenset({"name", "absoluteurl", "relativeurl", "isdefault", "description"}) | _STATE,
        (Lookup("parentsite", ("sharepointsite",)),),
        frozenset({"name"}),
    ),
    Table(
        "sharepointdocumentlocation",
        "sharepointdocumentlocations",
        "sharepointdocumentlocationid",
        9508,
        frozenset({"name", "relativeurl", "absoluteurl", "locationtype", "servicetype", "description"})
        | _STATE,
        (
            Lookup("parentsiteorlocation", ("sharepointsite", "sharepointdocumentlocation")),
            Lookup("regardingobjectid", ("account", "opportunity")),
        ),
        frozenset({"name"}),
    ),
)

BY_SET = {t.set_name: t for t in TABLES}
BY_LOGICAL = {t.logical: t for t in TABLES}

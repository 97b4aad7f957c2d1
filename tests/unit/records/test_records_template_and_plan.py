"""The collaboration template's validation and the planner's reported cases."""

from __future__ import annotations

import json

import pytest

from shared.domain.records import Account, AccountScope, CrmUser, Opportunity, OpportunityState
from shared.records import desired, parse_template, plan
from shared.records.desired import channel_name
from shared.records.model import ActualRecords, ChannelState, CreateLocation, CreateRow, CreateTab, TeamState
from shared.records.template import TemplateError

ACC = "0a000000-0000-0000-0000-000000000001"


def test_a_valid_template_is_parsed_with_each_pattern() -> None:
    t = parse_template(
        json.dumps(
            {
                "patterns": [
                    {
                        "kind": "project_based",
                        "min_estimated_value": 100,
                        "extra_channels": [{"name": "Proposal"}],
                    },
                    {"kind": "account_based", "min_revenue": 10},
                    {"kind": "team_based", "teams": {"dt": "g"}},
                ]
            }
        )
    )
    assert [p.kind for p in t.patterns] == ["project_based", "account_based", "team_based"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("{nope", "is not JSON (line 1"),
        ('{"patterns": []}', "patterns"),
        ('{"patterns": [{"kind": "region_based"}]}', "patterns.0"),
        ('{"patterns": [{"kind": "team_based", "teams": {}}]}', "teams"),
        ('{"patterns": [{"kind": "account_based"}, {"kind": "account_based"}]}', "twice"),
        (
            '{"patterns": [{"kind": "project_based", "min_estimated_value": 1, '
            '"extra_channels": [{"name": "P", "guests": true}]}]}',
            "guest channel cannot be connected",
        ),
    ],
)
def test_a_bad_template_is_refused_with_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse_template(text)
    assert says in str(err.value) and "CTS_RECORDS__TEMPLATE" in str(err.value)


def test_channel_names_follow_teams_rules() -> None:
    assert channel_name("Fabrikam: East/West") == "Fabrikam EastWest"
    assert channel_name("_.hidden.") == "hidden"
    assert len(channel_name("x" * 80)) == 50
    assert channel_name("???") == "Record"


def _scope(**acc: object) -> AccountScope:
    return AccountScope(
        account=Account(id=ACC, name="Contoso", owner_id="u1", owning_team_id="dt", **acc),  # type: ignore[arg-type]
        account_id=ACC,
        opportunities=(
            Opportunity(
                id="0b000000-0000-0000-0000-000000000001",
                name="Deal",
                account_id=ACC,
                state=OpportunityState.OPEN,
            ),
            Opportunity(
                id="0b000000-0000-0000-0000-000000000002",
                name="Won",
                account_id=ACC,
                state=OpportunityState.WON,
            ),
        ),
        users={"u1": CrmUser(id="u1", entra_object_id="e1")},
    )


def test_team_based_connects_the_account_and_its_open_opportunities_to_one_channel() -> None:
    t = parse_template('{"patterns": [{"kind": "team_based", "teams": {"dt": "g1"}}]}')
    want = desired(_scope(), t, {})
    assert {(str(c.record).split(":")[0], c.channel) for c in want.connections} == {
        ("account", "Contoso"),
        ("opportunity", "Contoso"),
    }
    assert len(want.connections) == 2  # the won opportunity is not connected


def test_a_private_channel_gets_tab_and_row_but_no_location_and_is_reported() -> None:
    t = parse_template('{"patterns": [{"kind": "team_based", "teams": {"dt": "g1"}}]}')
    want = desired(_scope(), t, {})
    actual = ActualRecords(
        teams={
            "team:g1": TeamState(
                "team:g1", "g1", (ChannelState("c1", "Contoso", private=True),), app_installed=True
            )
        }
    )
    p = plan(want, actual)
    assert {type(o) for o in p.operations} == {CreateRow, CreateTab}
    assert not any(isinstance(o, CreateLocation) for o in p.operations)
    assert any("private channel" in pr for pr in p.problems)
    assert all(o.reason for o in p.operations)


def test_an_inactive_account_is_connected_nowhere() -> None:
    t = parse_template('{"patterns": [{"kind": "team_based", "teams": {"dt": "g1"}}]}')
    assert desired(_scope(active=False), t, {}).connections == frozenset()

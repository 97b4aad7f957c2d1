"""Scenario files are validated before anything starts, with the step index, verb and argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.scenarios.player import ScenarioError, load_scenario, parse_scenario
from local.stack.core import ROOT

ORG = str(Path(__file__).with_name("org.json"))


def problems(steps: list[object], **top: object) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"org": ORG, "steps": steps, **top}, source="t.json")
    return err.value.problems


def test_a_valid_scenario_parses_with_every_verb() -> None:
    scenario = parse_scenario({"org": ORG, "steps": [
        {"commerce": "hire_worker", "worker": {"personnel_number": "1", "name": "A"}, "store": "0042",
         "role": "worker"},
        {"commerce": "transfer_worker", "personnel_number": "000321", "from_store": "0042",
         "to_store": "0043"},
        {"commerce": "publish_task_list", "task_list": "TL-7", "stores": ["0043"],
         "target_date": "2026-12-01"},
        {"teams": "complete_task", "store": "0043", "task": "TL-7/1", "by": "000321"},
        {"teams": "create_task", "store": "0043", "title": "Fix the door", "by": "000321"},
        {"teams": "publish_task", "store": "0043", "title": "Spring display", "publication": "Spring"},
        {"fault": "graph_throttle", "ratio": 0.3, "seconds": 10},
        {"fault": "graph_errors", "status": 503, "ratio": 0.2, "seconds": 5},
        {"fault": "duplicate_events", "factor": 3},
        {"fault": "shuffle_events", "window": 4},
        {"fault": "poison_event", "raw": "not json"},
        {"fault": "crash_host"},
        {"reconcile": True}, {"dlq_replay": True}, {"wait": "converged"}, {"wait": 1.5},
    ]})  # fmt: skip
    assert len(scenario.steps) == 16
    assert scenario.org == Path(ORG).resolve()


def test_missing_and_unknown_arguments_name_the_step_and_verb() -> None:
    found = problems([
        {"wait": "converged"},
        {"commerce": "close_store"},
        {"teams": "rename_team", "store": "0042", "name": "x", "colour": "red"},
    ])  # fmt: skip
    assert found == [
        "steps[1] (commerce: close_store): missing argument 'store'",
        "steps[2] (teams: rename_team): unknown argument 'colour'",
    ]


def test_unknown_actions_and_verbs_are_refused() -> None:
    found = problems([{"commerce": "sell_store", "store": "1"}, {"jump": True}, {"wait": "forever"}])
    assert found[0].startswith("steps[0] (commerce): unknown action 'sell_store'; known: ")
    assert found[1].startswith("steps[1]: a step needs exactly one verb key")
    assert found[2] == "steps[2] (wait): value must be \"converged\" or a number of seconds, got 'forever'"


def test_two_verbs_in_one_step_and_bad_types() -> None:
    found = problems([
        {"reconcile": True, "wait": 3},
        {"fault": "graph_throttle", "ratio": 2, "seconds": 1},
        {"fault": "duplicate_events", "factor": "two"},
        {"teams": "start_task", "store": "0042", "task": "TL-7", "by": "1"},
    ])  # fmt: skip
    assert found == [
        "steps[0]: a step needs exactly one verb key of commerce, teams, fault, reconcile, dlq_replay, wait "
        "(found: reconcile, wait)",
        "steps[1] (fault: graph_throttle): 'ratio' must be between 0 and 1",
        "steps[2] (fault: duplicate_events): argument 'factor' has the wrong type (str)",
        'steps[3] (teams: start_task): \'task\' must be "<task list>/<task id>", e.g. "TL-7/1"',
    ]


def test_org_problems_and_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"org": "nowhere.json", "step": []})
    assert "unknown top-level key 'step'" in err.value.problems
    assert any(p.startswith("org: file 'nowhere.json' not found") for p in err.value.problems)
    assert "missing 'steps' (a list of step objects)" in err.value.problems
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"org": {"stores": [{"number": "1", "name": "A", "region": "NOPE"}]}, "steps": []})
    assert any(p.startswith("org: ") and "NOPE" in p for p in err.value.problems)


def test_files_are_read_with_their_name_in_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.json: invalid scenario"):
        load_scenario(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"org": ORG, "steps": [{"wait": 0}]}), encoding="utf-8")
    assert load_scenario(good).steps == [{"wait": 0}]


def test_the_shipped_scenarios_are_valid() -> None:
    scenarios = ROOT / "local" / "scenarios"
    for path in sorted(scenarios.glob("*.json")) + sorted((scenarios / "scenarios").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "steps" in data:
            load_scenario(path)

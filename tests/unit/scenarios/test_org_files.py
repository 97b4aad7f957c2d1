"""Sample org, org-file validation and the deterministic generator."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from local.scenarios import SAMPLE_ORG, OrgFileError, existing_team_id, load_org
from local.scenarios.generate import dump_org, generate_org, main
from shared.domain.commerce import StoreRole


def test_sample_org_is_small_readable_and_has_the_awkward_cases() -> None:
    org, directory, existing_teams, task_lists = load_org(SAMPLE_ORG)
    assert len(org.regions) == 3 and len(org.stores) == 10 and len(org.workers) == 100
    in_directory = {u.upn for u in directory}
    assert any(w.upn is None for w in org.workers), "a worker with no Entra account"
    assert any(w.upn and w.upn not in in_directory for w in org.workers), "a UPN nobody has"
    managed = {a.store for a in org.assignments if a.role is StoreRole.MANAGER}
    assert [s.number for s in org.stores if s.number not in managed] == ["0002"]
    assert any(len(org.stores_of(w.personnel_number)) > 1 for w in org.workers)
    assert len(existing_teams) == 1 and org.mappings[0].team_id == existing_team_id(existing_teams[0])
    assert len(task_lists) == 2
    assert set(org.communications_managers) == {m for r in org.regions for m in r.managers}


def test_load_org_lists_every_problem_with_its_location() -> None:
    bad = json.loads(SAMPLE_ORG.read_text(encoding="utf-8"))
    bad["stores"][0]["region"] = "MOON"
    bad["assignments"].append({"personnel_number": "999999", "store": "0001", "role": "worker"})
    bad["workers"][0]["status"] = "retired"
    with pytest.raises(OrgFileError) as err:
        load_org(bad)
    assert any("workers.0.status" in p for p in err.value.problems)
    bad["workers"][0]["status"] = "active"
    with pytest.raises(OrgFileError) as err:
        load_org(bad)
    assert "stores.0.region: 'MOON' is not a region id" in err.value.problems
    assert any(p.startswith("assignments.") and "'999999' is not a worker" in p for p in err.value.problems)


def test_load_org_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OrgFileError, match="file not found"):
        load_org(tmp_path / "nope.json")


def test_generator_is_deterministic_and_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    big = dump_org(generate_org(1000, 20000, seed=1))
    elapsed = time.perf_counter() - started
    assert big == dump_org(generate_org(1000, 20000, seed=1))
    assert big != dump_org(generate_org(1000, 20000, seed=2))
    org = load_org(json.loads(big)).org
    assert len(org.stores) == 1000 and len(org.workers) == 20000
    assert any(r.parent for r in org.regions), "large orgs have districts"
    with capsys.disabled():
        print(f"\n[generator] 1,000 stores / 20,000 workers in {elapsed:.2f}s")


def test_generator_cli_writes_the_same_file_twice(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["--stores", "30", "--workers", "400", "--seed", "5", "--out", str(a)]) == 0
    assert main(["--stores", "30", "--workers", "400", "--seed", "5", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    load_org(a)

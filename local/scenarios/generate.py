"""Deterministic org generator: `python -m local.scenarios.generate --stores 1000 --workers 20000
--seed 1 --out FILE`, or `generate_org(...)`. Same arguments → byte-identical output.

Every generated org has the awkward cases the product must handle: region managers; a store with
no manager; a worker at two stores; workers without an Entra account (no UPN) and workers whose
UPN is not in the directory; a terminated worker still listed at a store; one pre-existing team;
two task lists, one already published to the first stores. Orgs over 200 stores get districts.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

REGION_NAMES = [
    "West",
    "Central",
    "East",
    "North",
    "South",
    "Pacific",
    "Mountain",
    "Atlantic",
    "Gulf",
    "Lakes",
    "Plains",
    "Valley",
    "Coast",
    "Highlands",
    "Bay",
    "Delta",
    "Prairie",
    "Harbor",
    "Ridge",
    "Metro",
]
TIME_ZONES = [
    "Pacific Standard Time",
    "Central Standard Time",
    "Eastern Standard Time",
    "Mountain Standard Time",
]
CITIES = [
    "Seattle",
    "Portland",
    "Denver",
    "Austin",
    "Dallas",
    "Chicago",
    "Boston",
    "Atlanta",
    "Miami",
    "Phoenix",
    "Tucson",
    "Omaha",
    "Tulsa",
    "Memphis",
    "Detroit",
    "Raleigh",
    "Tampa",
    "Fresno",
    "Boise",
    "Reno",
    "Spokane",
    "Madison",
    "Albany",
    "Dayton",
    "Toledo",
    "Akron",
    "Mobile",
    "Laredo",
    "Irvine",
    "Plano",
]
PLACES = [
    "Downtown",
    "Mall",
    "Airport",
    "Riverside",
    "Uptown",
    "Outlet",
    "Central",
    "Harbor",
    "North",
    "South",
]
FIRST = [
    "Ana",
    "Ben",
    "Chen",
    "Dana",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Ruiz",
    "Smith",
    "Nguyen",
    "Okafor",
    "Kowalski",
    "Haddad",
    "Larsen",
    "Tanaka",
    "Silva",
    "Novak",
    "Brown",
    "Garcia",
    "Ivanova",
    "Kim",
    "Mensah",
    "Rossi",
    "Dubois",
    "Patel",
    "Cohen",
    "Fischer",
]
DOMAIN = "contoso.example"


def _region_ids(count: int) -> list[tuple[str, str]]:
    out = []
    for i in range(count):
        base = REGION_NAMES[i % len(REGION_NAMES)]
        name = base if i < len(REGION_NAMES) else f"{base} {i // len(REGION_NAMES) + 1}"
        out.append((name.upper().replace(" ", "-"), name))
    return out


def generate_org(
    stores: int = 10,
    workers: int = 100,
    seed: int = 1,
    *,
    regions: int | None = None,
    legal_entity: str = "USRT",
) -> dict[str, Any]:
    """An org in the inline org format (spec/local-and-cli.md) with the extensions of orgfile.py."""
    if stores < 3 or workers < stores + 3:
        raise ValueError("need at least 3 stores and stores + 3 workers")
    rng = random.Random(seed)
    n_regions = regions or max(3, stores // 100)
    region_list: list[dict[str, Any]] = [
        {"id": rid, "name": name, "managers": []} for rid, name in _region_ids(n_regions)
    ]
    districts: list[dict[str, Any]] = []
    store_parent: list[str] = []
    per_region = -(-stores // n_regions)
    for i in range(stores):
        region = region_list[min(i // per_region, n_regions - 1)]
        if stores > 200:
            d_index = (i % per_region) // 20
            d_id = f"{region['id']}-D{d_index + 1:02d}"
            if not districts or districts[-1]["id"] != d_id:
                if not any(d["id"] == d_id for d in districts):
                    districts.append(
                        {
                            "id": d_id,
                            "name": f"{region['name']} district {d_index + 1}",
                            "managers": [],
                            "parent": region["id"],
                        }
                    )
            store_parent.append(d_id)
        else:
            store_parent.append(str(region["id"]))
    tz_of = {r["id"]: TIME_ZONES[i % len(TIME_ZONES)] for i, r in enumerate(region_list)}
    store_list = []
    for i in range(stores):
        parent = store_parent[i]
        region_id = parent.split("-D")[0]
        city = CITIES[i % len(CITIES)]
        place = PLACES[(i // len(CITIES)) % len(PLACES)]
        suffix = f" {i // (len(CITIES) * len(PLACES)) + 1}" if i >= len(CITIES) * len(PLACES) else ""
        store_list.append(
            {
                "number": f"{i + 1:04d}",
                "name": f"{city} {place}{suffix}",
                "region": parent,
                "status": "open",
                "time_zone": tz_of[region_id],
            }
        )

    worker_list: list[dict[str, Any]] = []
    directory: list[dict[str, Any]] = []
    used_upns: set[str] = set()
    for i in range(workers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        pn = f"{i + 1:06d}"
        upn_base = f"{first}.{last}".lower()
        upn = f"{upn_base}@{DOMAIN}"
        n = 2
        while upn in used_upns:
            upn = f"{upn_base}{n}@{DOMAIN}"
            n += 1
        used_upns.add(upn)
        worker_list.append(
            {"personnel_number": pn, "name": f"{first} {last}", "upn": upn, "status": "active"}
        )

    # Region (and district) managers first: they manage, they do not work at a store.
    managers_needed = region_list + districts
    cursor = 0
    for node in managers_needed:
        node["managers"] = [worker_list[cursor]["personnel_number"]]
        cursor += 1
    staff = worker_list[cursor:]
    if len(staff) < stores:
        raise ValueError("not enough workers for one per store after region and district managers")
    assignments: list[dict[str, Any]] = []
    no_manager_store = store_list[1]["number"]
    for i, w in enumerate(staff):
        store = store_list[i % stores]["number"]
        is_first_at_store = i < stores
        role = "manager" if is_first_at_store and store != no_manager_store else "worker"
        assignments.append({"personnel_number": w["personnel_number"], "store": store, "role": role})
    # One worker works at two stores (the last staff member of store 1 also at store 3).
    multi = next(
        a for a in reversed(assignments) if a["store"] == store_list[0]["number"] and a["role"] == "worker"
    )
    assignments.append(
        {"personnel_number": multi["personnel_number"], "store": store_list[2]["number"], "role": "worker"}
    )

    managers = {a["personnel_number"] for a in assignments if a["role"] == "manager"}
    region_managers = {m for node in managers_needed for m in node["managers"]}
    special = managers | region_managers | {multi["personnel_number"]}
    ordinary = [w for w in staff if w["personnel_number"] not in special]
    no_account = {w["personnel_number"] for w in ordinary[3::50]}  # no Entra identity on the worker record
    not_in_directory = {w["personnel_number"] for w in ordinary[7::25]} - no_account  # UPN nobody has
    terminated = ordinary[11]["personnel_number"] if len(ordinary) > 11 else None
    for w in worker_list:
        pn = w["personnel_number"]
        if pn in no_account:
            w["upn"] = None
        if pn == terminated:
            w["status"] = "terminated"
            w["termination_date"] = "2026-01-15"
        if w["upn"] and pn not in not_in_directory:
            directory.append({"upn": w["upn"], "display_name": w["name"], "employee_id": pn})

    first_store = store_list[0]["number"]
    at_first = [a["personnel_number"] for a in assignments if a["store"] == first_store]
    upn_of = {w["personnel_number"]: w["upn"] for w in worker_list}
    owner = next(upn_of[p] for p in at_first if p in managers)
    members = [upn_of[p] for p in at_first if p not in managers and upn_of[p]][:2]
    existing_teams = [
        {
            "store": first_store,
            "display_name": f"{store_list[0]['name']} crew",
            "owners": [owner],
            "members": members,
            "team_id": "0b6f3c1e-1d2a-4f5e-8a9b-000000000001",
        }
    ]
    task_lists = [
        {
            "id": "TL-1",
            "name": "Holiday reset",
            "description": "Get the store ready for the holidays.",
            "tasks": [
                {"id": "1", "name": "Build window display", "due_offset_days": -2, "notes": "See planogram"},
                {"id": "2", "name": "Move seasonal stock to the front", "due_offset_days": -1},
                {
                    "id": "3",
                    "name": "Brief the team on opening hours",
                    "due_offset_days": 0,
                    "link": "https://intranet.contoso.example/holiday-hours",
                },
            ],
        },
        {
            "id": "TL-2",
            "name": "Weekly safety walk",
            "description": "Every Monday.",
            "tasks": [
                {"id": "1", "name": "Check fire exits", "due_offset_days": 0},
                {
                    "id": "2",
                    "name": "Test emergency lighting",
                    "due_offset_days": 1,
                    "notes": "Log the result",
                },
            ],
            "stores": [s["number"] for s in store_list[:3]],
            "target_date": "2026-03-02",
        },
    ]
    return {
        "legal_entity": legal_entity,
        "regions": region_list + districts,
        "stores": store_list,
        "workers": worker_list,
        "assignments": assignments,
        "directory": directory,
        "existing_teams": existing_teams,
        "task_lists": task_lists,
    }


def dump_org(org: dict[str, Any]) -> str:
    """JSON with one list item per line: diffable, and readable for small orgs."""
    lines = ["{"]
    keys = list(org)
    for i, key in enumerate(keys):
        value = org[key]
        comma = "," if i < len(keys) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"  {json.dumps(key)}: [")
            lines.extend(
                f"    {json.dumps(item, ensure_ascii=False)}{',' if j < len(value) - 1 else ''}"
                for j, item in enumerate(value)
            )
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.scenarios.generate",
        description="Generate a deterministic org file (inline org format).",
    )
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=20000)
    parser.add_argument("--regions", type=int, default=None, help="default: one per 100 stores, at least 3")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--legal-entity", default="USRT")
    parser.add_argument("--out", required=True, help="file to write ('-' for stdout)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        org = generate_org(
            args.stores, args.workers, args.seed, regions=args.regions, legal_entity=args.legal_entity
        )
    except ValueError as exc:
        parser.error(str(exc))
    text = dump_org(org)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"{args.out}: {len(org['stores'])} stores, {len(org['workers'])} workers, "
            f"{len(org['regions'])} regions/districts in {time.perf_counter() - started:.2f}s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Play a scenario (spec/local-and-cli.md) against the local stack; see docs/scenarios.md.

    report = run_scenario("local/scenarios/demo.json")          # start, play, report, stop
    scenario = load_scenario(path)                               # validate only (ScenarioError)

A scenario drives the sandboxes through their public interfaces only: Commerce changes through
the Commerce sandbox's side channel, people in Teams through the Graph sandbox's side channel,
faults through both sandboxes and the broker, `reconcile`/`dlq_replay` through the app's ops
surface, and `wait: converged` through the broker's counts, the durable management API and the
app's state store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.scenarios.report import build_report
from local.stack.core import ROOT, Stack, StackConfig

SCENARIO_DIR = Path(__file__).parent
VERB_KEYS = ("commerce", "teams", "fault", "reconcile", "dlq_replay", "wait")

#: action → (required arguments, optional arguments)
COMMERCE: dict[str, tuple[set[str], set[str]]] = {
    "open_store": ({"store"}, set()),
    "close_store": ({"store"}, set()),
    "reopen_store": ({"store"}, set()),
    "rename_store": ({"store", "name"}, set()),
    "hire_worker": ({"worker", "store", "role"}, set()),
    "assign_worker": ({"personnel_number", "store", "role"}, set()),
    "transfer_worker": ({"personnel_number", "to_store"}, {"from_store"}),
    "change_role": ({"personnel_number", "store", "role"}, set()),
    "change_job": ({"personnel_number", "store", "job"}, set()),
    "move_store": ({"store", "region"}, set()),
    "terminate_worker": ({"personnel_number"}, {"termination_date"}),
    "change_region_managers": ({"region", "managers"}, set()),
    "publish_task_list": ({"task_list", "stores"}, {"target_date", "recurrence"}),
    "recur_task_list": ({"task_list"}, set()),
    "update_task": ({"task_list", "task", "fields"}, set()),
    "cancel_task": ({"task_list", "task"}, {"store"}),
    "set_task_status": ({"task_list", "task", "store", "status"}, {"by"}),
}
TEAMS: dict[str, tuple[set[str], set[str]]] = {
    "complete_task": ({"store", "task", "by"}, set()),
    "start_task": ({"store", "task", "by"}, set()),
    "remove_member": ({"store", "upn"}, set()),
    "add_member": ({"store", "upn"}, {"owner"}),
    "rename_team": ({"store", "name"}, set()),
    "create_task": ({"store", "title", "by"}, set()),  # a person makes a task in the store plan
    "publish_task": ({"store", "title", "publication"}, {"by"}),  # a list published from Teams
}
FAULT: dict[str, tuple[set[str], set[str]]] = {
    "graph_throttle": ({"ratio"}, {"seconds", "for_seconds", "route"}),
    "graph_errors": ({"status", "ratio"}, {"seconds", "for_seconds", "route"}),
    "duplicate_events": ({"factor"}, set()),
    "shuffle_events": ({"window"}, set()),
    "poison_event": ({"raw"}, set()),
    "crash_host": (set(), set()),
}
FLAGS: dict[str, tuple[set[str], set[str]]] = {
    "reconcile": (set(), {"store", "dry_run"}),
    "dlq_replay": (set(), set()),
}
WAIT_OPTIONAL = {"timeout"}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "store": (str, dict), "name": str, "worker": dict, "role": str, "personnel_number": str,
    "from_store": str, "to_store": str, "task_list": str, "task": str, "stores": list, "target_date": str,
    "fields": dict, "status": (str, int), "by": str, "upn": str, "owner": bool, "ratio": (int, float),
    "seconds": (int, float), "for_seconds": (int, float), "factor": int, "window": int,
    "raw": (str, dict, list), "timeout": (int, float), "region": str, "managers": list,
    "termination_date": str, "route": str, "dry_run": bool, "title": str, "publication": str,
}  # fmt: skip


class ScenarioError(ValueError):
    """The scenario file is not valid; lists every problem with its step index and verb."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: invalid scenario:\n  " + "\n  ".join(problems))


@dataclass
class Scenario:
    org: Path  # an org file (an inline org is written to a temporary file)
    steps: list[dict[str, Any]]
    source: str = "scenario"
    name: str = ""


def _step_problems(i: int, step: Any) -> list[str]:
    where = f"steps[{i}]"
    if not isinstance(step, dict):
        return [f"{where}: a step must be an object with one verb key, got {type(step).__name__}"]
    verbs = [k for k in VERB_KEYS if k in step]
    if len(verbs) != 1:
        found = ", ".join(verbs) or "none"
        return [f"{where}: a step needs exactly one verb key of {', '.join(VERB_KEYS)} (found: {found})"]
    verb = verbs[0]
    value = step[verb]
    args = {k: v for k, v in step.items() if k != verb and k != "comment"}
    if verb == "wait":
        label = f"{where} (wait)"
        problems = []
        if not (
            value == "converged"
            or (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0)
        ):
            problems.append(f'{label}: value must be "converged" or a number of seconds, got {value!r}')
        table: tuple[set[str], set[str]] = (set(), WAIT_OPTIONAL if value == "converged" else set())
    elif verb in FLAGS:
        label = f"{where} ({verb})"
        problems = [] if value is True else [f"{label}: value must be true, got {value!r}"]
        table = FLAGS[verb]
    else:
        tables = {"commerce": COMMERCE, "teams": TEAMS, "fault": FAULT}[verb]
        if not isinstance(value, str) or value not in tables:
            return [f"{where} ({verb}): unknown action {value!r}; known: {', '.join(sorted(tables))}"]
        label = f"{where} ({verb}: {value})"
        problems = []
        table = tables[value]
    required, optional = table
    for name in sorted(required - args.keys()):
        problems.append(f"{label}: missing argument '{name}'")
    for name in sorted(args.keys() - required - optional):
        problems.append(f"{label}: unknown argument '{name}'")
    for name, arg in args.items():
        expected = _TYPES.get(name)
        if expected is not None and name in required | optional:
            if not isinstance(arg, expected) or (isinstance(arg, bool) and bool not in _as_tuple(expected)):
                problems.append(f"{label}: argument '{name}' has the wrong type ({type(arg).__name__})")
    if verb == "fault" and value in ("graph_throttle", "graph_errors"):
        ratio = args.get("ratio")
        if isinstance(ratio, (int, float)) and not 0 <= ratio <= 1:
            problems.append(f"{label}: 'ratio' must be between 0 and 1")
    if verb == "teams" and value in ("complete_task", "start_task") and isinstance(args.get("task"), str):
        if "/" not in args["task"]:
            problems.append(f'{label}: \'task\' must be "<task list>/<task id>", e.g. "TL-7/1"')
    return problems


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def parse_scenario(data: Any, *, source: str = "scenario", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario document; raises `ScenarioError` listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioError(source, ["a scenario must be a JSON object with 'org' and 'steps'"])
    problems = [
        f"unknown top-level key '{k}'" for k in data if k not in ("org", "steps", "name", "description")
    ]
    org = data.get("org")
    org_path: Path | None = None
    if org is None:
        problems.append("missing 'org' (an org file name or an inline org object)")
    elif isinstance(org, str):
        candidates = [(base_dir or Path.cwd()) / org, SCENARIO_DIR / org, Path(org)]
        org_path = next((p for p in candidates if p.is_file()), None)
        if org_path is None:
            problems.append(
                f"org: file {org!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})"
            )
    elif isinstance(org, dict):
        from local.scenarios.orgfile import OrgFileError, parse_org_file

        try:
            parse_org_file(org, source="org")
        except OrgFileError as exc:
            problems += [f"org: {p}" for p in exc.problems]
    else:
        problems.append("org: must be a file name or an inline org object")
    steps = data.get("steps")
    if not isinstance(steps, list):
        problems.append("missing 'steps' (a list of step objects)")
        steps = []
    for i, step in enumerate(steps):
        problems += _step_problems(i, step)
    if problems:
        raise ScenarioError(source, problems)
    if isinstance(org, dict):
        tmp = Path(tempfile.mkdtemp(prefix="cts-org-")) / "org.json"
        tmp.write_text(json.dumps(org), encoding="utf-8")
        org_path = tmp
    assert org_path is not None
    return Scenario(org=org_path.resolve(), steps=list(steps), source=source, name=str(data.get("name", "")))


def load_scenario(path: str | Path) -> Scenario:
    """Read (JSON, or YAML if PyYAML is installed) and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(p), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ImportError:
        raise ScenarioError(
            str(p), ["YAML scenarios need PyYAML (pip install pyyaml); or use JSON"]
        ) from None
    except ValueError as exc:
        raise ScenarioError(str(p), [f"not valid JSON/YAML: {exc}"]) from None
    return parse_scenario(data, source=str(p), base_dir=p.parent)


class StepFailed(RuntimeError):
    def __init__(self, index: int, step: dict[str, Any], reason: str) -> None:
        verb = next(
            (f"{k}: {step[k]}" if k in ("commerce", "teams", "fault") else k) for k in VERB_KEYS if k in step
        )
        super().__init__(f"steps[{index}] ({verb}): {reason}")
        self.index = index


@dataclass
class PlayLog:
    steps: list[dict[str, Any]] = field(default_factory=list)
    converge_timeouts: list[int] = field(default_factory=list)


class Player:
    """Runs a scenario's steps against a started `Stack`."""

    def __init__(
        self, stack: Stack, *, converge_timeout: float = 120.0, say: Callable[[str], None] | None = None
    ):
        self.stack = stack
        self.converge_timeout = converge_timeout
        self.say = say or stack.say
        self.log = PlayLog()

    def play(self, steps: list[dict[str, Any]]) -> PlayLog:
        for i, step in enumerate(steps):
            started = time.monotonic()
            verb = next(k for k in VERB_KEYS if k in step)
            try:
                detail = getattr(self, f"_{verb}")(i, step)
            except StepFailed:
                raise
            except Exception as exc:
                raise StepFailed(i, step, f"{type(exc).__name__}: {exc}") from exc
            took = round(time.monotonic() - started, 3)
            self.log.steps.append({"index": i, "step": step, "seconds": took, "result": detail})
            self.say(f"  step {i}: {_describe(step)} — {detail} ({took:.1f} s)")
        return self.log

    # -- verbs ------------------------------------------------------------------------------------
    def _commerce(self, i: int, step: dict[str, Any]) -> str:
        assert self.stack.commerce is not None
        args = {k: v for k, v in step.items() if k != "comment"}
        if step["commerce"] == "open_store" and isinstance(step.get("store"), str):
            raise StepFailed(
                i, step, "'store' must be a store object (number, name, region, ...) for open_store"
            )
        result = self.stack.commerce.apply(args)
        return f"{result} event(s) published" if isinstance(result, int) else "done"

    def _teams(self, i: int, step: dict[str, Any]) -> str:
        from local.stack.people import act_in_teams

        return act_in_teams(self.stack, step)

    def _fault(self, i: int, step: dict[str, Any]) -> str:
        action = step["fault"]
        stack = self.stack
        seconds = float(step.get("seconds", step.get("for_seconds", 60)))
        route = str(step.get("route", "*"))
        if action == "graph_throttle":
            stack.graph.set_faults(route, throttle_ratio=float(step["ratio"]), seconds=seconds)
            return f"Graph answers {step['ratio']:.0%} of requests with 429 for {seconds:g} s"
        if action == "graph_errors":
            stack.graph.set_faults(
                route, status=int(step["status"]), error_rate=float(step["ratio"]), seconds=seconds
            )
            return f"Graph answers {step['ratio']:.0%} of requests with {step['status']} for {seconds:g} s"
        assert stack.commerce is not None
        if action == "duplicate_events":
            stack.commerce.set_untidiness(duplicate_factor=int(step["factor"]))
            return f"every later event is delivered {step['factor']} times"
        if action == "shuffle_events":
            stack.commerce.set_untidiness(shuffle_window=int(step["window"]))
            return f"later events are shuffled in windows of {step['window']}"
        if action == "poison_event":
            raw = step["raw"]
            body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
            stack.bus.send_raw(body)
            return f"{len(body)} bytes put on the topic as is"
        if action == "crash_host":
            old, new = stack.crash_host()
            return f"host pid {old} killed (SIGKILL), restarted as pid {new}"
        raise StepFailed(i, step, f"unknown fault {action!r}")

    def _reconcile(self, i: int, step: dict[str, Any]) -> str:
        return request_reconcile(
            self.stack, store=step.get("store"), dry_run=bool(step.get("dry_run", False))
        )

    def _dlq_replay(self, i: int, step: dict[str, Any]) -> str:
        return replay_dead_letters(self.stack)

    def _wait(self, i: int, step: dict[str, Any]) -> str:
        value = step["wait"]
        if value == "converged":
            started = time.monotonic()
            if self.stack.converged(timeout=float(step.get("timeout", self.converge_timeout))):
                return f"converged after {time.monotonic() - started:.1f} s"
            self.log.converge_timeouts.append(i)
            return "NOT converged before the timeout: " + "; ".join(self.stack.last_busy)
        time.sleep(float(value))
        return f"waited {float(value):g} s"


def _describe(step: dict[str, Any]) -> str:
    verb = next(k for k in VERB_KEYS if k in step)
    args = ", ".join(f"{k}={v}" for k, v in step.items() if k != verb and k != "comment")
    head = f"{verb}: {step[verb]}" if verb in ("commerce", "teams", "fault", "wait") else verb
    return f"{head}" + (f" ({args})" if args else "")


# -- the app's ops surface ----------------------------------------------------------------------
def request_reconcile(
    stack: Stack, *, store: str | None = None, dry_run: bool = False, full: bool = False
) -> str:
    """`POST /api/ops/reconcile` (the app's ops endpoint)."""
    params = {"dry_run": "true" if dry_run else "false", **({"store": store} if store else {"all": "true"})}
    if full:
        params["full"] = "true"
    r = stack.call_app("POST", "ops/reconcile", params=params)
    if r.status_code == 404:
        raise RuntimeError("the app has no ops endpoint POST /api/ops/reconcile (functions/provisioning.py)")
    if r.status_code >= 400:
        raise RuntimeError(f"POST /api/ops/reconcile answered {r.status_code}: {r.text[:300]}")
    body = r.json() if r.content else {}
    return f"reconciliation {body.get('id') or body.get('report_id') or ''} started".replace("  ", " ")


def replay_dead_letters(stack: Stack) -> str:
    """`cts dlq replay --yes` on this stack's data folder, else `POST /api/ops/dlq/replay`."""
    cts = [
        sys.executable,
        "-m",
        "cts",
        "--target",
        "local",
        "--data",
        str(stack.data),
        "--host",
        stack.host_url,
    ]
    help_run = subprocess.run([*cts, "dlq", "replay", "--help"], cwd=ROOT, capture_output=True, text=True,
                              env=_cts_env(stack), timeout=60)  # fmt: skip
    if help_run.returncode == 0:
        args = [*cts, "dlq", "replay", "--all", "--yes", "--json"]
        run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=_cts_env(stack),
                             timeout=300)  # fmt: skip
        if run.returncode != 0:
            raise RuntimeError(
                f"cts dlq replay --yes failed ({run.returncode}): {(run.stderr or run.stdout)[-500:]}"
            )
        stack.bus.reopen()
        return "cts dlq replay --yes: " + " ".join(run.stdout.split())[:300]
    r = stack.call_app("POST", "ops/dlq/replay")
    if r.status_code < 400:
        return f"POST /api/ops/dlq/replay: {r.text[:200]}"
    raise RuntimeError(
        "no way to replay dead letters: `cts dlq replay` does not exist "
        f"(python -m cts dlq replay --help exited {help_run.returncode}) and POST /api/ops/dlq/replay "
        f"answered {r.status_code}"
    )


def _cts_env(stack: Stack) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CTS_")}
    env.update({k: v for k, v in stack.settings.items() if k.startswith("CTS_BUS__")})
    env["PYTHONPATH"] = str(ROOT)
    return env


# -- one call: start, play, report, stop --------------------------------------------------------
def run_scenario(
    path: str | Path | Scenario,
    *,
    report_path: str | Path | None = None,
    data_dir: str | Path | None = None,
    port_base: int | None = 0,
    graph_scale: float = 0.2,
    converge_timeout: float = 120.0,
    provision: bool = True,
    progress: Callable[[str], None] | None = None,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Start a fresh stack with the scenario's org, provision it (ops reconcile, then wait until
    converged), play the steps, wait until converged, read the report back, stop. Returns the
    report (and writes it to `report_path` if given). Raises `ScenarioError` before starting
    anything when the file is invalid, `StepFailed` naming the step that could not be played.
    `settings` are app settings for the host (e.g. `CTS_PROVISIONING__MEMBERSHIP_MODE`)."""
    scenario = path if isinstance(path, Scenario) else load_scenario(path)
    say = progress or (lambda _m: None)
    data = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="cts-scenario-"))
    wall = time.monotonic()
    config = StackConfig(
        org=scenario.org,
        data_dir=data,
        port_base=port_base,
        graph_scale=graph_scale,
        progress=say,
        extra_settings=dict(settings or {}),
    )
    with Stack(config) as stack:
        started = time.monotonic()
        initial = provision_org(stack, converge_timeout=converge_timeout) if provision else {}
        provisioned = time.monotonic()
        player = Player(stack, converge_timeout=converge_timeout, say=say)
        player.play(scenario.steps)
        last_step = time.monotonic()
        converged = stack.converged(timeout=converge_timeout)
        done = time.monotonic()
        timings = {
            "wall_seconds": None,
            "startup_seconds": round(started - wall, 3),
            "provisioning_seconds": round(provisioned - started, 3),
            "steps_seconds": round(last_step - provisioned, 3),
            "converge_after_last_step_seconds": round(done - last_step, 3),
            "converged": converged and not player.log.converge_timeouts,
            "steps": [{"index": s["index"], "seconds": s["seconds"]} for s in player.log.steps],
        }
        report = build_report(stack, timings=timings, run={
            "scenario": scenario.source, "initial_provisioning": initial,
            "steps": [{"index": s["index"], "result": s["result"]} for s in player.log.steps],
            "not_converged_at_steps": player.log.converge_timeouts,
        })  # fmt: skip
    report["timings"]["wall_seconds"] = round(time.monotonic() - wall, 3)
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return report


def provision_org(stack: Stack, *, converge_timeout: float = 120.0) -> dict[str, Any]:
    """The first provisioning: ask the app for a reconciliation; fall back to publishing the org
    as Commerce events; wait until converged; then ask for a task reconciliation so the task
    lists already published in Commerce are mirrored, and wait again. Says what happened."""
    how = ""
    try:
        how = request_reconcile(stack)
        stack.say(f"Provisioning: {how} (POST /api/ops/reconcile)")
    except RuntimeError as exc:
        stack.say(f"Provisioning: ops reconcile not possible ({exc})")
        assert stack.commerce is not None
        n = stack.commerce.publish_org()
        how = f"published the org as {n} Commerce events" if n else "nothing could start the provisioning"
        stack.say(f"Provisioning: {how}")
    started = time.monotonic()
    ok = stack.converged(timeout=converge_timeout)
    # When the teams' provisioning had ended: everything it caused (passes, write-backs, the
    # change notifications of its own writes) handled and nothing in flight.
    teams_quiet_at = stack.quiet_since if ok else None
    if ok:  # then the task lists Commerce has already published (what the nightly timer would do)
        r = stack.call_app("POST", "ops/tasks/reconcile", params={"dry_run": "false"})
        if r.status_code == 200:
            pairs = r.json().get("pairs", 0)
            how += f"; task reconciliation: {pairs} store task(s) to mirror"
            stack.say(f"Provisioning: mirroring {pairs} published store task(s) (ops/tasks/reconcile)")
            ok = stack.converged(timeout=converge_timeout)
    seconds = round(time.monotonic() - started, 3)
    stack.say(f"Provisioning: {'converged' if ok else 'NOT converged'} after {seconds:.1f} s"
              + ("" if ok else ": " + "; ".join(stack.last_busy)))  # fmt: skip
    return {"how": how, "converged": ok, "seconds": seconds, "teams_quiet_at": teams_quiet_at}

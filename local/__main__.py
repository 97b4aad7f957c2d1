"""`python -m local run` (what `make run` calls) and `python -m local demo` (`make demo`).

    python -m local run  [--org FILE] [--port-base N] [--keep] [--data DIR]
    python -m local demo --scenario FILE --report OUT.json [--port-base N] [--data DIR]

See docs/scenarios.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from local.stack.core import ROOT, StackError

DEFAULT_ORG = ROOT / "local" / "scenarios" / "sample-org.json"
DEFAULT_SCENARIO = ROOT / "local" / "scenarios" / "demo.json"


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def _common(parser: argparse.ArgumentParser, data_default: str) -> None:
    parser.add_argument("--port-base", type=int, default=None, metavar="N",
                        help="host on N, Graph sandbox on N+1, Commerce sandbox on N+2 "
                             "(default: 7071, 8765, 8766; 0 = any free ports)")  # fmt: skip
    parser.add_argument("--data", default=data_default, help=f"data folder (default: {data_default})")
    parser.add_argument("--graph-scale", type=float, default=None,
                        help="Graph sandbox time scale: async operations, throttling windows "
                             "(default: 1.0 for run, "
                             "0.2 for demo)")  # fmt: skip
    parser.add_argument("--converge-timeout", type=float, default=180.0,
                        help="seconds to wait for 'converged' before reporting what is still busy "
                             "(default: 180)")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description="The whole app on one machine.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the stack, provision the org, keep running until Ctrl-C")
    run.add_argument(
        "--org", default=str(DEFAULT_ORG), help="org file (default: local/scenarios/sample-org.json)"
    )
    run.add_argument(
        "--keep", action="store_true", help="keep the data of the previous run (default: start fresh)"
    )
    run.add_argument(
        "--no-crm",
        action="store_true",
        help="do not start the Dataverse sandbox with the sample CRM org (record-connected channels)",
    )
    _common(run, ".local/stack")
    demo = sub.add_parser("demo", help="play a scenario, write a report, exit")
    demo.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="scenario file (JSON or YAML)")
    demo.add_argument("--report", default=".local/demo-report.json", help="where to write the report (JSON)")
    _common(demo, ".local/demo")
    check = sub.add_parser("check", help="validate a scenario file and exit")
    check.add_argument("scenario")
    return parser.parse_args(argv)


def cmd_run(args: argparse.Namespace) -> int:
    from local.scenarios.player import provision_org
    from local.scenarios.report import build_report, summary_lines
    from local.stack.core import Stack, StackConfig

    org = Path(args.org)
    if not org.is_file():
        print(f"error: org file {org} not found", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    crm = None if args.no_crm else ROOT / "local" / "scenarios" / "sample-crm.json"
    config = StackConfig(org=org, data_dir=Path(args.data), port_base=args.port_base, keep=args.keep,
                         graph_scale=args.graph_scale or 1.0, progress=say, crm=crm)  # fmt: skip
    say(f"Starting the local stack with {org} (data in {args.data}{', kept' if args.keep else ', fresh'})")
    stack = Stack(config)
    try:
        stack.start()
        assert stack.host is not None
        say(
            f"Ports: host {stack.host.port}, Graph sandbox {stack.graph.root_url}, "
            f"Commerce sandbox {stack.commerce.root_url if stack.commerce else '-'}"
        )
        started = time.monotonic()
        initial = provision_org(stack, converge_timeout=args.converge_timeout)
        report = build_report(stack, timings={"provisioning_seconds": round(time.monotonic() - started, 3)},
                              run={"initial_provisioning": initial})  # fmt: skip
        (Path(args.data) / "report.json").write_text(
            json.dumps(report, indent=2, default=str), encoding="utf-8"
        )
        for line in summary_lines(report):
            say(line)
        if stack.crm is not None:
            from local.stack.crm import connect_and_show

            say(
                "Record-connected channels (docs/records.md): per record, its channels and the files it shows"
            )
            for line in connect_and_show(stack, stack.crm, say):
                say("  " + line)
        say(f"Full report: {Path(args.data) / 'report.json'}; host log: {stack.host.log_path}")
        say("Ops URLs:")
        for name, url in stack.urls().items():
            say(f"  {name:20} {url}")
        say("Running — the app keeps processing Commerce events and Teams changes. Ctrl-C to stop.")
        while not stop.is_set():
            if stack.host.process is not None and stack.host.process.poll() is not None:
                say(
                    f"The host exited ({stack.host.process.returncode}); see {stack.host.log_path}. Stopping."
                )
                return 1
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        say("Stopping: host (graceful), Commerce sandbox, Graph sandbox …")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the shutdown
        stack.stop()
        say("Stopped.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from local.scenarios.player import ScenarioError, StepFailed, load_scenario, run_scenario
    from local.scenarios.report import summary_lines

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say(f"Playing {args.scenario}: {len(scenario.steps)} steps, org {scenario.org}")
    try:
        report = run_scenario(scenario, report_path=args.report, data_dir=args.data,
                              port_base=0 if args.port_base is None else args.port_base,
                              graph_scale=args.graph_scale or 0.2, converge_timeout=args.converge_timeout,
                              progress=say)  # fmt: skip
    except StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in summary_lines(report):
        say(line)
    t = report["timings"]
    say(f"Wall time {t['wall_seconds']:.1f} s; "
        f"converged {t['converge_after_last_step_seconds']:.1f} s after the last step"
        + ("" if t["converged"] else " — NOT CONVERGED"))  # fmt: skip
    say(f"Report: {args.report}")
    return 0 if t["converged"] else 3


def cmd_check(args: argparse.Namespace) -> int:
    from local.scenarios.player import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.scenario}: valid, {len(scenario.steps)} steps, org {scenario.org}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return {"run": cmd_run, "demo": cmd_demo, "check": cmd_check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

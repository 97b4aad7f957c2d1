"""The whole app on one machine: Graph sandbox, Commerce sandbox and the local Functions host.

    with Stack(StackConfig(org=SAMPLE_ORG, data_dir=Path(".local/stack"))) as stack:
        stack.converged(timeout=120)
        stack.graph.act("remove-member", teamId=..., userId=...)

Processes and the broker (docs/scenarios.md, "The local stack"):
- The **host** is its own process (`python -m local.host`), so `crash_host` can SIGKILL it and
  start it again on the same data folder. It owns the embedded broker file
  `<data>/host/servicebus.sqlite` and declares the trigger entities on start.
- The **sandboxes** run in this process, each on its own uvicorn thread. The Commerce sandbox
  publishes through `SharedBus`, a `BusSender` that opens the *same* SQLite broker file. The
  broker is built for that (WAL, one transaction per change; other processes see a send within
  the host's poll interval), so an event is on the topic the moment `send` returns, whichever
  process dies next.
- Everything this process asks of the app goes through public interfaces: the host's HTTP API
  (ops functions, durable management API), the broker's counts and dead letters, and the
  app's state store (the spine's pending requests, sync records).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from local.stack.commerce import CommerceHandle, start_commerce
from shared.settings import GraphSettings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sandbox-token"
TOPIC = "commerce-events"
SUBSCRIPTION = "teams-sync"
T = TypeVar("T")
Progress = Callable[[str], None]


class StackError(RuntimeError):
    """The stack could not start or a service did not answer; the message says which and why."""


@dataclass
class StackConfig:
    org: Path
    data_dir: Path = ROOT / ".local" / "stack"
    #: host port = port_base, Graph = port_base + 1, Commerce = port_base + 2; None = 7071/8765/8766;
    #: 0 = any free ports (tests).
    port_base: int | None = None
    keep: bool = False  # keep the data folder of an earlier run (default: start fresh)
    graph_scale: float = 1.0  # Graph sandbox time scale (async operations, throttling windows)
    graph_throttle: bool = True
    bus_lock_seconds: float = 30.0
    host_grace: float = 5.0
    sweep_schedule: str = "*/10 * * * * *"  # the sweeper restarts uncovered syncs (seconds!)
    task_poll_schedule: str = "*/5 * * * * *"  # the Planner poll (production: every 2 minutes)
    extra_settings: dict[str, str] = field(default_factory=dict)
    progress: Progress = lambda _message: None
    crm: Path | None = None  # a sample CRM org (local/stack/crm.py): Dataverse sandbox + records on


@dataclass(frozen=True)
class Ports:
    host: int
    graph: int
    commerce: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def choose_ports(port_base: int | None) -> Ports:
    if port_base is None:
        return Ports(7071, 8765, 8766)
    if port_base == 0:
        return Ports(free_port(), free_port(), free_port())
    return Ports(port_base, port_base + 1, port_base + 2)


# -- an event loop of our own (brokers, state store and gateway are async) ------------------------
class LoopThread:
    """One asyncio loop on a daemon thread; `run(coro)` from any thread, `submit` from any loop."""

    def __init__(self, name: str = "stack-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    async def submit(self, coro: Awaitable[T]) -> T:
        """Await `coro` on this loop from another running loop."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


# -- the broker the host owns, opened from this process ------------------------------------------
class SharedBus:
    """A `BusSender` (and DLQ/count reader) on the host's broker file, usable from any loop.

    It is opened after the host has declared its entities (the broker caches a topic's
    subscriptions per process) and reopened after a host restart."""

    def __init__(self, path: Path, loop: LoopThread) -> None:
        self.path = path
        self._loop = loop
        self._broker: Any = None

    async def _get(self) -> Any:
        if self._broker is None:
            from local.host.broker import Broker

            self._broker = Broker(self.path, poll_interval=0.2)
        return self._broker

    def reopen(self) -> None:
        async def reopen() -> None:
            if self._broker is not None:
                old, self._broker = self._broker, None
                await old.close()

        self._loop.run(reopen())

    async def send(self, entity: str, messages: Any) -> None:  # BusSender
        async def send() -> None:
            await (await self._get()).send(entity, messages)

        await self._loop.submit(send())

    def send_raw(self, body: bytes, entity: str = TOPIC, **props: Any) -> None:
        from shared.bus.protocol import OutgoingMessage

        self._loop.run(self.send(entity, [OutgoingMessage(body=body, **props)]))

    def receivers(self) -> list[str]:
        """Queues and subscriptions declared on the broker (its `receivers` table; read-only)."""
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            return [str(r[0]) for r in db.execute("SELECT path FROM receivers ORDER BY path")]
        except sqlite3.Error:
            return []
        finally:
            db.close()

    def counts(self) -> dict[str, dict[str, int]]:
        async def counts() -> dict[str, dict[str, int]]:
            broker = await self._get()
            return {path: await broker.counts(path) for path in self.receivers()}

        return self._loop.run(counts())

    def dead_letters(self) -> list[Any]:
        async def peek() -> list[Any]:
            from shared.bus.protocol import EntityRef

            broker = await self._get()
            out: list[Any] = []
            for path in self.receivers():
                out += await broker.peek_dead_letters(EntityRef.parse(path), max_count=1000)
            return out

        return self._loop.run(peek())

    def close(self) -> None:
        self.reopen()


async def declare_app_entities(path: Path, lock_seconds: float) -> None:
    """What `azd provision` creates that the host does not declare (it declares the entities its
    triggers listen on): the quarantine queue, with infra/resources.bicep's properties
    (duplicate detection PT1H, maxDeliveryCount 10, TTL P14D with dead-lettering on expiry; the
    lock as the stack's triggers have it). Idempotent; before the host starts, so its first
    `quarantine_drain` finds the queue."""
    from datetime import timedelta

    from local.host.broker import Broker
    from shared.bus.quarantine import QUARANTINE_QUEUE

    broker = Broker(path)
    try:
        await broker.ensure_queue(
            QUARANTINE_QUEUE,
            max_delivery_count=10,
            lock_duration=timedelta(seconds=lock_seconds),
            duplicate_detection_window=timedelta(hours=1),
            default_message_time_to_live=timedelta(days=14),
            dead_lettering_on_message_expiration=True,
        )
    finally:
        await broker.close()


# -- sandboxes on threads -----------------------------------------------------------------------
@contextmanager
def serve_in_thread(app: Any, port: int, name: str) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:port (0 = any) on a daemon thread; yields the root URL."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it every response on a kept-alive connection waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise StackError(f"{name}: cannot listen on 127.0.0.1:{port} ({exc}); choose --port-base") from None
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise StackError(f"{name} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- the host process ---------------------------------------------------------------------------
class HostProcess:
    """`python -m local.host` running function_app.py, in its own process group."""

    def __init__(self, data: Path, port: int, settings: dict[str, str], grace: float, lock: float) -> None:
        self.data, self.port, self.settings = data, port, settings
        self.grace, self.lock = grace, lock
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data.parent / "host.log"
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def settings_file(self) -> Path:
        return self.data / "settings.json"

    def start(self, timeout: float = 60.0) -> None:
        args = [sys.executable, "-m", "local.host", "--app", "function_app", "--port", str(self.port),
                "--data", str(self.data), "--grace", str(self.grace), "--bus-lock-seconds", str(self.lock),
                "--no-local-settings", "--settings-file", str(self.settings_file)]  # fmt: skip
        self.data.mkdir(parents=True, exist_ok=True)
        # The settings hold the webhook keys, the client state and the sandboxes' tokens: in a
        # file only this user can read, not on the command line (world-readable in ps).
        fd = os.open(self.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.settings, out)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTS_")}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with self.log_path.open("ab") as out:
            out.write(f"\n--- host start #{self.starts + 1} at {time.strftime('%H:%M:%S')} ---\n".encode())
            out.flush()
            # Own session: a terminal Ctrl-C reaches only the stack, which then stops the host
            # with one SIGTERM (a second signal would make the host skip its grace period).
            self.process = subprocess.Popen(
                args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"the host exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.base_url + "/", timeout=1).json().get("state") == "Running":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise StackError(f"the host did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no grace (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def _sample_settings() -> dict[str, str]:
    try:
        values = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))["Values"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(k): str(v) for k, v in values.items()}


WEBHOOK_FUNCTIONS = ("graph_notifications", "graph_lifecycle")


def _write_host_keys(data: Path) -> tuple[str, str, dict[str, str]]:
    """Create the host's key file before it starts, so the webhook URLs can carry a key: each
    webhook function gets its own function key, which opens that function only (Azure's
    function-level semantics); the host key (the ops key) never goes into a URL stored in Graph.
    Returns (master key, host key, {webhook function: its key})."""
    from local.host.keys import HostKeys

    path = data / "host-keys.json"
    if path.is_file():
        keys = HostKeys.load_or_create(path, WEBHOOK_FUNCTIONS)
    else:
        keys = HostKeys(
            secrets.token_urlsafe(32),
            {"default": secrets.token_urlsafe(32)},
            {name: {"default": secrets.token_urlsafe(32)} for name in WEBHOOK_FUNCTIONS},
        )
        keys.save(path)
    webhook = {name: keys.function_keys[name]["default"] for name in WEBHOOK_FUNCTIONS}
    return keys.master, keys.host_function_keys["default"], webhook


# -- the stack ------------------------------------------------------------------------------------
class Stack:
    """Start with `start()` (or `with Stack(config) as stack`), stop with `stop()`."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data = config.data_dir.resolve()
        self.ports = choose_ports(config.port_base)
        self.loop = LoopThread()
        self._exit = ExitStack()
        self.graph: Any = None  # local.graph.testing.GraphSandbox
        self.commerce: CommerceHandle | None = None
        self.host: HostProcess | None = None
        self.bus = SharedBus(self.data / "host" / "servicebus.sqlite", self.loop)
        self.master_key = self.function_key = ""
        self.webhook_keys: dict[str, str] = {}
        self.planner_changed_at: datetime | None = None
        self.settings: dict[str, str] = {}
        self.org_path: Path = config.org
        self.seeded_teams: dict[str, str] = {}  # store -> team id of the org's existing teams
        self._state: Any = None
        self.crm: Any = None  # local.stack.crm.Crm when config.crm is set
        # One client for every call to the host (the convergence wait asks 5 times a second; a
        # client per call built an SSL context each time: ~9 % of this process's CPU, on the
        # 2 cores the app and the sandboxes share while a bench measures them).
        self._client: httpx.Client | None = None

    def say(self, message: str) -> None:
        self.config.progress(message)

    # -- start / stop ---------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from local.graph.server import create_app
        from local.graph.testing import GraphSandbox

        if self.data.exists() and not self.config.keep:
            shutil.rmtree(self.data)
        self.data.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data / "graph.sqlite").exists()

        self.say(f"Graph sandbox: starting on port {self.ports.graph or 'any'}")
        app = create_app(str(self.data / "graph.sqlite"), token=TOKEN, scale=self.config.graph_scale,
                         throttle=self.config.graph_throttle)  # fmt: skip
        root = self._exit.enter_context(serve_in_thread(app, self.ports.graph, "graph-sandbox"))
        self.graph = GraphSandbox(root, TOKEN, app.state.sandbox)
        self._exit.callback(self.graph.close)

        from local.stack.seed import seed_graph

        if fresh:
            self.say("Graph sandbox: seeding the directory and the org's existing teams")
            self.org_path, self.seeded_teams = seed_graph(self, self.config.org)
        elif (self.data / "org.json").exists():
            self.org_path = self.data / "org.json"

        commerce_port = self.ports.commerce
        host_port = self.ports.host or free_port()
        if commerce_port == 0:
            commerce_port = free_port()
        self.master_key, self.function_key, self.webhook_keys = _write_host_keys(self.data / "host")
        self.settings = self._host_settings(host_port, commerce_port)
        if self.config.crm is not None:
            from local.stack.crm import start_crm

            self.say("Dataverse sandbox: starting with the sample CRM org (record-connected channels on)")
            self.crm, crm_settings = start_crm(self, self._exit, self.config.crm, TOKEN, self.loop)
            self.settings.update(crm_settings)

        self.say("Service Bus: declaring the entities Bicep creates that no trigger listens on")
        self.loop.run(
            declare_app_entities(self.data / "host" / "servicebus.sqlite", self.config.bus_lock_seconds)
        )
        self.say(f"Local Functions host: starting function_app.py on port {host_port}")
        self.host = HostProcess(self.data / "host", host_port, self.settings, self.config.host_grace,
                                self.config.bus_lock_seconds)  # fmt: skip
        self.host.start()
        self._exit.callback(self._stop_host)

        self.say(f"Commerce sandbox: starting on port {commerce_port}, publishing to {TOPIC}")
        self.commerce = start_commerce(
            self._exit, org=self.org_path, db=self.data / "commerce.sqlite", port=commerce_port,
            bus=self.bus, topic=TOPIC, loop=self.loop,
        )  # fmt: skip
        self.graph.reset_counters()  # the report counts the app's requests, not the seeding

    def _stop_host(self) -> None:
        if self.host is not None:
            self.host.stop(timeout=self.config.host_grace + 20)

    def stop(self) -> None:
        try:
            self._exit.close()
        finally:
            if self._state is not None:
                try:
                    self.loop.run(self._state.close(), timeout=5)
                except Exception:
                    pass
                self._state = None
            self.bus.close()
            self.loop.close()
            if self._client is not None:
                self._client.close()
                self._client = None

    def _host_settings(self, host_port: int, commerce_port: int) -> dict[str, str]:
        graph_root = self.graph.root_url
        # Every setting the app reads (binding expressions like %CTS_...% included) has a sample
        # value in local.settings.sample.json; the stack's endpoints, paths and secrets win.
        settings = _sample_settings()
        settings |= {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
            "CTS_GRAPH__BASE_URL": f"{graph_root}/v1.0",
            "CTS_GRAPH__BETA_URL": f"{graph_root}/beta",
            "CTS_GRAPH__AUTH": "static_token",
            "CTS_GRAPH__STATIC_TOKEN": TOKEN,
            "CTS_COMMERCE__BASE_URL": f"http://127.0.0.1:{commerce_port}",
            "CTS_COMMERCE__AUTH": "static_token",
            "CTS_COMMERCE__STATIC_TOKEN": TOKEN,
            "CTS_BUS__TOPIC": TOPIC,
            "CTS_BUS__SUBSCRIPTION": SUBSCRIPTION,
            "CTS_STATE__BACKEND": "sqlite",
            "CTS_STATE__SQLITE_PATH": str(self.data / "state.sqlite"),
            "CTS_RECONCILE__SCHEDULE": "0 0 2 * * *",
            "CTS_RECONCILE__SWEEP_SCHEDULE": self.config.sweep_schedule,
            "CTS_TASKS__POLL_SCHEDULE": self.config.task_poll_schedule,
            "CTS_TASKS__POLL_INTERVAL_SECONDS": "0",
            # Every plan every poll on the stack (scenarios wait for "the next poll"); the
            # adaptive intervals are production's (shared/tasks/poll.py).
            "CTS_TASKS__POLL_WARM_INTERVAL_SECONDS": "0",
            "CTS_TASKS__POLL_QUIET_INTERVAL_SECONDS": "0",
            "CTS_TASKS__POLL_BUDGET_PER_HOUR": "0",
            "CTS_RECONCILE__FAILED_RETRY_AFTER_SECONDS": "20",
            "CTS_WEBHOOK__NOTIFICATION_URL": (
                f"http://127.0.0.1:{host_port}/api/graph/notifications"
                f"?code={self.webhook_keys['graph_notifications']}"
            ),
            "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL": (
                f"http://127.0.0.1:{host_port}/api/graph/lifecycle?code={self.webhook_keys['graph_lifecycle']}"
            ),
            "CTS_WEBHOOK__CLIENT_STATE": secrets.token_urlsafe(24),  # random per run
            "CTS_BUS__LOCAL_BROKER": str(self.data / "host" / "servicebus.sqlite"),
            "CTS_BUS__LOCAL_BROKER_FACTORY": "local.host.broker:open_ops_broker",
        }
        if self.config.graph_scale != 1.0:
            # The sandbox's windows are `graph_scale` long: so is the app's pacing of POST /teams.
            settings["CTS_GRAPH__TEAM_CREATES_PER_SECOND"] = str(
                GraphSettings().team_creates_per_second / self.config.graph_scale
            )
        settings.update(self.config.extra_settings)
        return settings

    # -- the host -------------------------------------------------------------------------------
    @property
    def host_url(self) -> str:
        assert self.host is not None
        return self.host.base_url

    def crash_host(self) -> tuple[int | None, int | None]:
        """SIGKILL the host process and start it again on the same data; returns (old, new) pid."""
        assert self.host is not None
        old = self.host.pid
        self.host.kill()
        self.host.start()
        self.bus.reopen()
        return old, self.host.pid

    def _host_client(self) -> httpx.Client:
        """One client for the calls to the host: the convergence wait asks 5 times a second, and a
        client per call built an SSL context each time (~9 % of this process's CPU, taken from the
        2 cores that the app and the sandboxes share while a bench measures them)."""
        if self._client is None:
            self._client = httpx.Client()
        return self._client

    def call_app(self, method: str, route: str, **kwargs: Any) -> httpx.Response:
        """An HTTP function of the app (`route` under /api), with the host function key."""
        headers = {"x-functions-key": self.function_key, **kwargs.pop("headers", {})}
        url = f"{self.host_url}/api/{route.lstrip('/')}"
        timeout = kwargs.pop("timeout", 30)
        return self._host_client().request(method, url, headers=headers, timeout=timeout, **kwargs)

    def orchestrations(self, statuses: tuple[str, ...] = (), top: int | None = None) -> list[dict[str, Any]]:
        """Durable instances from the host's management API (optionally filtered by status; at
        most `top`)."""
        params: dict[str, Any] = {"runtimeStatus": ",".join(statuses)} if statuses else {}
        if top is not None:
            params["top"] = top
        url = f"{self.host_url}/runtime/webhooks/durabletask/instances"
        r = self._host_client().get(url, params=params, timeout=30)
        if r.status_code == 404:
            return []  # the app has no durable functions
        r.raise_for_status()
        return list(r.json())

    # -- the app's state store (pending syncs, sync records) ------------------------------------
    def state(self) -> Any:
        if self._state is None:
            from shared.settings import StateSettings
            from shared.state import open_state

            self._state = open_state(
                StateSettings(backend="sqlite", sqlite_path=self.settings["CTS_STATE__SQLITE_PATH"])
            )
        return self._state

    def pending_syncs(self) -> list[str]:
        if not Path(self.settings["CTS_STATE__SQLITE_PATH"]).exists():
            return []
        from shared.spine import RequestQueue
        from shared.spine.features import TEAMS

        return list(self.loop.run(RequestQueue(self.state(), TEAMS).pending()))

    def planner_changed(self) -> None:
        """A person changed a Planner task (the Graph sandbox's side channel). Graph sends no
        notification for Planner, so the app sees it at its next poll: until a poll has started
        after now, the stack is not converged."""
        self.planner_changed_at = datetime.now(UTC)

    def planner_change_unseen(self) -> bool:
        if self.planner_changed_at is None:
            return False
        last = self.loop.run(self.state().get_value("poll", "last")) or {}
        started = last.get("started")
        return started is None or datetime.fromisoformat(started) <= self.planner_changed_at

    def pending_mirrors(self) -> list[str]:
        """Task pairs with mirror requests no pass has covered yet."""
        if not Path(self.settings["CTS_STATE__SQLITE_PATH"]).exists():
            return []
        from shared.spine import RequestQueue
        from shared.spine.features import TASK_PAIRS

        return list(self.loop.run(RequestQueue(self.state(), TASK_PAIRS).pending()))

    # -- convergence ----------------------------------------------------------------------------
    def busy(self, *, first: bool = False) -> list[str]:
        """What is still in flight (empty when the app is idle); `first`: stop at the first
        reason, reading no more (the wait below asks every 0.2 s while the app works: listing
        every running orchestration each time cost the host and this process more CPU than the
        answer is worth)."""
        reasons: list[str] = []
        for path, c in self.bus.counts().items():
            n = c.get("active", 0) + c.get("locked", 0) + c.get("scheduled", 0)
            if n:
                reasons.append(f"{n} messages on {path}")
        if first and reasons:
            return reasons
        running = self.orchestrations(("Running", "Pending"), top=1 if first else None)
        if running:
            reasons.append("orchestrations running or pending" if first else
                           f"{len(running)} orchestrations running or pending")  # fmt: skip
            if first:
                return reasons
        pending = self.pending_syncs()
        if pending:
            reasons.append(f"sync requests not yet covered: {', '.join(sorted(pending)[:5])}")
        if self.planner_change_unseen():
            reasons.append("a change made in Planner waits for the app's next poll")
        mirrors = self.pending_mirrors()
        if mirrors:
            reasons.append(f"task mirror requests not yet covered: {', '.join(sorted(mirrors)[:5])}")
        return reasons

    def converged(self, timeout: float = 120.0, stable: float = 1.0, poll: float = 0.2) -> bool:
        """Wait until nothing is in flight for `stable` seconds; False on timeout. On True,
        `quiet_since` is when (time.monotonic) the first look found nothing in flight: the work
        ended at most `poll` seconds before it, and the `stable` seconds after are the wait's own."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        if self.commerce is not None:
            self.commerce.flush()  # events held by a shuffle window or a delay go out now
        while time.monotonic() < deadline:
            try:
                busy = self.busy(first=True)
            except (httpx.HTTPError, sqlite3.Error) as exc:  # the host restarting, a locked file
                busy = [str(exc)]
            now = time.monotonic()
            if busy:
                quiet_since = None
                self.last_busy = busy
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= stable:
                self.quiet_since = quiet_since
                return True
            time.sleep(poll)
        with contextlib.suppress(httpx.HTTPError, sqlite3.Error):
            self.last_busy = self.busy()  # every reason, for the message that says why
        return False

    last_busy: list[str] = []
    quiet_since: float | None = None

    # -- URLs ------------------------------------------------------------------------------------
    def urls(self) -> dict[str, str]:
        out = {
            "graph": f"{self.graph.root_url}/v1.0" if self.graph else "",
            "graph side channel": f"{self.graph.root_url}/_sandbox/counters" if self.graph else "",
            "commerce": self.commerce.root_url + "/data/" if self.commerce else "",
            "host": self.host_url if self.host else "",
            "ops page": f"{self.host_url}/api/ops" if self.host else "",
            "ops key": self.function_key if self.host else "",  # typed into the page, x-functions-key
            "status": f"{self.host_url}/api/ops/status" if self.host else "",
            "orchestrations": f"{self.host_url}/runtime/webhooks/durabletask/instances" if self.host else "",
        }
        return {k: v for k, v in out.items() if v}

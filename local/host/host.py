"""`LocalHost`: the local Azure Functions host for one app, and `running_host` for tests.

Start-up order: app settings → load and check the app → keys → bind the port → broker and
durable engine (if the app uses them) → HTTP server → timers → Service Bus delivery loops.
Shutdown is the reverse: stop taking new work (HTTP listener closed, timers and delivery loops
stopped), let in-flight invocations finish within the grace period, then stop the engine and
close the broker. A message whose invocation did not finish is never completed, so it returns
to its queue (abandoned, or when its lock expires after a hard kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from local.host.appsettings import apply_settings, read_local_settings
from local.host.bus_triggers import BusTriggers, declare_entities, entity_label
from local.host.http_triggers import HttpTriggers, build_asgi_app
from local.host.invoke import Invoker
from local.host.keys import HostKeys
from local.host.loader import AppLoadError, HostConfig, LoadedApp, app_root, load_app
from local.host.telemetry import register as register_telemetry
from local.host.telemetry import unregister as unregister_telemetry
from local.host.timers import TimerScheduler, TimerStatusStore
from local.host.workers import WorkerPool, WorkerProcessCountError, process_count

log = logging.getLogger("local.host")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the host owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LocalHost:
    """Runs a function app locally: HTTP, timer, Service Bus and durable functions."""

    def __init__(
        self,
        app_module: str = "function_app",
        data_dir: str | Path = ".local",
        port: int = 7071,
        settings: Mapping[str, str] | None = None,
        *,
        bind: str = "127.0.0.1",
        grace_period: float = 30.0,
        bus_lock_duration: timedelta = timedelta(seconds=60),
        use_local_settings: bool = True,
        thread_pool_size: int | None = None,
    ) -> None:
        self.app_module = app_module
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.settings = dict(settings or {})
        self.bind = bind
        self.grace_period = grace_period
        self.bus_lock_duration = bus_lock_duration
        self.use_local_settings = use_local_settings
        self.thread_pool_size = thread_pool_size or int(
            os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "32")
        )
        self.app: LoadedApp | None = None
        self.config = HostConfig()
        self.keys: HostKeys | None = None
        self.broker: Any = None
        self.engine: Any = None
        self.workers: WorkerPool | None = None
        self.http: HttpTriggers | None = None
        self.timers: TimerScheduler | None = None
        self.bus: BusTriggers | None = None
        self.state = "Initialized"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._timer_store: TimerStatusStore | None = None
        self._saved_env: dict[str, str | None] = {}
        self.telemetry_dir: Path | None = None  # spans.jsonl / metrics.jsonl (local/host/telemetry.py)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind
        return f"http://{host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the app and start serving; raises `AppLoadError` for an app it cannot run."""
        self.loop = asyncio.get_running_loop()
        _fresh_durable_client_session()
        root = app_root(self.app_module)
        local = read_local_settings(root / "local.settings.json") if self.use_local_settings else {}
        for key in {**local, **self.settings}:
            self._saved_env.setdefault(key, os.environ.get(key))
        apply_settings(local, self.settings)
        self.app = app = load_app(self.app_module)
        self.config = HostConfig.read(app.root / "host.json")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.telemetry_dir = register_telemetry(self.data_dir)
        http_functions = app.of_type("httpTrigger")
        self.keys = HostKeys.load_or_create(
            self.data_dir / "host-keys.json", [f.name for f in http_functions]
        )
        self._socket = _listen(self.bind, self.port)
        self.port = self._socket.getsockname()[1]
        self._executor = ThreadPoolExecutor(max_workers=self.thread_pool_size, thread_name_prefix="func")

        self.workers = await self._start_workers()
        if app.uses_bus:
            self.broker = await self._open_broker(app)
        if app.uses_durable:
            self.engine = await self._start_engine(app)
        invoker = Invoker(
            function_directory=str(app.root),
            executor=self._executor,
            durable_client_json=(lambda: self.engine.client_binding_json(self.base_url))
            if self.engine
            else None,
            send_messages=self.broker.send if self.broker is not None else None,
            workers=self.workers,
        )

        self.http = HttpTriggers(http_functions, self.keys, invoker, route_prefix=self.config.route_prefix)
        asgi = build_asgi_app(
            self.http,
            durable_app=self.engine.asgi_app() if self.engine else None,
            state=lambda: self.state,
            workers=lambda: self.workers.stats() if self.workers is not None else None,
        )
        config = uvicorn.Config(
            asgi,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(self.grace_period) or 1,
        )
        self._server = _Server(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="http")
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)

        timers = app.of_type("timerTrigger")
        self._timer_store = TimerStatusStore(self.data_dir / "host.sqlite")
        self.timers = TimerScheduler(timers, invoker, self._timer_store)
        self.timers.start()

        bus_triggers = app.of_type("serviceBusTrigger")
        if bus_triggers:
            self.bus = BusTriggers(
                bus_triggers,
                invoker,
                self.broker,
                max_concurrent_calls=self.config.max_concurrent_calls,
                max_auto_lock_renewal=timedelta(seconds=self.config.max_auto_lock_renewal_seconds),
                drain_timeout=self.grace_period,
                max_message_batch_size=self.config.max_message_batch_size,
            )
            self.bus.start()
        self.state = "Running"
        log.info("Host started (%d functions)", len(app.functions), extra={"event": "host_started"})

    async def _start_workers(self) -> WorkerPool | None:
        """FUNCTIONS_WORKER_PROCESS_COUNT > 1: that many worker processes, this one included
        (local/host/workers.py); an invalid value refuses to start, naming the setting."""
        try:
            count = process_count(os.environ)
        except WorkerProcessCountError as exc:
            raise AppLoadError([str(exc)]) from None
        if count == 1:
            return None
        pool = WorkerPool(count, self.app_module, self.data_dir, logging.getLogger().getEffectiveLevel())
        await pool.start()
        return pool

    async def _open_broker(self, app: LoadedApp) -> Any:
        try:
            from local.host.broker import Broker
        except ImportError as exc:
            raise AppLoadError(
                [f"the app uses Service Bus but the embedded broker is not available: {exc}"]
            ) from exc
        broker = Broker(self.data_dir / "servicebus.sqlite", inline=True)  # no thread hop per call
        await declare_entities(
            broker,
            app.of_type("serviceBusTrigger"),
            max_delivery_count=self.config.max_delivery_count,
            lock_duration=self.bus_lock_duration,
        )
        return broker

    async def _start_engine(self, app: LoadedApp) -> Any:
        try:
            from local.host.durable import DurableEngine, DurableRegistry
        except ImportError as exc:
            names = [
                f.name
                for f in app.functions
                if f.trigger_type in ("orchestrationTrigger", "activityTrigger") or f.durable_client_arg
            ]
            raise AppLoadError(
                [
                    f"functions {names} use Durable Functions but the local durable engine "
                    f"(local/host/durable) is not available: {exc}"
                ]
            ) from exc
        registry = DurableRegistry.from_app(app.app)
        engine = DurableEngine(
            self.data_dir / "durable.sqlite",
            registry,
            max_concurrent_activities=self.config.max_concurrent_activities,
            max_concurrent_orchestrations=self.config.max_concurrent_orchestrations,
            hub_name=self.config.hub_name,
            workers=self.workers,
        )
        await engine.start()
        return engine

    async def stop(self) -> None:
        """Stop taking work, let in-flight invocations finish (grace period), release everything."""
        if self.state == "Stopped":
            return
        self.state = "Stopping"
        log.info("Host stopping (grace period %.0f s)", self.grace_period, extra={"event": "host_stopping"})
        stopping = []
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                stopping.append(self._server_task)
        if self.timers is not None:
            stopping.append(asyncio.ensure_future(self.timers.stop(self.grace_period)))
        if self.bus is not None:
            stopping.append(asyncio.ensure_future(self.bus.stop(self.grace_period)))
        if stopping:
            await asyncio.wait(stopping, timeout=self.grace_period + 5)
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self.workers is not None:
            await self.workers.close()
            self.workers = None
        await _close_durable_client_session()
        if self.broker is not None:
            await self.broker.close()
            self.broker = None
        if self._timer_store is not None:
            self._timer_store.close()
            self._timer_store = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        unregister_telemetry(self.data_dir)
        self.state = "Stopped"
        self._restore_env()
        log.info("Host stopped", extra={"event": "host_stopped"})

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    async def __aenter__(self) -> LocalHost:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- what is served ----------------------------------------------------------------------

    def function_url(self, name: str, *, with_key: bool = True) -> str:
        """The URL of an HTTP function (with ``?code=`` for non-anonymous ones when ``with_key``)."""
        assert self.http is not None and self.keys is not None
        spec = next(s for _, s in self.http.routes if s.name == name)
        url = self.base_url + self.http.url_path(spec)
        if with_key and spec.auth_level != "anonymous":
            key = self.keys.master if spec.auth_level == "admin" else self.keys.default_key(name)
            url += f"?code={key}"
        return url

    def banner(self) -> str:
        """What `func start` prints: functions with their URLs (never a key: the banner ends up in
        log files; keys are in `<data>/host-keys.json`), timers' next runs."""
        assert self.app is not None and self.keys is not None
        lines = [f"Local Functions host for {self.app_module} (data: {self.data_dir})", "", "Functions:"]
        for spec in self.app.functions:
            if spec.trigger_type == "httpTrigger":
                methods = ",".join(sorted(spec.methods)) if spec.methods else "ALL"
                lines.append(
                    f"  {spec.name}: [{methods}] {self.function_url(spec.name, with_key=False)}  "
                    f"({spec.auth_level})"
                )
            elif spec.trigger_type == "timerTrigger" and self.timers is not None:
                nxt = self.timers.next_runs.get(spec.name)
                lines.append(
                    f"  {spec.name}: timerTrigger '{spec.trigger.get('schedule')}' next run "
                    f"{nxt.isoformat() if nxt else '?'}"
                )
            elif spec.trigger_type == "serviceBusTrigger":
                lines.append(f"  {spec.name}: serviceBusTrigger on {entity_label(spec)}")
            else:
                lines.append(f"  {spec.name}: {spec.trigger_type}")
        lines += [
            "",
            f"Keys (master, host function keys, per-function keys): {self.data_dir / 'host-keys.json'}",
        ]
        if self.engine is not None:
            lines.append(f"Durable management API: {self.base_url}/runtime/webhooks/durabletask")
        if self.broker is not None:
            lines.append(f"Service Bus (embedded broker): {self.data_dir / 'servicebus.sqlite'}")
        return "\n".join(lines)


@contextlib.contextmanager
def running_host(
    app_module: str = "function_app",
    data_dir: str | Path = ".local",
    port: int = 0,
    settings: Mapping[str, str] | None = None,
    *,
    start_timeout: float = 30.0,
    **options: Any,
) -> Iterator[LocalHost]:
    """Run a `LocalHost` on its own event loop in a background thread (for tests).

    ``port=0`` picks a free port; read it from ``host.port`` / ``host.base_url``.
    """
    host = LocalHost(app_module, data_dir, port, settings, **options)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    stop_requested: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop_requested
        stop_requested = asyncio.Event()
        try:
            await host.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            await host.stop()
            return
        started.set()
        await stop_requested.wait()
        await host.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="local-host", daemon=True)
    thread.start()
    if not started.wait(start_timeout):
        raise TimeoutError(f"the local host did not start within {start_timeout} s")
    if failure:
        thread.join()
        loop.close()
        raise failure[0]
    try:
        yield host
    finally:
        assert stop_requested is not None
        loop.call_soon_threadsafe(stop_requested.set)
        thread.join(host.grace_period + 30)
        loop.close()


def _fresh_durable_client_session() -> None:
    """The durable SDK's client keeps one module-global aiohttp session (and asyncio lock) bound to
    the event loop that first used it (azure/durable_functions/models/utils/http_utils.py). Azure's
    worker has one loop for its life; a local host started after another one in the same process
    (tests) has a new loop, so it starts the SDK with a fresh session of its own."""
    from azure.durable_functions.models.utils import http_utils

    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()


async def _close_durable_client_session() -> None:
    from azure.durable_functions.models.utils import http_utils

    session = http_utils._client_session
    http_utils._client_session = None
    if session is not None and not session.closed:
        await session.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket made with proto IPPROTO_TCP (socket.create_server leaves it 0):
    asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP, and without it every
    response on a kept-alive connection waits ~40 ms for a delayed ACK (Nagle)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock

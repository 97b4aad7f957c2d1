"""Language worker processes: `FUNCTIONS_WORKER_PROCESS_COUNT` (default 1, at most 10).

Azure: "Specifies the maximum number of language worker processes, with a default value of 1.
The maximum value allowed is 10. Function invocations are evenly distributed among language
worker processes." (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_worker_process_count;
for Python, https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference
recommends it for CPU-bound apps, since one process runs its code on one core.) Each worker
process imports the app on its own, so module globals, caches and clients are per process, as
they are per instance when the app scales out.

Here the host process stays the first worker (with count 1 nothing changes: every invocation
runs in-process, as before) and `count - 1` more worker processes (`python -m
local.host.workers`) run what can run anywhere: **activity functions and Service Bus triggered
functions**. HTTP functions, timers and orchestrator episodes stay in the host process (their
requests, replies and replays are host-side objects; they are a small share of the CPU). Each
invocation goes to the process with the fewest invocations of the same function in flight (the
host process counts as one; ties in turn), so each function is spread evenly and a slower
process takes fewer.

Wire: one socket pair per worker, frames of a 4-byte length and a pickle. Host -> worker:
``activity`` / ``function`` requests and ``stop``. Worker -> host: ``ready``, ``done`` (the
result, or the error's type, message and traceback) and ``log`` (the worker's log records,
re-emitted by the host's logging with the invocation's function name and id, so the host log
reads as one). A worker dies with the host (PR_SET_PDEATHSIG, and its socket's end of file); a
worker that exits fails its invocations in flight (a Service Bus message returns to its queue, an
activity fails and the orchestrator's retry policy decides) and is started again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pickle
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("local.host")

SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESSES = 10  # the documented maximum
_HEADER = struct.Struct(">I")
_RESPAWN_DELAY_S = 1.0
_ROOT = Path(__file__).resolve().parents[2]  # the folder with local/ (the worker's PYTHONPATH)
_STANDARD_LOG_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "taskName"}


class WorkerProcessCountError(ValueError):
    pass


def process_count(environ: Mapping[str, str]) -> int:
    """The setting's value: a whole number from 1 to 10 (absent or empty: 1)."""
    raw = (environ.get(SETTING) or "").strip()
    if not raw:
        return 1
    try:
        count = int(raw)
    except ValueError:
        raise WorkerProcessCountError(
            f"{SETTING} must be a whole number from 1 to {MAX_PROCESSES}, not {raw!r}"
        ) from None
    if not 1 <= count <= MAX_PROCESSES:
        raise WorkerProcessCountError(f"{SETTING} must be from 1 to {MAX_PROCESSES}, not {count}")
    return count


class RemoteError(Exception):
    """A function's exception raised in a worker process: its type's name, message, traceback."""

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.remote_traceback = remote_traceback


def error_type(exc: BaseException) -> str:
    """The name to report for an exception (the original type's, for a worker's)."""
    return exc.type_name if isinstance(exc, RemoteError) else type(exc).__name__


def error_details(exc: BaseException) -> str:
    if isinstance(exc, RemoteError) and exc.remote_traceback:
        return exc.remote_traceback.rstrip()
    return "".join(traceback.format_exception(exc)).rstrip()


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


# -- the host's side ----------------------------------------------------------------------------


@dataclass
class Worker:
    """One worker process as the host sees it."""

    number: int  # 2.. (the host process is worker 1)
    process: subprocess.Popen[bytes]
    writer: asyncio.StreamWriter
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    ready: bool = False
    failed: bool = False  # could not load the app
    invocations: int = 0
    next_id: int = 0
    functions: Counter[str] = field(default_factory=Counter)  # invocations, by function
    running: Counter[str] = field(default_factory=Counter)  # in flight, by function

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    async def _call(self, message: dict[str, Any]) -> Any:
        self.next_id += 1
        ident = message["id"] = self.next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        self.invocations += 1
        try:
            self.writer.write(_frame(message))
            await self.writer.drain()
            reply = await future
        finally:
            self.pending.pop(ident, None)
        if not reply["ok"]:
            raise RemoteError(reply["type"], reply["message"], reply.get("traceback", ""))
        return reply

    async def activity(self, name: str, input_text: str | None, client_json: str | None) -> str:
        reply = await self._call(
            {"t": "activity", "name": name, "input": input_text, "client_json": client_json}
        )
        return str(reply["result"])

    async def function(
        self, name: str, kwargs: dict[str, Any], outputs: list[str], context: dict[str, Any] | None
    ) -> tuple[Any, dict[str, Any]]:
        reply = await self._call(
            {"t": "function", "name": name, "kwargs": kwargs, "outputs": outputs, "context": context}
        )
        return reply["result"], reply["outputs"]


class WorkerPool:
    """The host's extra worker processes, and the choice of where each invocation runs."""

    def __init__(self, count: int, app_module: str, data_dir: Path, log_level: int) -> None:
        self.count = count
        self.app_module = app_module
        self.data_dir = data_dir
        self.log_level = log_level
        self.workers: dict[int, Worker] = {}
        self._local_running: Counter[str] = Counter()  # in flight here, by function
        self._turns: Counter[str] = Counter()
        self.local_invocations = 0
        self.local_functions: Counter[str] = Counter()
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._not_picklable: set[str] = set()

    async def start(self) -> None:
        """Start the worker processes; each joins the rotation when it has loaded the app (the
        host does not wait: Azure, too, starts them one after another while it serves)."""
        for number in range(2, self.count + 1):
            await self._spawn(number)

    async def _spawn(self, number: int) -> None:
        host_end, worker_end = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = str(_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        args = [sys.executable, "-m", "local.host.workers", "--fd", str(worker_end.fileno()),
                "--app", self.app_module, "--data", str(self.data_dir), "--number", str(number),
                "--log-level", str(self.log_level)]  # fmt: skip
        # A fork and exec, not a wait: the child loads the app on its own time.
        process = subprocess.Popen(  # noqa: ASYNC220
            args, pass_fds=[worker_end.fileno()], env=env, cwd=os.getcwd()
        )
        worker_end.close()
        reader, writer = await asyncio.open_unix_connection(sock=host_end)
        worker = Worker(number, process, writer)
        self.workers[number] = worker
        task = asyncio.create_task(self._read(worker, reader), name=f"worker-{number}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, worker: Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                message = pickle.loads(await reader.readexactly(_HEADER.unpack(header)[0]))
                kind = message["t"]
                if kind == "done":
                    future = worker.pending.get(message["id"])
                    if future is not None and not future.done():
                        future.set_result(message)
                elif kind == "log":
                    _emit(message["record"])
                elif kind == "ready":
                    worker.ready = True
                    log.info("Worker process %d started (pid %d)", worker.number, worker.process.pid,
                             extra={"event": "worker_started"})  # fmt: skip
                elif kind == "failed":  # not started again: the same app would fail the same way
                    log.error("Worker process %d could not load the app: %s", worker.number, message["error"])
                    worker.failed = True
                    return
        except (asyncio.IncompleteReadError, ConnectionError, EOFError):
            pass
        finally:
            await self._gone(worker)

    async def _gone(self, worker: Worker) -> None:
        worker.ready = False
        for future in worker.pending.values():
            if not future.done():
                message = f"worker process {worker.number} exited during the invocation"
                future.set_result({"ok": False, "type": "WorkerProcessExited", "message": message})
        worker.writer.close()
        if self.workers.get(worker.number) is worker:
            del self.workers[worker.number]
        code = await asyncio.get_running_loop().run_in_executor(None, worker.process.wait)
        if self._closing or worker.failed:
            return
        log.error("Worker process %d (pid %d) exited with %s; starting it again", worker.number,
                  worker.process.pid, code, extra={"event": "worker_exited"})  # fmt: skip
        await asyncio.sleep(_RESPAWN_DELAY_S)
        if not self._closing:
            await self._spawn(worker.number)

    @contextlib.asynccontextmanager
    async def slot(self, function: str | None = None) -> AsyncIterator[Worker | None]:
        """Where the next invocation of `function` runs: a worker process, or None for this one
        (the host's). The process with the fewest invocations *of that function* in flight, ties
        in turn: invocations differ too much in weight (a reconciliation batch against a
        notification batch) for a count of everything in flight to say which process is freer,
        so each function is spread evenly on its own."""
        name = function or "?"
        ready = [w for w in self.workers.values() if w.ready]
        if function in self._not_picklable or not ready:
            candidates: list[Worker | None] = [None]
        else:
            candidates = [None, *sorted(ready, key=lambda w: w.number)]
        turn = self._turns[name]
        self._turns[name] += 1
        order = candidates[turn % len(candidates) :] + candidates[: turn % len(candidates)]
        chosen = min(order, key=lambda w: self._local_running[name] if w is None else w.running[name])
        if chosen is None:
            self._local_running[name] += 1
            self.local_invocations += 1
            self.local_functions[name] += 1
            try:
                yield None
            finally:
                self._local_running[name] -= 1
            return
        chosen.functions[name] += 1
        chosen.running[name] += 1
        try:
            yield chosen
        finally:
            chosen.running[name] -= 1

    def not_picklable(self, function: str, exc: BaseException) -> None:
        """A function whose arguments cannot cross to a worker runs here from now on (said once)."""
        if function not in self._not_picklable:
            self._not_picklable.add(function)
            log.warning("Function '%s' runs in the host process only: its arguments cannot be sent to a "
                        "worker process (%s)", function, exc)  # fmt: skip

    def stats(self) -> list[dict[str, Any]]:
        rows = [
            {
                "number": 1,
                "pid": os.getpid(),
                "invocations": self.local_invocations,
                "host": True,
                "functions": dict(self.local_functions),
            }
        ]
        rows += [{"number": w.number, "pid": w.process.pid, "invocations": w.invocations, "ready": w.ready,
                  "in_flight": w.in_flight,
                  "functions": dict(w.functions)}
                 for w in sorted(self.workers.values(), key=lambda w: w.number)]  # fmt: skip
        return rows

    async def close(self, grace: float = 10.0) -> None:
        self._closing = True
        for row in self.stats():
            log.info("Worker process %d ran %d invocations: %s", row["number"], row["invocations"],
                     ", ".join(f"{k} {v}" for k, v in sorted(row["functions"].items())),
                     extra={"event": "worker_stats"})  # fmt: skip
        workers = list(self.workers.values())
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.writer.write(_frame({"t": "stop"}))
                await worker.writer.drain()
        loop = asyncio.get_running_loop()
        for worker in workers:
            try:
                await asyncio.wait_for(loop.run_in_executor(None, worker.process.wait), grace)
            except TimeoutError:
                worker.process.kill()
                await loop.run_in_executor(None, worker.process.wait)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _emit(record: dict[str, Any]) -> None:
    """A worker's log record, through the host's handlers (filters, format, level)."""
    made = logging.makeLogRecord(record)
    logger = logging.getLogger(made.name)
    if logger.isEnabledFor(made.levelno):
        logger.handle(made)


# -- the worker process's side ------------------------------------------------------------------


class _Channel:
    """The worker's end: a thread reads requests, a thread writes replies and log records (the
    app's threads log too), so neither waits on the event loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, name="worker-writer", daemon=True)
        self.writer.start()

    def send(self, message: dict[str, Any]) -> None:
        self.out.put(_frame(message))

    def _write(self) -> None:
        while (data := self.out.get()) is not None:
            try:
                self.sock.sendall(data)
            except OSError:
                os._exit(1)  # the host is gone

    def read(self) -> Any:
        header = self._exactly(_HEADER.size)
        return None if header is None else pickle.loads(self._exactly(_HEADER.unpack(header)[0]) or b"")

    def _exactly(self, size: int) -> bytes | None:
        chunks, got = [], 0
        while got < size:
            chunk = self.sock.recv(min(size - got, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


class _ForwardHandler(logging.Handler):
    def __init__(self, channel: _Channel) -> None:
        super().__init__()
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = {k: v for k, v in vars(record).items() if k in _STANDARD_LOG_FIELDS}
            data.update({k: _plain(v) for k, v in vars(record).items() if k not in _STANDARD_LOG_FIELDS})
            data["msg"], data["args"] = record.getMessage(), None
            if record.exc_info:
                data["exc_text"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            data["exc_info"] = None
            self.channel.send({"t": "log", "record": data})
        except Exception:  # a log record never fails an invocation
            self.handleError(record)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG (Linux): SIGTERM when the host dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


class _WorkerApp:
    def __init__(self, app_module: str, data_dir: Path, number: int, channel: _Channel) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from local.host.loader import load_app

        self.channel = channel
        self.number = number
        self.app = load_app(app_module)
        self.functions = {spec.name: spec for spec in self.app.functions}
        self.registry: Any = None
        if self.app.uses_durable:
            from local.host.durable import DurableRegistry

            self.registry = DurableRegistry.from_app(self.app.app)
        self.executor = ThreadPoolExecutor(
            max_workers=int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "32")), thread_name_prefix="func"
        )
        from local.host.telemetry import register

        register(data_dir)
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self, message: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(message))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"t": "done", "id": message["id"]}
        try:
            if message["t"] == "activity":
                reply.update(ok=True, result=await self._activity(message))
            else:
                result, outputs = await self._function(message)
                reply.update(ok=True, result=result, outputs=outputs)
            data = _frame(reply)
        except Exception as exc:
            data = _frame({"t": "done", "id": message["id"], "ok": False, "type": type(exc).__name__,
                           "message": str(exc),
                           "traceback": "".join(traceback.format_exception(exc))})  # fmt: skip
        self.channel.out.put(data)

    async def _activity(self, message: dict[str, Any]) -> str:
        activity = self.registry.activity(message["name"]) if self.registry else None
        if activity is None:
            raise LookupError(f"the function '{message['name']}' is not an activity function of this app")
        client = str(message.get("client_json"))
        result = await activity.invoke(message["input"], executor=self.executor, client_json=lambda: client)
        return str(result)

    async def _function(self, message: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        from local.host.aio import call_function
        from local.host.invoke import InvocationContext, OutValue
        from local.host.logs import current_function, current_invocation

        spec = self.functions[message["name"]]
        kwargs = dict(message["kwargs"])
        outputs = {name: OutValue() for name in message["outputs"]}
        kwargs.update(outputs)
        context = message.get("context")
        if context is not None:
            kwargs["context"] = InvocationContext(
                context["invocation_id"], spec.name, str(self.app.root), context.get("traceparent")
            )
        if spec.parameters:
            kwargs = {k: v for k, v in kwargs.items() if k in spec.parameters}
        fn_token = current_function.set(spec.name)
        inv_token = current_invocation.set((context or {}).get("invocation_id"))
        try:
            with _trace_parent((context or {}).get("traceparent")):
                result = await call_function(spec.func, kwargs, self.executor)
        finally:
            current_invocation.reset(inv_token)
            current_function.reset(fn_token)
        return result, {name: value.get() for name, value in outputs.items()}


@contextlib.contextmanager
def _trace_parent(traceparent: str | None) -> Any:
    """The host's invocation span as the parent of the app's spans here (the worker attaches the
    host's trace context before it calls the function)."""
    if not traceparent:
        yield
        return
    from opentelemetry import context as otel_context

    from shared.telemetry.context import parent_from

    parent = parent_from({"traceparent": traceparent})
    if parent is None:
        yield
        return
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.host.workers",
        description="A language worker process of the local Functions host (started by the host "
        "when FUNCTIONS_WORKER_PROCESS_COUNT > 1; not run by hand).",
    )
    parser.add_argument("--fd", type=int, required=True, help="the socket to the host")
    parser.add_argument("--app", required=True, help="the app module (as the host's --app)")
    parser.add_argument("--data", required=True, help="the host's data folder (telemetry files)")
    parser.add_argument("--number", type=int, required=True, help="this worker's number (2..10)")
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    args = parser.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the host's to handle
    channel = _Channel(socket.socket(fileno=args.fd))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    from local.host.logs import InvocationFilter

    handler = _ForwardHandler(channel)
    handler.addFilter(InvocationFilter())
    root.addHandler(handler)
    root.setLevel(args.log_level)
    for noisy in ("uvicorn.access", "uvicorn.error", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return asyncio.run(_serve(args, channel))


async def _serve(args: argparse.Namespace, channel: _Channel) -> int:
    from local.host.host import _fresh_durable_client_session

    _fresh_durable_client_session()
    try:
        worker = _WorkerApp(args.app, Path(args.data), args.number, channel)
    except Exception as exc:
        channel.send({"t": "failed", "error": f"{type(exc).__name__}: {exc}"})
        channel.out.put(None)
        channel.writer.join(5)
        return 1
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def read() -> None:
        while True:
            try:
                message = channel.read()
            except (OSError, EOFError, pickle.UnpicklingError):
                message = None
            if message is None or message.get("t") == "stop":
                loop.call_soon_threadsafe(stopped.set)
                return
            loop.call_soon_threadsafe(worker.start, message)

    channel.send({"t": "ready", "pid": os.getpid()})
    threading.Thread(target=read, name="worker-reader", daemon=True).start()
    await stopped.wait()
    if worker.tasks:  # a stop after the host's grace period: what still runs is abandoned
        for task in list(worker.tasks):
            task.cancel()
        await asyncio.gather(*worker.tasks, return_exceptions=True)
    from local.host.telemetry import flush

    flush()
    channel.out.put(None)
    channel.writer.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())

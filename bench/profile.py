"""Sampling a process with py-spy (`pip install py-spy`; optional) while a bench case runs.

    with Profile(pid) as profile:
        ...                        # the work to profile
    profile.top(10)                # [(function (file:line), share of samples), ...]

py-spy records raw collapsed stacks ("frame;frame;leaf count"); the share of a function is the
share of samples in which it is the innermost frame (self CPU, idle threads excluded). Without
py-spy (or without the right to attach) the profile is empty and says why.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import TracebackType


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profile:
    """One py-spy per process (`pid`, or a list: the host and its worker processes), their samples
    pooled in `top` (py-spy's own --subprocesses did not sample the host's worker processes)."""

    def __init__(self, pid: int | list[int] | None, rate: int = 50) -> None:
        self.pids = [] if pid is None else [pid] if isinstance(pid, int) else list(pid)
        self.rate = rate
        folder = Path(tempfile.mkdtemp(prefix="cts-profile-"))
        self.raws = [folder / f"stacks-{p}.txt" for p in self.pids] or [folder / "stacks.txt"]
        self.raw = self.raws[0]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.problem: str | None = None

    def __enter__(self) -> Profile:
        exe = _py_spy()
        if exe is None or not self.pids:
            self.problem = "py-spy is not installed" if exe is None else "no process to profile"
            return self
        for pid, raw in zip(self.pids, self.raws, strict=True):
            self.processes.append(subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(self.rate),
                 "--nonblocking", "--output", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ))  # fmt: skip
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        errors = []
        for process in self.processes:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for process in self.processes:
            try:
                _, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            errors.append((err or b"").decode(errors="replace").strip())
        if self.processes and not any(raw.exists() for raw in self.raws):
            self.problem = " / ".join(e for e in errors if e)[-300:] or "py-spy wrote nothing"

    def top(self, n: int = 10, *, inclusive: bool = False) -> list[tuple[str, float]]:
        """The `n` functions with the largest share of samples: as the innermost frame (self
        CPU), or anywhere on the stack (`inclusive`: the time spent in them and their callees)."""
        lines = [
            line for raw in self.raws if raw.exists() for line in raw.read_text(errors="replace").splitlines()
        ]
        if not lines:
            return []
        hits: Counter[str] = Counter()
        total = 0
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            stack = _without_process(stack)
            if not stack:
                continue
            frames = stack.split(";")
            names = {_short(f) for f in frames[1:]} if inclusive else {_short(frames[-1])}
            for name in names:
                hits[name] += int(count)
            total += int(count)
        return [(name, h / total) for name, h in hits.most_common(n)] if total else []


def _without_process(stack: str) -> str:
    """With --subprocesses py-spy puts `process PID:"command line"` first; the command line (the
    host's settings, with ';' in them) is neither a frame nor anything to print."""
    if not stack.startswith("process "):
        return stack
    end = stack.find('";')
    return stack[end + 2 :] if end >= 0 else ""


def _short(frame: str) -> str:
    """'func (/long/path/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")")
    parts = Path(path.split(":")[0]).parts
    line = path.rpartition(":")[2]
    return f"{name} ({'/'.join(parts[-2:])}:{line})" if parts else name

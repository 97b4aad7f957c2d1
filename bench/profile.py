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
    def __init__(self, pid: int | None, rate: int = 50) -> None:
        self.pid, self.rate = pid, rate
        self.raw = Path(tempfile.mkdtemp(prefix="cts-profile-")) / "stacks.txt"
        self.process: subprocess.Popen[bytes] | None = None
        self.problem: str | None = None

    def __enter__(self) -> Profile:
        exe = _py_spy()
        if exe is None or self.pid is None:
            self.problem = "py-spy is not installed" if exe is None else "no process to profile"
            return self
        self.process = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(self.rate),
             "--nonblocking", "--output", str(self.raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if not self.raw.exists():
            self.problem = (err or b"").decode(errors="replace").strip()[-300:] or "py-spy wrote nothing"

    def top(self, n: int = 10, *, inclusive: bool = False) -> list[tuple[str, float]]:
        """The `n` functions with the largest share of samples: as the innermost frame (self
        CPU), or anywhere on the stack (`inclusive`: the time spent in them and their callees)."""
        if not self.raw.exists():
            return []
        hits: Counter[str] = Counter()
        total = 0
        for line in self.raw.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            names = {_short(f) for f in frames[1:]} if inclusive else {_short(frames[-1])}
            for name in names:
                hits[name] += int(count)
            total += int(count)
        return [(name, h / total) for name, h in hits.most_common(n)] if total else []


def _short(frame: str) -> str:
    """'func (/long/path/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")")
    parts = Path(path.split(":")[0]).parts
    line = path.rpartition(":")[2]
    return f"{name} ({'/'.join(parts[-2:])}:{line})" if parts else name

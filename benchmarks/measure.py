"""Running a child process and measuring it from outside: wall time and the peak memory of its
whole process tree.

The tree's resident memory is sampled from /proc ten times a second (every descendant a step
might start counts, which the child's own getrusage cannot see); where /proc is missing the
peak falls back to the largest single process os.wait4 reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_mib: float
    output: dict


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants right now."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _rss(current)
        todo += _children(current)
    return total


def run_child(module: str, args: list[str], env: dict[str, str], label: str) -> Measured:
    """Run `python -m module args` in `env`; its last stdout line must be JSON."""
    began = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", module, *args], cwd=PROJECT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(child.pid))
            done.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(child.stderr or []), daemon=True)
    reader.start()
    stdout = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    reader.join(timeout=5)
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    if os.waitstatus_to_exitcode(status) != 0 or not lines:
        tail = "".join(stderr[-30:])
        raise RuntimeError(f"{label}: the child failed (exit {status}):\n{tail}")
    peak_bytes = peak[0] or usage.ru_maxrss * 1024
    return Measured(wall, peak_bytes / 2**20, json.loads(lines[-1]))

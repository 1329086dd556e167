"""CPU and memory of the bench's processes, read from /proc.

Other people's processes share these 2 cores: :class:`CpuMeter` tells the bench's own CPU from
everything else's.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from bench.harness.database import database_pids

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/PID/task/*/children)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children(current)
    return tree


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(roots: dict[str, int]) -> dict[str, dict[int, int]]:
    """VmRSS (KiB) of every process of each named tree: ``{"gunicorn": {pid: kib}, ...}``."""
    return {
        name: {pid: rss_kib(pid) for pid in process_tree(root)} for name, root in roots.items()
    }


def total_kib(memory: dict[str, dict[int, int]], tree: str) -> int:
    return sum(memory.get(tree, {}).values())


def describe_memory(memory: dict[str, dict[int, int]]) -> str:
    """``gunicorn 183.4 MiB (pid: MiB, ...); celery ...``"""
    parts = []
    for tree, pids in memory.items():
        each = ", ".join(f"{pid}: {kib / 1024:.1f}" for pid, kib in pids.items())
        parts.append(f"{tree} {total_kib(memory, tree) / 1024:.1f} MiB ({each})")
    return "; ".join(parts)


def machine_jiffies() -> int:
    """Busy jiffies of all CPUs since boot (user, nice, system, irq, softirq; not steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[0:3]) + fields[5] + fields[6]


def steal_jiffies() -> int:
    """Jiffies the hypervisor gave to other guests while this one wanted to run."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])


def process_jiffies(pid: int) -> int:
    """utime + stime of ``pid`` (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def redis_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "redis-server":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU used during a span by each of the bench's own processes and by everything else.

    Groups: the named process trees (``gunicorn`` and ``celery``), ``postgres`` (the bench
    database's backends and PostgreSQL's writer processes), ``redis``, ``loadgen`` (this
    process and its waited-for children, i.e. wrk). ``other`` is whatever else ran on the
    machine meanwhile: when it is more than a few percent of a core, the span's numbers are
    not clean. ``steal`` is CPU time the hypervisor gave to other virtual machines. Values are
    CPU seconds; :meth:`stop` also gives percent of one core.
    """

    GROUPS = ("gunicorn", "celery", "postgres", "redis", "loadgen")

    def __init__(self, roots: dict[str, int], profiler_pids: list[int] | None = None) -> None:
        self.roots = roots  # {"gunicorn": pid, "celery": pid}
        #: A profiler's processes (py-spy): neither "ours" nor "other".
        self.profiler_pids = profiler_pids or []

    def _sample(self) -> dict[str, dict[int, int]]:
        groups = {
            name: {pid: process_jiffies(pid) for pid in process_tree(root)}
            for name, root in self.roots.items()
        }
        groups["postgres"] = {pid: process_jiffies(pid) for pid in database_pids()}
        groups["redis"] = {pid: process_jiffies(pid) for pid in redis_pids()}
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        groups["loadgen"] = {0: round(seconds * CLOCK_TICKS)}
        groups["profiler"] = {pid: process_jiffies(pid) for pid in self.profiler_pids}
        return groups

    def start(self) -> None:
        self._start = self._sample()
        self._machine = machine_jiffies()
        self._steal = steal_jiffies()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group, plus ``ours``, ``other`` and ``machine`` and, for each of
        those, ``*_pct`` (percent of one core over the span) and ``wall``."""
        busy = machine_jiffies()
        wall = time.monotonic() - self._wall
        end = self._sample()
        result: dict[str, float] = {"wall": wall}
        for group in (*self.GROUPS, "profiler"):
            before = self._start.get(group, {})
            jiffies = sum(max(0, j - before.get(pid, 0)) for pid, j in end.get(group, {}).items())
            result[group] = jiffies / CLOCK_TICKS
        result["ours"] = sum(result[group] for group in self.GROUPS)
        result["machine"] = (busy - self._machine) / CLOCK_TICKS
        result["other"] = max(0.0, result["machine"] - result["ours"] - result["profiler"])
        result["steal"] = (steal_jiffies() - self._steal) / CLOCK_TICKS
        for key in (*self.GROUPS, "profiler", "ours", "other", "machine", "steal"):
            result[f"{key}_pct"] = 100 * result[key] / wall
        return result

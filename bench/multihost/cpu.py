"""CPU during the load: the run's own processes against everything else on the machine.

Other people's benchmarks and tests may share these cores; a figure is only worth what the
machine gave it. A thread samples every process's CPU time (``/proc/PID/stat``) every few
seconds; a process counts as the run's when its network namespace is one of the run's (every
program of the run lives in one) or it is the run itself. Time is summed over processes seen
in two consecutive samples, so short-lived processes are missed on both sides.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _jiffies(pid: str) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _steal() -> int:
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])


class CpuMeter:
    def __init__(self, namespaces: list[str], every: float = 5.0) -> None:
        self.inodes = {os.stat(f"/run/netns/{name}").st_ino for name in namespaces}
        self.every = every
        self.ours = self.other = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[str, tuple[bool, int]]:
        sample = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                mine = entry.name == str(os.getpid()) or (
                    os.stat(f"/proc/{entry.name}/ns/net").st_ino in self.inodes
                )
                sample[entry.name] = (mine, _jiffies(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        return sample

    def _run(self) -> None:
        import time

        before, steal, started = self._sample(), _steal(), time.monotonic()
        while not self._stop.wait(self.every):
            now = self._sample()
            for pid, (mine, jiffies) in now.items():
                if pid in before:
                    delta = max(0, jiffies - before[pid][1])
                    if mine:
                        self.ours += delta
                    else:
                        self.other += delta
            before = now
            self.seconds = time.monotonic() - started
        self.steal = _steal() - steal

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        if not self.seconds:
            return "CPU: not measured (the load was too short)"
        cores = os.cpu_count() or 1
        per = TICKS * self.seconds
        return (
            f"CPU during the load ({cores} cores): the run's processes {self.ours / per:.2f} "
            f"cores, other processes on the machine {self.other / per:.2f} cores, "
            f"steal {self.steal / per:.2f} cores"
        )

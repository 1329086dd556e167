"""The network of the multi-host run: one Linux network namespace per host, and a router.

Each host (``db``, ``broker``, ``web1``, ``web2``, ``worker1``, ``worker2``, ``kakiyo``) gets a
namespace with its own loopback and one veth pair to a router namespace: the host's ``eth0``
is 10.77.N.2/24 and its default route is the router's end, 10.77.N.1. All traffic between
hosts is routed there, and nothing is connected to the machine's own namespace, so the host's
PostgreSQL, Redis and RabbitMQ are never reachable (a namespace's 127.0.0.1 is its own).

Faults act on the router:

- a *cut* between two hosts is a pair of policy rules, ``ip rule add from A to B blackhole``
  and the reverse: the router silently drops what they send each other (no reset, no ICMP,
  as in a real partition), while both keep talking to every other host;
- *latency and loss* between kakiyo and the web hosts is ``tc ... netem`` on kakiyo's link,
  when the kernel has netem (:meth:`Topology.netem_available` says).

Everything is created and removed here; :meth:`Topology.destroy` kills whatever still runs in
the namespaces (all of it started by this run) and deletes them, which deletes the veths.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HOSTS = ("db", "broker", "web1", "web2", "worker1", "worker2", "kakiyo")
PREFIX = "kmh"  # namespaces are kmh<pid of the run>-<host>
BLACKHOLE = ("blackhole", "pref", "100")
NETEM = "delay 80ms 20ms loss 2%"  # what --impair asks of netem, both ways


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def address(host: str) -> str:
    return f"10.77.{HOSTS.index(host) + 1}.2"


class Topology:
    def __init__(self, run_id: int | None = None) -> None:
        self.run_id = run_id if run_id is not None else os.getpid()
        self.impaired = False

    def ns(self, host: str) -> str:
        return f"{PREFIX}{self.run_id}-{host}"

    @property
    def router(self) -> str:
        return self.ns("router")

    def namespaces(self) -> list[str]:
        return [self.ns(host) for host in HOSTS] + [self.router]

    def create(self) -> None:
        for name in self.namespaces():
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        ip("netns", "exec", self.router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        for number, host in enumerate(HOSTS, start=1):
            ns = self.ns(host)
            ip(
                "link",
                "add",
                "eth0",
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                "name",
                host,
                "netns",
                self.router,
            )
            ip("-n", ns, "addr", "add", f"10.77.{number}.2/24", "dev", "eth0")
            ip("-n", self.router, "addr", "add", f"10.77.{number}.1/24", "dev", host)
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", self.router, "link", "set", host, "up")
            ip("-n", ns, "route", "add", "default", "via", f"10.77.{number}.1")

    def exec_prefix(self, host: str) -> list[str]:
        """The command prefix that runs a program on ``host``."""
        return ["ip", "netns", "exec", self.ns(host)]

    def pids(self, host: str) -> list[int]:
        result = ip("netns", "pids", self.ns(host), check=False)
        return [int(pid) for pid in result.stdout.split()]

    # -- faults --------------------------------------------------------------------------

    def _rules(self, action: str, a: str, b: str) -> list[list[str]]:
        """``ip rule`` commands that add or delete the blackhole between ``a`` and ``b``."""
        return [
            [
                "-n",
                self.router,
                "rule",
                action,
                "from",
                address(src),
                "to",
                address(dst),
                *BLACKHOLE,
            ]
            for src, dst in ((a, b), (b, a))
        ]

    def cut_command(self, a: str, b: str) -> str:
        """:meth:`cut` as one shell command, for a helper that picks the moment."""
        return " && ".join(shlex.join(["ip", *args]) for args in self._rules("add", a, b))

    def cut(self, a: str, b: str) -> None:
        """Drop everything between hosts ``a`` and ``b``, both ways, at the router."""
        for args in self._rules("add", a, b):
            ip(*args)

    def heal(self, a: str, b: str) -> None:
        for args in self._rules("del", a, b):
            ip(*args, check=False)

    def netem_available(self) -> tuple[bool, str]:
        """Try netem on the router's loopback: (works, tc's answer when it does not)."""
        args = ["netns", "exec", self.router, "tc", "qdisc"]
        result = subprocess.run(
            ["ip", *args, "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            return False, (result.stderr or result.stdout).strip()
        ip(*args, "del", "dev", "lo", "root", check=False)
        return True, ""

    def impair(self) -> None:
        """netem on both ends of kakiyo's link: kakiyo only talks to the web hosts."""
        for ns, dev in ((self.ns("kakiyo"), "eth0"), (self.router, "kakiyo")):
            ip(
                "netns",
                "exec",
                ns,
                "tc",
                "qdisc",
                "add",
                "dev",
                dev,
                "root",
                "netem",
                *NETEM.split(),
            )
        self.impaired = True

    def unimpair(self) -> None:
        for ns, dev in ((self.ns("kakiyo"), "eth0"), (self.router, "kakiyo")):
            ip("netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)
        self.impaired = False

    # -- teardown ------------------------------------------------------------------------

    def destroy(self) -> None:
        """Kill what still runs in our namespaces (TERM, then KILL), then delete them."""
        existing = set(list_namespaces())
        mine = [name for name in self.namespaces() if name in existing]
        kill_namespace_processes(mine)
        for name in mine:
            ip("netns", "del", name, check=False)


def list_namespaces() -> list[str]:
    result = ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def kill_namespace_processes(namespaces: list[str], grace: float = 5.0) -> None:
    def alive() -> list[int]:
        found: list[int] = []
        for name in namespaces:
            found += [int(p) for p in ip("netns", "pids", name, check=False).stdout.split()]
        return found

    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = alive()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while pids and alive() and time.monotonic() < deadline:
            time.sleep(0.1)


def run_alive(pid: int) -> bool:
    """Whether run ``pid`` is still going (the pid exists and is still this script)."""
    try:
        return b"bench.multihost" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def remove_stale(log: Callable[[str], None] = print) -> None:
    """What a killed earlier run left: its namespaces (and what runs in them), its temporary
    directory (``/tmp/kakiyo-multihost-<pid>-*``)."""
    stale: dict[int, list[str]] = {}
    for name in list_namespaces():
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+", name)
        if match:
            stale.setdefault(int(match.group(1)), []).append(name)
    for pid, names in stale.items():
        if pid != os.getpid() and not run_alive(pid):
            log(f"removing namespaces a killed run {pid} left: {' '.join(sorted(names))}")
            kill_namespace_processes(names)
            for name in names:
                ip("netns", "del", name, check=False)
    for directory in Path(tempfile.gettempdir()).glob("kakiyo-multihost-*-*"):
        owner = directory.name.split("-")[2]
        if owner.isdigit() and int(owner) != os.getpid() and not run_alive(int(owner)):
            log(f"removing the temporary directory a killed run left: {directory}")
            shutil.rmtree(directory, ignore_errors=True)

"""``bin/run-multihost``: the whole multi-host run, from an empty machine back to one.

Phases, each announced on stdout: the network (``topology``), the db and broker hosts, the
schema (``migrate`` from web1), web1/web2 (gunicorn), worker1/worker2 (Celery; beat with the
sweeper on worker2) and a cron on each web host (``kakiyo_import_spool``, as the README
advises); then the load (``sender`` on the kakiyo host) with the faults of ``faults``; the
drain (until every acknowledged delivery is processed and nothing is pending or spooled,
then a grace period to catch late doubles); the verdict (``check``, on the db host); and
teardown, which also runs on failure and Ctrl-C: programs stopped, namespaces deleted, the
temporary directory removed, its logs and the sender's records copied first to
``bench/results/multihost-<time>-<broker>/`` (git-ignored).

Exit status: the check's (0 only when A = S = P and L = D = O = X = 0); 2 when the run itself
could not be carried out.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from . import SECRET, backends, faults, services
from .backends import Postgres
from .cpu import CpuMeter
from .services import REPO, Program, flags, run_on
from .topology import HOSTS, NETEM, Topology, address, remove_stale


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.profile = faults.QUICK if args.quick else faults.FULL
        if args.rate:
            self.profile = dataclasses.replace(self.profile, rate=args.rate)
        self.started = time.monotonic()
        self.topo = Topology()
        self.root = Path(tempfile.mkdtemp(prefix=f"kakiyo-multihost-{os.getpid()}-"))
        self.root.chmod(0o755)  # the postgres user reaches its data directory through it
        (self.root / "logs").mkdir()
        self.postgres = Postgres(self.topo, self.root)
        self.programs: dict[str, Program] = {}
        self.sender: Program | None = None
        self.netem = False
        self.records = self.root / "kakiyo" / "deliveries.jsonl"
        self.fault_log = self.root / "kakiyo" / "faults.json"  # the faults as they happened
        self.phases: list[tuple[str, float]] = []
        self.print_lock = threading.Lock()
        self.windows: list[dict[str, object]] = []  # the faults as they happened (wall clock)

    def log(self, message: str) -> None:
        with self.print_lock:  # the sender's lines come from another thread
            sys.stdout.write(f"[{time.monotonic() - self.started:6.1f}s] {message}\n")
            sys.stdout.flush()

    def phase(self, name: str) -> None:
        self.phases.append((name, time.monotonic()))
        self.log(f"== {name}")

    def env(self, host: str) -> dict[str, str]:
        p = self.profile
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.root / host),
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "bench.multihost.settings",
            "MH_HOST": host,
            "MH_DATABASE_URL": self.postgres.url,
            "MH_BROKER_URL": backends.broker_url(self.args.broker),
            "MH_REQUEUE_AFTER": str(p.requeue_after),
            "MH_PROCESSING_TIMEOUT": str(p.processing_timeout),
            "MH_SWEEP_INTERVAL": str(p.sweep),
            "MH_VISIBILITY_TIMEOUT": str(p.visibility),
            "MH_RECEIVER_WORK": str(p.receiver_work),
        }
        if host.startswith("web"):
            env["MH_SPOOL_DIR"] = str(self.root / host / "spool")
        return env

    def start(self, program: Program) -> Program:
        self.programs[f"{program.host}-{program.name}"] = program
        program.start()
        return program

    # -- phases --------------------------------------------------------------------------

    def setup(self) -> None:
        p, broker = self.profile, self.args.broker
        self.phase(f"setup: {len(HOSTS)} hosts in network namespaces, broker {broker}")
        remove_stale(self.log)
        for host in HOSTS:
            (self.root / host).mkdir(exist_ok=True)
        self.topo.create()
        self.netem, why = self.topo.netem_available()
        if self.netem:
            self.log(f"netem: available; the latency/loss fault is tc netem {NETEM}")
        else:
            why = f"netem: NOT AVAILABLE in this kernel ({why})"
            self.log(f"{why}; the latency/loss fault is emulated in the sender instead")
        self.log(
            f"hosts: {', '.join(f'{h} {address(h)}' for h in HOSTS)}; cuts are router "
            "blackhole rules (ip rule), silent both ways"
        )
        self.log(
            f"timeouts: REQUEUE_AFTER {p.requeue_after} s, PROCESSING_TIMEOUT "
            f"{p.processing_timeout} s, sweeper every {p.sweep} s"
            + (f", Redis visibility_timeout {p.visibility} s" if broker == "redis" else "")
            + f", kakiyo_import_spool every {p.cron} s on each web host; receivers take "
            f"{p.receiver_work * 1000:.0f} ms"
        )
        broker_env = self.env("broker")
        self.start(backends.broker_program(self.topo, broker, self.root, broker_env))
        self.postgres.init()
        self.postgres.start()
        self.postgres.psql("CREATE DATABASE kakiyo")
        self.log("db: PostgreSQL 15 up (initdb by postgres, track_commit_timestamp on)")
        backends.wait_broker(self.topo, broker, self.root, broker_env)
        self.log(f"broker: {broker} up at {backends.broker_url(broker)}")
        run_on(
            self.topo,
            "web1",
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            env=self.env("web1"),
        )
        self.log("schema migrated (from web1)")
        for host in ("web1", "web2"):
            self.start(services.web_program(self.topo, host, self.env(host), self.root / "logs"))
            importer = f"{sys.executable} manage.py kakiyo_import_spool"
            cron = f"while true; do sleep {p.cron}; {importer}; done"
            argv = ["sh", "-c", cron]
            self.start(
                Program(self.topo, host, "spool-cron", argv, self.env(host), self.root / "logs")
            )
        for host in ("worker1", "worker2"):
            self.start(
                services.worker_program(self.topo, host, self.env(host), self.root / "logs")
            )
        self.start(services.beat_program(self.topo, "worker2", self.env("worker2"), self.root))
        for host in ("web1", "web2"):
            services.probe_tcp(self.topo, "kakiyo", address(host), services.WEB_PORT, 60)
        for host in ("worker1", "worker2"):
            ready = functools.partial(services.worker_ready, self.programs[f"{host}-celery"])
            services.wait_for(f"{host}'s worker", ready, 60)
        self.log("web1, web2 (gunicorn), worker1, worker2 (Celery), beat on worker2: up")

    def restart_worker2(self) -> None:
        for name in ("worker2-celery", "worker2-beat"):
            self.programs[name].forget()
        self.start(
            services.worker_program(self.topo, "worker2", self.env("worker2"), self.root / "logs")
        )
        self.start(services.beat_program(self.topo, "worker2", self.env("worker2"), self.root))

    def load(self) -> None:
        p = self.profile
        self.phase(
            f"load: {p.rate}/s for {p.duration} s over {p.prospects} prospects "
            "(one event at a time each), spread over web1 and web2"
        )
        options = flags(rate=p.rate, duration=p.duration, prospects=p.prospects, secret=SECRET)
        argv = [
            sys.executable,
            "-m",
            "bench.multihost.sender",
            *options,
            "--out",
            str(self.records),
        ]
        for host in ("web1", "web2"):
            argv += ["--target", f"{address(host)}:{services.WEB_PORT}"]
        env = self.env("kakiyo")
        self.sender = Program(self.topo, "kakiyo", "sender", argv, env, self.root / "logs")
        self.sender.proc = subprocess.Popen(
            self.topo.exec_prefix("kakiyo") + argv,
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Thread(target=self._forward_sender, daemon=True).start()
        meter = CpuMeter(self.topo.namespaces())
        meter.start()
        faults.play(self, p.timeline, time.monotonic())
        self.fault_log.write_text(json.dumps(self.windows))
        code = self.sender.proc.wait()
        self.log(meter.stop())
        if code != 0:
            raise SystemExit(f"the sender failed (exit {code}); see {self.sender.log_path}")

    def _forward_sender(self) -> None:
        assert self.sender is not None and self.sender.proc is not None
        assert self.sender.proc.stdout is not None
        with open(self.sender.log_path, "ab") as log:
            for line in self.sender.proc.stdout:
                log.write(line)
                self.log("kakiyo: " + line.decode(errors="replace").rstrip())

    def check(self, *extra: str) -> subprocess.CompletedProcess[str]:
        options = flags(records=self.records, dsn=self.postgres.local_dsn, faults=self.fault_log)
        argv = [*self.topo.exec_prefix("db"), sys.executable, "-m", "bench.multihost.check"]
        return subprocess.run(
            [*argv, *options, *extra], cwd=REPO, text=True, capture_output=True, env=self.env("db")
        )

    def spooled(self) -> int:
        return sum(
            len(list((self.root / h / "spool").glob("*.delivery.json")))
            for h in ("web1", "web2")
            if (self.root / h / "spool").is_dir()
        )

    def drain(self) -> None:
        p = self.profile
        self.phase(f"drain: until every acknowledged delivery is processed (at most {p.drain} s)")
        deadline, last, grace = time.monotonic() + p.drain, "", 2 * p.sweep + 2
        while time.monotonic() < deadline:
            result = self.check("--progress")
            state = result.stdout.strip() or result.stderr.strip()[-300:]
            state += f" spooled files: {self.spooled()}"
            if state != last:
                self.log(f"drain: {state}")
                last = state
            if result.returncode == 0:
                counts = json.loads(result.stdout)
                done = counts["acked_processed"] == counts["acked"] and not counts["pending"]
                if done and not self.spooled():
                    self.log(f"drained; {grace} s more to catch any late second processing")
                    time.sleep(grace)
                    return
            time.sleep(1)
        self.log("drain: TIMED OUT; the verdict below counts what is still unprocessed as lost")

    def verdict(self) -> tuple[int, str]:
        self.phase("verdict: from the sender's records, the receivers' table, the events' keys")
        result = self.check()
        if result.stderr.strip():
            print(result.stderr, file=sys.stderr)
        return result.returncode if result.stdout.strip() else 2, result.stdout

    def teardown(self) -> None:
        self.phase("teardown")
        for program in [self.sender, *reversed(list(self.programs.values()))]:
            if program is not None and program.proc is not None:
                try:
                    program.stop(timeout=15)
                except Exception as error:
                    self.log(f"stopping {program.host} {program.name}: {error!r}")
        try:
            self.postgres.stop("fast")
        except BaseException as error:
            self.log(f"stopping PostgreSQL: {error}")
        self.topo.destroy()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        saved = REPO / "bench" / "results" / f"multihost-{stamp}-{self.args.broker}"
        try:
            shutil.copytree(self.root / "logs", saved)
            for kept in (self.records, self.fault_log):
                if kept.exists():
                    shutil.copy(kept, saved)
            self.log(f"logs and sender records kept in {saved.relative_to(REPO)}")
        except OSError as error:
            self.log(f"could not keep the logs: {error}")
        shutil.rmtree(self.root, ignore_errors=True)
        left = [name for name in self.topo.namespaces() if Path(f"/run/netns/{name}").exists()]
        self.log(
            "namespaces removed, temporary directory removed"
            if not left
            else f"NAMESPACES LEFT: {left}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bin/run-multihost", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI size: under 3 minutes, every fault once, about 1,300 deliveries",
    )
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--rate", type=float, help="deliveries per second (overrides the profile)")
    args = parser.parse_args()
    problem = "" if os.geteuid() == 0 else "it needs root (it creates network namespaces)"
    if not problem and (missing := backends.missing_tools(args.broker)):
        problem = f"missing on this machine: {', '.join(missing)}"
    if problem:
        print(f"bin/run-multihost: {problem}", file=sys.stderr)
        sys.exit(2)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    run = Run(args)
    code, summary = 2, ""
    try:
        run.setup()
        run.load()
        run.drain()
        code, summary = run.verdict()
        print(summary, end="", flush=True)
        run.log(services.worker_log_summary(run.root / "logs"))
    except (KeyboardInterrupt, SystemExit) as error:
        run.log(f"STOPPED: {error or 'interrupted'}")
    except Exception:
        run.log("FAILED:\n" + traceback.format_exc())
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        run.teardown()
    marks = [*run.phases, ("end", time.monotonic())]
    spans = ", ".join(
        f"{a[0].split(':')[0]} {b[1] - a[1]:.0f} s" for a, b in itertools.pairwise(marks)
    )
    print(f"wall time {time.monotonic() - run.started:.0f} s ({spans})")
    if summary:
        print(summary.splitlines()[0])
    sys.exit(code)


if __name__ == "__main__":
    main()

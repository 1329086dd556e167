"""The open-loop paced sender: request k is due at t0 + k/rate, whatever became of the others.

Each due request goes to the first free of ``senders`` threads, each with its own keep-alive
connection, and its latency counts from when it was due, so a stall shows up as latency
instead of as a slower rate (wrk's closed loop cannot hold a fixed rate).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any, NamedTuple

from bench.harness.deliveries import WEBHOOK_PATH, Connection


class Result(NamedTuple):
    """One request: when it was due, sent and answered (monotonic seconds), how it ended."""

    index: int
    due: float
    start: float
    end: float
    status: int  # 0 when the connection failed
    error: str  # "" when it was answered; else the exception's name, or "duplicate"

    @property
    def latency(self) -> float:
        return self.end - self.due

    @property
    def failed(self) -> bool:
        return self.status != 200 or bool(self.error)

    @property
    def outcome(self) -> str:
        """The status code, or what went wrong instead of an answer."""
        return str(self.status) if self.status else self.error


class Sender(threading.Thread):
    """Takes due requests off the queue and sends each on its own keep-alive connection."""

    def __init__(
        self, port: int, jobs: queue.Queue[Any], results: list[Result], path: str, timeout: float
    ) -> None:
        super().__init__(daemon=True)
        self.connection = Connection(port, timeout)
        self.path = path
        self.jobs = jobs
        self.results = results

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            index, due, signature, body = job
            start = time.monotonic()
            status, answer, error = self.connection.post(self.path, body, signature)
            if status == 200:
                try:
                    if json.loads(answer).get("duplicate") is not False:
                        error = "duplicate"
                except ValueError as exc:
                    error = type(exc).__name__
            self.results.append(Result(index, due, start, time.monotonic(), status, error))
        self.connection.close()


def run_load(
    port: int,
    deliveries: list[tuple[str, bytes]],
    rate: float,
    senders: int,
    t0: float,
    path: str = WEBHOOK_PATH,
    timeout: float = 30,
) -> list[Result]:
    """Send every delivery, the k-th due at ``t0 + k/rate``; one :class:`Result` each."""
    jobs: queue.Queue[Any] = queue.Queue()
    results: list[Result] = []
    threads = [Sender(port, jobs, results, path, timeout) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for index, (signature, body) in enumerate(deliveries):
        due = t0 + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((index, due, signature, body))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return results

"""Kakiyo, for the multi-host run: signed deliveries to web1 and web2, retried as Kakiyo does.

Runs on the ``kakiyo`` host. Each prospect is a chain: its next event is sent only once the
previous one got its 2xx (or was given up); many prospects run in parallel, drawing send
slots from one pace of ``--rate`` per second. Each delivery is signed with
``django_kakiyo.testing`` (``JSON.stringify`` bytes, hex HMAC-SHA256 in
``X-Kakiyo-Signature``) and carries ``data.seq`` (unique) and ``data.prospectId``.

Like Kakiyo: every attempt waits at most 10 s for an answer; a failed attempt (no answer, a
refused connection, a non-2xx status) is retried after 1, 2 and 4 s, each attempt going to the
next web host in turn (round robin: the load balancer). The webhook counts as *disabled* when
4 failed attempts come in a row (in the order they ended, over all deliveries), or when one
delivery fails all 4 of its attempts; each such moment is counted, and the sender goes on so
the rest of the run is still measured.

Writes one JSON line per finished delivery to ``--out`` (the check reads them) and a progress
line every 10 s. ``SIGUSR1``/``SIGUSR2`` switch the *emulated* impairment on and off, used
only when the kernel has no netem: 80 +- 20 ms added each way, 1 % of requests lost (never
sent; the attempt times out) and 1 % of answers lost (the request is served, the answer
never read; the attempt times out and the delivery is re-sent).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import random
import signal
import time
from typing import Any

# Not django_kakiyo.testing: it needs Django's apps loaded, and the sender runs without Django.
from django_kakiyo.javascript_json import js_stringify_bytes
from django_kakiyo.samples import make_payload, sample_data
from django_kakiyo.signing import SIGNATURE_HEADER, compute_signature

TIMEOUT = 10.0
RETRY_DELAYS = (1.0, 2.0, 4.0)
DISABLE_AFTER = 4
PATH = "/kakiyo/webhook/"
#: A prospect's story; its n-th event has type STORY[n % len(STORY)].
STORY = (
    "linkedin.invitation.sent",
    "linkedin.invitation.accepted",
    "linkedin.message.sent",
    "linkedin.message.received",
    "prospect.responded",
    "prospect.qualification.manual",
    "prospect.qualified",
    "message.sent",
    "linkedin.message.received",
    "connection.accepted",
)
EMULATED = {"delay": 0.08, "jitter": 0.02, "lost_request": 0.01, "lost_answer": 0.01}


class Attempt(Exception):
    """An attempt that failed: the reason, as recorded."""


class Sender:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.targets = itertools.cycle(args.target)
        self.seq = itertools.count(1)
        self.out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115
        self.impaired = False
        self.stopping = False
        self.next_slot = 0.0
        self.pace = asyncio.Lock()
        self.streak = 0  # failed attempts in a row, over all deliveries
        self.disabled: list[dict[str, Any]] = []
        self.counts = {
            "sent": 0,
            "acked": 0,
            "200": 0,
            "202": 0,
            "failed_attempts": 0,
            "given_up": 0,
            "in_flight": 0,
        }

    # -- one attempt ---------------------------------------------------------------------

    async def attempt(
        self, target: str, body: bytes, signature: str
    ) -> tuple[int, dict[str, Any]]:
        try:
            return await asyncio.wait_for(self._attempt(target, body, signature), TIMEOUT)
        except TimeoutError:
            raise Attempt("timeout") from None
        except Exception as error:  # refused, reset, cut short: a failed attempt, as for Kakiyo
            raise Attempt(f"{type(error).__name__}: {error}") from None

    async def _attempt(
        self, target: str, body: bytes, signature: str
    ) -> tuple[int, dict[str, Any]]:
        impaired = self.impaired
        if impaired:
            await asyncio.sleep(one_way_delay())
            if random.random() < EMULATED["lost_request"]:
                await asyncio.sleep(TIMEOUT)  # never arrives: wait_for times it out
        host, port = target.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            head = (
                f"POST {PATH} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: Kakiyo-Webhooks\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"X-Kakiyo-Signature: {signature}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            if impaired and random.random() < EMULATED["lost_answer"]:
                await asyncio.sleep(TIMEOUT)  # served, but the answer never comes back
            status, answer = await read_response(reader)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if impaired:
            await asyncio.sleep(one_way_delay())
        return status, answer

    # -- one delivery --------------------------------------------------------------------

    async def deliver(self, prospect: str, n: int) -> None:
        seq = next(self.seq)
        event_type = STORY[n % len(STORY)]
        data = {**sample_data(event_type, seq), "prospectId": prospect, "seq": seq, "n": n}
        payload = make_payload(event_type, data, team_id="team_multihost")
        body = js_stringify_bytes(payload)
        headers = {SIGNATURE_HEADER: compute_signature(body, self.args.secret)}
        record: dict[str, Any] = {
            "seq": seq,
            "prospect": prospect,
            "n": n,
            "type": event_type,
            "sha256": hashlib.sha256(body).hexdigest(),
            "status": None,
            "answer": None,
            "sent_at": time.time(),
            "acked_at": None,
            "attempts": [],
        }
        self.counts["sent"] += 1
        self.counts["in_flight"] += 1
        for number in range(1 + len(RETRY_DELAYS)):
            if number:
                await asyncio.sleep(RETRY_DELAYS[number - 1])
            target = next(self.targets)
            started = time.time()
            try:
                status, answer = await self.attempt(target, body, headers["X-Kakiyo-Signature"])
                result = str(status) if 200 <= status < 300 else f"HTTP {status}"
            except Attempt as failure:
                status, answer, result = 0, {}, str(failure)
            record["attempts"].append(
                [target, round(started, 3), round(time.time() - started, 3), result]
            )
            if 200 <= status < 300:
                record.update(status=status, answer=answer, acked_at=time.time())
                self.streak = 0
                self.counts["acked"] += 1
                self.counts[str(status)] = self.counts.get(str(status), 0) + 1
                break
            self.counts["failed_attempts"] += 1
            self.streak += 1
            last = number == len(RETRY_DELAYS)
            if self.streak >= DISABLE_AFTER or last:
                why = "4 failed attempts in a row" if self.streak >= DISABLE_AFTER else ""
                why = why or "a delivery failed all 4 attempts"
                self.disabled.append({"seq": seq, "at": time.time(), "why": why})
                print(f"WEBHOOK DISABLED (as Kakiyo would): {why}, seq {seq}", flush=True)
                self.streak = 0
        else:
            self.counts["given_up"] += 1
        self.counts["in_flight"] -= 1
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    # -- the load ------------------------------------------------------------------------

    async def slot(self, deadline: float) -> bool:
        """Wait for the next send slot (one every 1/rate seconds, in the order asked); False
        once sending is over."""
        async with self.pace:
            now = time.monotonic()
            start = max(self.next_slot, now)
            if self.stopping or start >= deadline:
                return False
            self.next_slot = start + 1.0 / self.args.rate
            await asyncio.sleep(start - now)
            return True

    async def chain(self, number: int, deadline: float) -> None:
        prospect = f"mh-p{number:05d}"
        for n in itertools.count():
            if not await self.slot(deadline):
                return
            await self.deliver(prospect, n)

    async def progress(self, start: float) -> None:
        while True:
            await asyncio.sleep(10)
            c = self.counts
            elapsed = time.monotonic() - start
            print(
                f"t={elapsed:4.0f}s sent {c['sent']} acked {c['acked']} (200: {c['200']}, "
                f"202: {c['202']}) failed attempts {c['failed_attempts']} in flight "
                f"{c['in_flight']} ({c['sent'] / elapsed:.1f}/s)"
                + (" [emulated impairment on]" if self.impaired else ""),
                flush=True,
            )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.set_impaired, True)
        loop.add_signal_handler(signal.SIGUSR2, self.set_impaired, False)
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        start = time.monotonic()
        deadline = start + self.args.duration
        reporter = asyncio.create_task(self.progress(start))
        await asyncio.gather(*(self.chain(i, deadline) for i in range(self.args.prospects)))
        reporter.cancel()
        summary = {**self.counts, "disabled": self.disabled, "seconds": time.monotonic() - start}
        self.out.write(json.dumps({"summary": summary}) + "\n")
        self.out.close()
        c = self.counts
        print(
            f"done in {summary['seconds']:.0f}s: sent {c['sent']}, acked {c['acked']} "
            f"(200: {c['200']}, 202: {c['202']}), given up {c['given_up']}, "
            f"failed attempts {c['failed_attempts']}, disabled {len(self.disabled)}",
            flush=True,
        )

    def set_impaired(self, on: bool) -> None:
        self.impaired = on
        print(f"emulated impairment {'on' if on else 'off'}: {EMULATED}", flush=True)

    def stop(self) -> None:
        self.stopping = True


def one_way_delay() -> float:
    return max(0.0, random.gauss(EMULATED["delay"], EMULATED["jitter"]))


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    status_line = await reader.readline()
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"bad status line {status_line[:80]!r}")
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    raw = await (reader.readexactly(length) if length is not None else reader.read())
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {"unparsed": raw[:200].decode("latin-1")}
    return int(parts[1]), answer if isinstance(answer, dict) else {"answer": answer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", action="append", required=True, help="host:port (repeat)")
    parser.add_argument("--rate", type=float, required=True, help="deliveries per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--prospects", type=int, required=True, help="chains in parallel")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--out", required=True, help="JSON lines, one per delivery")
    asyncio.run(Sender(parser.parse_args()).run())


if __name__ == "__main__":
    main()

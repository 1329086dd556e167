"""The brokers the worker tests run on: Redis and RabbitMQ, shared or private.

A test gets a queue of its own on the machine's shared broker (so runs and tests never see
each other's messages), or a private broker it may stop and start (outage tests): a
``redis-server`` or a RabbitMQ node with its own name, ports, data and cookie.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection

from ..services import port_open, require

BROKERS = ["redis", "rabbitmq"]
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_url(kind: str, redis_db: int) -> str:
    if kind == "redis":
        require(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
        return f"redis://127.0.0.1:6379/{redis_db}"
    require(port_open("127.0.0.1", 5672), "RabbitMQ is not running on 127.0.0.1:5672")
    return "amqp://guest:guest@127.0.0.1:5672//"


class Queue:
    """A queue of a test's own on a broker: its messages, and nothing else."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"kakiyo-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def length(self) -> int:
        with Connection(self.url, connect_timeout=5) as conn:
            channel = conn.default_channel
            try:
                return int(channel.queue_declare(self.name, passive=True).message_count)
            except Exception:  # not declared yet: nothing was ever sent to it
                return 0

    def delete(self) -> None:
        try:
            with Connection(self.url, connect_timeout=5) as conn:
                conn.default_channel.queue_delete(self.name)
        except Exception:  # noqa: S110 - the broker may be gone (an outage test stopped it)
            pass


class PrivateRabbit:
    """A RabbitMQ node of the test's own, which it may stop and start."""

    def __init__(self) -> None:
        require((RABBIT_BIN / "rabbitmq-server").exists(), "RabbitMQ is not installed")
        self.home = Path(tempfile.mkdtemp(prefix="kakiyo-rabbit-"))
        self.port = free_port()
        self.node = f"kakiyo{os.getpid()}x{uuid.uuid4().hex[:6]}@localhost"
        self.env = {
            **os.environ,
            "HOME": str(self.home),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.home / "rabbit.pid"),
        }
        (self.home / "rabbitmq.conf").write_text("loopback_users = none\n")
        (self.home / "enabled_plugins").write_text("[].\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        with (self.home / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"RabbitMQ did not start: {(self.home / 'server.log').read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "stop"],
            env=self.env,
            capture_output=True,
            timeout=60,
        )
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

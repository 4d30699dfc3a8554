"""Starts the server under test for the nats-py tests, the way tests/common/mod.rs does.

The binary is $NATS_SERVER_BIN when set, otherwise the debug build of our `nats-server`
($CARGO_TARGET_DIR or <repo>/target). NATS_SERVER_IS_GO=1 says the binary is the Go server.
"""

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LISTEN = re.compile(r"Listening for client connections on 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 10.0


def server_bin() -> str:
    env = os.environ.get("NATS_SERVER_BIN")
    if env:
        return env
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    candidate = target / "debug" / "nats-server"
    if not candidate.exists():
        pytest.fail(f"{candidate} not built; run `cargo build` or set NATS_SERVER_BIN")
    return str(candidate)


def is_go() -> bool:
    return os.environ.get("NATS_SERVER_IS_GO") == "1"


class Server:
    """A running server process; stderr lines are kept in `logs`."""

    def __init__(self, *args: str):
        cmd = [server_bin(), "-a", "127.0.0.1", "-p", "-1", *args]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.logs: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.port = int(self.wait_for_log(LISTEN).group(1))
        self.wait_for_log(re.compile(re.escape("Server is ready")))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.logs.append(line.rstrip("\n"))

    def wait_for_log(self, pattern: re.Pattern, timeout: float = START_TIMEOUT) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for line in self.logs:
                    m = pattern.search(line)
                    if m:
                        return m
                logs = "\n".join(self.logs)
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); logs:\n{logs}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no log line matching {pattern.pattern!r}; logs:\n{logs}")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()

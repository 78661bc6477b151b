"""Start, stop and restart a berth server process for the end-to-end tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REGISTRY_ID = "123456789012"
REGION = "us-east-1"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


class ServerStartError(RuntimeError):
    """Raised when the server exits, or GET /healthz does not return 200, before the deadline."""


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def berth_binary() -> Path:
    """Return $BERTH_BIN, or target/debug/berth when it is not set."""
    configured = os.environ.get("BERTH_BIN")
    if configured:
        return Path(configured)
    return repo_root() / "target" / "debug" / "berth"


def pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_credentials() -> Credentials:
    return Credentials(
        access_key_id="AKIA" + secrets.token_hex(8).upper(),
        secret_access_key=secrets.token_urlsafe(30),
    )


class BerthServer:
    """One `berth serve` process on 127.0.0.1 with its own data directory.

    The port and the data directory stay the same across restarts, so clients
    created before a restart keep working after it.
    """

    def __init__(self, work_dir: Path, extra_args: Sequence[str] = ()) -> None:
        self.extra_args = list(extra_args)
        self.data_dir = work_dir / "data"
        self.log_path = work_dir / "berth.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = pick_free_port()
        self.credentials = new_credentials()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host_port}"

    def command(self) -> list[str]:
        return [
            str(berth_binary()),
            "serve",
            "--listen",
            self.host_port,
            "--data-dir",
            str(self.data_dir),
            "--registry-id",
            REGISTRY_ID,
            "--region",
            REGION,
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start the process and wait until GET /healthz returns 200."""
        if self._process is not None:
            raise RuntimeError("berth is already running")
        env = dict(os.environ)
        env["BERTH_ACCESS_KEY_ID"] = self.credentials.access_key_id
        env["BERTH_SECRET_ACCESS_KEY"] = self.credentials.secret_access_key
        # The output goes to a file that test reports include, so ask for no ANSI colors.
        env["NO_COLOR"] = "1"
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                self.command(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready(self._process)

    def stop(self) -> None:
        """Send SIGTERM, and SIGKILL if the process has not exited after 10 s."""
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop the server and start it again on the same port and data directory."""
        self.stop()
        self.start()

    def log_text(self, offset: int = 0) -> str:
        """Return the server output from byte `offset` on, across all restarts."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _healthz_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/healthz", timeout=2) as response:
                status: int = response.status
                return status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        # Polling is only for readiness: no test asserts anything about timing.
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            exit_status = process.poll()
            if exit_status is not None:
                self._process = None
                raise self._start_error(
                    f"berth exited with status {exit_status} before it was ready"
                )
            if self._healthz_ok():
                return
            time.sleep(0.1)
        self.stop()
        raise self._start_error(
            f"GET /healthz did not return 200 within {READY_TIMEOUT_SECONDS:.0f} s"
        )

    def _start_error(self, reason: str) -> ServerStartError:
        command = " ".join(self.command())
        return ServerStartError(
            f"{reason}\ncommand: {command}\n--- server output ({self.log_path}) ---\n"
            f"{self.log_text(self._log_offset)}"
        )


class ServerFactory:
    """Starts servers of a test's own, for tests that restart or stop them."""

    def __init__(self, make_work_dir: Callable[[], Path]) -> None:
        self._make_work_dir = make_work_dir
        self.servers: list[BerthServer] = []

    def __call__(self, *extra_args: str) -> BerthServer:
        """Start a server with `berth serve` flags added to the usual ones."""
        server = BerthServer(self._make_work_dir(), extra_args)
        self.servers.append(server)
        server.start()
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()

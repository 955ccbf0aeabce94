"""Supervise the fakepve process: a free address, start-up, stop, and signals while it serves."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.errors import ConnectionFailed, DemoError

if TYPE_CHECKING:
    from proxmox_mpc.services.demo.front import Front

PVE_PORT = 8006
START_TIMEOUT = 30.0
_LISTENING = re.compile(r"listening on (?P<url>https://\S+)")


def pick_address(rng: random.Random | None = None) -> tuple[str, int]:
    """Return a free (127.0.0.x, port): PVE's port 8006 on an unused loopback address when possible."""
    rng = rng or random.Random()
    for _ in range(20):
        host = f"127.0.0.{rng.randint(2, 254)}"
        for port in (PVE_PORT, 0):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind((host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRNOTAVAIL:
                        break  # Only 127.0.0.1 is configured here (macOS): fall back to it below.
                    continue
                return host, probe.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return "127.0.0.1", probe.getsockname()[1]


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def start_fakepve(
    guests_file: Path,
    *,
    host: str,
    port: int,
    cert_file: Path,
    key_file: Path,
    time_scale: float,
    log_file: Path,
    user: str,
    password: str,
) -> subprocess.Popen[bytes]:
    """Start `python -m fakepve` serving the guests file over TLS (port 0: any free one), output to log_file."""
    # The password goes through the environment, not argv: `ps` shows argv to every user.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
    env.update({"PVE_USER": user, "PVE_PASS": password})
    command = [
        sys.executable,
        "-m",
        "fakepve",
        str(guests_file),
        "--host",
        host,
        "--port",
        str(port),
        "--cert",
        str(cert_file),
        "--key",
        str(key_file),
        "--time-scale",
        f"{time_scale:g}",
    ]
    log_file.write_bytes(b"")
    # Appending: the demo's front (a thread of this process) adds its lines to the same log.
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches pmpc, which then stops the cluster in order.
        )


def wait_listening(process: subprocess.Popen[bytes], log_file: Path, url: str, timeout: float = START_TIMEOUT) -> str:
    """Return the URL fakepve says it listens on, once it says so.

    Raises:
        DemoError: the process exited during start-up.
        ConnectionFailed: it did not start within the timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = _LISTENING.search(log_file.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            found = None
        if found is not None:
            return found["url"]
        if process.poll() is not None:
            status, tail = process.returncode, _log_tail(log_file)
            raise DemoError(f"The demo cluster exited during start-up (status {status}): {tail}")
        time.sleep(0.05)
    raise ConnectionFailed(f"The demo cluster at {url} did not start within {timeout:g}s: {_log_tail(log_file)}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop the fakepve process (terminate, then kill)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP like Ctrl-C while waiting, so the cluster is stopped, not orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {n: signal.signal(getattr(signal, n), _interrupt) for n in names}
    try:
        yield
    finally:
        for n, handler in previous.items():
            signal.signal(getattr(signal, n), handler)


def wait_until_interrupted(
    process: subprocess.Popen[bytes] | None, log_file: Path | None, front: Front | None = None
) -> None:
    """Block until Ctrl-C (a normal end of `demo serve`); raise if the cluster process or its front dies first.

    Raises:
        DemoError: the fakepve process exited on its own, or the front stopped serving.
    """
    if process is None:
        return
    try:
        with _stop_signals_interrupt():
            while True:
                try:
                    code = process.wait(None if front is None else 0.5)
                    break
                except subprocess.TimeoutExpired:
                    if front is not None and not front.alive:
                        log = _log_tail(log_file) if log_file else ""
                        raise DemoError(f"The demo cluster's front stopped unexpectedly: {log}") from None
    except KeyboardInterrupt:
        return
    log = _log_tail(log_file) if log_file else ""
    raise DemoError(f"The demo cluster stopped unexpectedly (status {code}): {log}")

"""`streamlit run app.py`, headless on a free loopback port, for the browser tests and the benchmarks:
the flags that work on a machine with no screen and no internet (../shared/TESTING.md)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    log=subprocess.DEVNULL, env=None, timeout: float = 60
) -> Iterator[tuple[str, subprocess.Popen]]:
    """(base URL, process) of a Streamlit server running app.py, stopped when the block ends. Its
    output goes to `log` (a file object); raises RuntimeError if it exits or is not healthy in time."""
    port = free_port()
    flags = {
        "server.port": port,
        "server.address": "127.0.0.1",
        "server.headless": "true",
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": "false",
    }
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    cmd += [arg for name, value in flags.items() for arg in (f"--{name}", str(value))]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, timeout)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 60) -> None:
    """Poll the health endpoint until it answers "ok"; fail fast if the process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            if requests.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")

"""Child worker processes: start-up wait and graceful stop (demo, tests, benchmarks)."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request


def wait_for_http(url: str, proc: subprocess.Popen, *, timeout: float = 90) -> None:
    """Wait until ``url`` answers (any HTTP status); fail early if ``proc`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers, with an error status (401 without a token, 503 while catching up)
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop_gracefully(proc: subprocess.Popen, *, timeout: float = 20) -> int:
    """SIGTERM the process we started, SIGKILL only if it outlives ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode

"""Helpers for tests that start a real local service (Streamlit, Alertmanager, …) in a subprocess."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

import pytest


def required(message: str):
    """A real dependency is missing: fail under CI=true, skip elsewhere."""
    from tests.conftest import IN_CI

    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, name: str, log_name: str, seconds: float = 60) -> None:
    """Poll ``url`` until it answers 200; fail the test (killing ``process``) if the process
    exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{name} did not start; see {log_name}")
        time.sleep(0.2)

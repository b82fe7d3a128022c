"""Local services for tests: skip with a reason when one is unreachable, fail under CI.

CI sets SEVENSTEP_REQUIRE_SERVICES=1, so a test that needs PostgreSQL, MariaDB, Redis or
RabbitMQ can never pass there by skipping; on a laptop without them it skips and says why.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest

SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}


def services_required() -> bool:
    return os.environ.get("SEVENSTEP_REQUIRE_SERVICES", "") == "1"


def unavailable(reason: str) -> None:
    """Skip the calling test, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} (SEVENSTEP_REQUIRE_SERVICES=1: services must be running)")
    pytest.skip(reason)


def require_service(name: str, timeout: float = 2.0) -> tuple[str, int]:
    """(host, port) of a reachable local service, else skip (or fail under CI)."""
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        unavailable(f"{name} is not reachable on {host}:{port}: {exc}")
    return host, port


def require_module(name: str):
    """A driver module, else skip (or fail under CI, where it must be installed)."""
    try:
        return __import__(name)
    except ImportError as exc:
        unavailable(f"Python module {name} is not installed: {exc}")


def stop_process_group(process: subprocess.Popen, grace: float = 30) -> None:
    """End a server or worker the test started in its own process group (start_new_session):
    SIGTERM lets it shut down cleanly; one that outlives `grace` seconds is killed."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

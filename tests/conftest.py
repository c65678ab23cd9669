"""Fixtures for the project-wide tests in tests/ (the shared plugin is tests/integration/plugin.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.redis_server import private_redis  # noqa: F401 -- a fixture: a redis-server to stop

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_python():
    """Run ``python -c code`` in a fresh interpreter at the project root with only the given
    environment (plus PATH), as a server would start: → CompletedProcess with text output."""

    def run(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run

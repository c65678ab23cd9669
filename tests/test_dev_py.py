"""dev.py, the newcomer's entry point: its test command hands pytest's verdict back unchanged."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dev(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "dev.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_help_lists_the_commands():
    result = dev("--help")
    assert result.returncode == 0
    for command in ("up", "test", "worker", "demo"):
        assert command in result.stdout


def test_test_passes_arguments_to_pytest_and_returns_its_exit_code():
    # No test matches: pytest's exit code 5, which .ci/run treats as a failure.
    result = dev("test", "tests/test_dev_py.py", "-k", "no_such_test_anywhere", "-p", "no:cacheprovider")
    assert result.returncode == 5, result.stdout[-2000:] + result.stderr[-2000:]
    assert "deselected" in result.stdout

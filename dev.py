#!/usr/bin/env python3
"""Gouvernail's two newcomer commands (needs only Python 3.11+ to start).

    python3 dev.py up      install, migrate, load the demo data, run a Celery worker and the web server
    python3 dev.py test    install and run the whole test suite (extra arguments go to pytest)

and two helpers: ``python3 dev.py worker`` (a worker alone) and ``python3 dev.py demo`` (load the
demo data again). Everything runs on the embedded default unless the environment says otherwise
(DATABASE_URL, CELERY_BROKER_URL, REDIS_URL...: see docs/operations.md).

The virtualenv is .venv; the project is installed with its demo and dev extras, again only when
pyproject.toml changed since the last install (a stamp in var/).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VAR = Path(os.environ.get("GOUVERNAIL_VAR_DIR", ROOT / "var"))
STAMP = VAR / ".install-stamp"
EXTRAS = "demo,dev"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def say(msg: str) -> None:
    print(f"[dev.py] {msg}", flush=True)


def run(cmd: list, **kw) -> None:
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, **kw)


# ---------------------------------------------------------------------------------------------
# Installing


def install_fingerprint() -> str:
    """What the installed environment depends on: pyproject.toml, the extras and the interpreter."""
    h = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    h.update(EXTRAS.encode())
    h.update(str(PY.resolve() if PY.exists() else "").encode())
    return h.hexdigest()


def ensure_installed() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 the machine has
        sys.exit(f"Gouvernail needs Python 3.11 or newer (this is {sys.version.split()[0]}).")
    if not PY.exists():
        say(f"creating the virtualenv {VENV}")
        try:
            run([sys.executable, "-m", "venv", VENV])
        except subprocess.CalledProcessError:
            sys.exit(
                "could not create .venv: on Debian/Ubuntu install the venv module first "
                "(apt-get install python3-venv), then run this again."
            )
    if STAMP.exists() and STAMP.read_text().strip() == install_fingerprint():
        return
    say(f'installing the project and its dependencies (pip install -e ".[{EXTRAS}]"); a few minutes')
    quiet = [] if os.environ.get("CI") else ["--quiet"]
    run([PY, "-m", "pip", "install", *quiet, "--disable-pip-version-check", "-e", f".[{EXTRAS}]"])
    VAR.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(install_fingerprint() + "\n")


def manage(*args: str) -> None:
    run([PY, "manage.py", *args])


def load_demo() -> str:
    """Load the demo data (idempotent); → the block of demo logins and API tokens it printed."""
    out = subprocess.run(
        [str(PY), "manage.py", "load_demo"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    print(out.stdout, end="", file=sys.stdout)
    print(out.stderr, end="", file=sys.stderr)
    return out.stdout[out.stdout.find("Demo logins") :] if "Demo logins" in out.stdout else ""


# ---------------------------------------------------------------------------------------------
# Running


def free_port(host: str, start: int) -> int:
    """The first port from start on that nobody listens on (another checkout may hold 8000)."""
    for port in range(start, start + 50):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    sys.exit(f"no free port between {start} and {start + 49} on {host}")


def wait_http(url: str, procs: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a process stopped during start-up (see its output above)")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local server
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the web server did not answer at {url} within {timeout:.0f} s")


def start(cmd: list, name: str) -> subprocess.Popen:
    say(f"starting the {name}: {' '.join(str(c) for c in cmd)}")
    # Each in its own process group so that Ctrl-C reaches them through us, in order.
    return subprocess.Popen([str(c) for c in cmd], cwd=ROOT, start_new_session=True)


def stop_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            # To the main process only: Celery's warm shutdown lets running tasks finish and stops
            # its own pool (a signal to the whole group kills the pool under it).
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{p.args[0]} did not stop within 30 s: killing it")
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    say("stopped")


def worker_cmd(concurrency: int) -> list:
    # -B: beat inside the worker (periodic sweeps), fine for one machine; production runs beat alone.
    return [
        *(BIN / "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", concurrency),
        "-B",  # the schedule is in the database (django-celery-beat)
    ]


def supervise(procs: list[subprocess.Popen]) -> int:
    """Wait until Ctrl-C / SIGTERM or until one process dies; then stop them all."""
    stopping = {"why": None}

    def on_signal(signum, _frame):
        stopping["why"] = signal.Signals(signum).name

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while stopping["why"] is None:
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                say(f"{dead[0].args[0]} exited with {dead[0].returncode}; stopping the others")
                stopping["why"] = "exit"
                break
            time.sleep(0.5)
    finally:
        say("stopping the web server and the worker (running tasks may finish first, up to 30 s)")
        stop_all(procs)
    return 0 if stopping["why"] != "exit" else 1


def cmd_up(args: argparse.Namespace) -> int:
    ensure_installed()
    (VAR / "staticfiles").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
    manage("migrate", "--noinput")
    logins = load_demo()
    port = free_port(args.host, args.port)
    procs = [start(worker_cmd(args.concurrency), "Celery worker")]
    server = (
        [PY, "manage.py", "runserver", "--noreload", f"{args.host}:{port}"]
        if not args.gunicorn
        else [BIN / "gunicorn", "config.wsgi", "--bind", f"{args.host}:{port}", "--workers", "2"]
    )
    procs.append(start(server, "web server"))
    url = f"http://{args.host}:{port}/"
    try:
        wait_http(url + "admin/login/", procs)
    except SystemExit:
        stop_all(procs)
        raise
    print(
        "\n"
        f"  Gouvernail is running at {url}\n"
        f"  API: {url}api/v1/  (schema {url}api/v1/schema/, docs {url}api/v1/docs/)   admin: {url}admin/\n"
        "  Log in as admin / gouvernail-demo (staff). "
        + logins.strip().replace("\n", "\n  ")
        + "\n  Ctrl-C stops the server and the worker.\n",
        flush=True,
    )
    return supervise(procs)


def cmd_worker(args: argparse.Namespace) -> int:
    ensure_installed()
    return supervise([start(worker_cmd(args.concurrency), "Celery worker")])


def cmd_demo(args: argparse.Namespace) -> int:
    ensure_installed()
    manage("migrate", "--noinput")
    manage("load_demo")
    return 0


def cmd_test(args: argparse.Namespace, extra: list[str]) -> int:
    ensure_installed()
    cmd = [str(PY), "-m", "pytest"]
    # Serial by default (the whole suite: 20 min on the embedded default on a 2-core VM, 2026-12-07;
    # about 3 min when it was young). With pytest-xdist (-n auto)
    # every process imports pandas and GX and collects everything again (98 s before the first
    # test on this machine under load), and the run failed: parameters built from gzip bytes embed
    # the time, so the processes collected different tests. GOUVERNAIL_TEST_PROCESSES=auto opts in.
    processes = os.environ.get("GOUVERNAIL_TEST_PROCESSES")
    if processes and not any(a.startswith(("-n", "--numprocesses")) for a in extra):
        cmd += ["-n", processes]
    cmd += extra
    say("running: " + " ".join(cmd))
    return subprocess.call(cmd, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="install, migrate, load demo data, run a worker and the web server")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000, help="first port to try (default 8000)")
    up.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    up.add_argument("--gunicorn", action="store_true", help="serve with gunicorn instead of runserver")
    worker = sub.add_parser("worker", help="run a Celery worker alone")
    worker.add_argument("--concurrency", type=int, default=2)
    sub.add_parser("demo", help="migrate and load the demo data (idempotent)")
    sub.add_parser("install", help="only create .venv and install (what .ci/run does first)")
    sub.add_parser("test", help="run the whole test suite; extra arguments go to pytest", add_help=False)

    argv = sys.argv[1:]
    if argv[:1] == ["test"]:
        return cmd_test(parser.parse_args(["test"]), argv[1:])
    args = parser.parse_args(argv)
    if args.command == "install":
        ensure_installed()
        return 0
    return {"up": cmd_up, "worker": cmd_worker, "demo": cmd_demo}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

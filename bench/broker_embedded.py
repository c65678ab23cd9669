"""Which kombu transport that needs no server should carry the embedded default's Celery tasks?

Compares ``filesystem://`` and ``sqla+sqlite://`` (SQLAlchemy over an SQLite file) with a real
``celery worker`` process (prefork, 2 processes, acks_late, prefetch 1, as config/settings.py sets
them), and Redis as the baseline when one answers (``BENCH_REDIS_URL``, default db 1):

1. throughput: N small tasks published by one producer, time until the worker has run them all;
2. two producers at once: N tasks from two processes publishing together: lost or duplicated?
3. a pool process killed (-9) mid-task: redelivered (acks_late + reject_on_worker_lost)?
4. the whole worker killed (-9) mid-task, a new worker started: is the task ever run?

Run: ``.venv/bin/python bench/broker_embedded.py [--tasks 500]``. It makes its own data in a
temporary folder, prints a table and the ratio of each transport's throughput to the baseline.
The worker runs this same file as its Celery app (``celery -A bench.broker_embedded``), configured
from the BENCH_* environment variables; tasks append their id to a file, which is how completion,
loss and duplicates are counted (no result backend involved).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
# How often an idle virtual transport looks for messages (kombu's default is 1 s). With
# prefetch 1 and acks_late the worker goes back to polling after every task, so this bounds
# throughput: set by --poll. The SQLAlchemy transport cannot take it (kombu hands all its
# transport options to create_engine, which refuses unknown ones), so it polls every second.
POLL = float(os.environ.get("BENCH_POLL", "0.1"))

app = Celery("bench")
app.conf.update(
    broker_url=os.environ.get("BENCH_BROKER_URL", "memory://"),
    broker_transport_options=json.loads(os.environ.get("BENCH_TRANSPORT_OPTIONS", "{}")),
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.record")
def record(i: int, out: str) -> None:
    # One short O_APPEND write per task: atomic, so concurrent pool processes do not interleave.
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{i}\n".encode())
    finally:
        os.close(fd)


@app.task(name="bench.block")
def block(i: int, out: str, started: str, release: str) -> None:
    Path(started).write_text(str(os.getpid()))
    while not Path(release).exists():
        time.sleep(0.05)
    record(i, out)


# ---------------------------------------------------------------------------------------------
# The driver


def transports(tmp: Path) -> list[tuple[str, str, dict]]:
    fs = tmp / "fs"
    for sub in ("queue", "processed", "control"):
        (fs / sub).mkdir(parents=True)
    out = [
        (
            "filesystem",
            "filesystem://",
            {
                "data_folder_in": str(fs / "queue"),
                "data_folder_out": str(fs / "queue"),
                "processed_folder": str(fs / "processed"),
                "control_folder": str(fs / "control"),
                "store_processed": False,
                "polling_interval": POLL,
            },
        ),
        (
            "sqla+sqlite",
            f"sqla+sqlite:///{tmp / 'broker.sqlite3'}",
            {"connect_args": {"timeout": 30}},
        ),
    ]
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
        # A short visibility timeout so that scenario 4 can show Redis's redelivery in the bench.
        # (kombu sweeps for expired unacked messages every interval x throttle seconds: 1 s here.)
        options = {"visibility_timeout": 5, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
        out.insert(0, ("redis (baseline)", redis_url, options))
    except Exception:
        print(f"(no Redis at {redis_url}: the baseline is the filesystem transport)")
    return out


class Worker:
    def __init__(self, url: str, options: dict, log: Path, queue: str) -> None:
        env = dict(
            os.environ,
            BENCH_BROKER_URL=url,
            BENCH_TRANSPORT_OPTIONS=json.dumps(options),
            PYTHONPATH=str(ROOT),
        )
        self.log = log
        with log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "bench.broker_embedded", "worker", "-Q", queue]
                + ["--pool", "prefork", "--concurrency", "2", "-l", "INFO"]
                + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{queue}@%h"],
                cwd=ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text(errors="replace")[-3000:])
            time.sleep(0.05)

    def children(self) -> list[int]:
        kids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(stat[1]) == self.proc.pid:
                    kids.append(int(entry))
        return kids

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def count(out: Path) -> tuple[int, int]:
    """(distinct task ids run, duplicate runs)."""
    if not out.exists():
        return 0, 0
    ids = out.read_text().split()
    return len(set(ids)), len(ids) - len(set(ids))


def wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def producer(url: str, options: dict) -> Celery:
    """A fresh client app for one broker (a Celery app caches its connection pools)."""
    client = Celery("bench-producer", broker=url)
    client.conf.broker_transport_options = options
    client.conf.task_serializer = "json"
    return client


def produce(url: str, options: dict, queue: str, out: str, start: int, n: int) -> None:
    """Publish n record tasks (run in a separate producer process for scenario 2)."""
    client = producer(url, options)
    for i in range(start, start + n):
        client.send_task("bench.record", args=[i, out], queue=queue)


def run_transport(label: str, url: str, options: dict, tmp: Path, n: int) -> dict:
    workers: list[Worker] = []
    try:
        return _run_transport(label, url, options, tmp, n, workers)
    finally:
        for w in workers:
            w.kill()


def _run_transport(label: str, url: str, options: dict, tmp: Path, n: int, workers: list) -> dict:
    res: dict = {"transport": label}
    work = tmp / label.split()[0]
    work.mkdir(exist_ok=True)
    queue = f"bench-{label.split()[0]}-{os.getpid()}"
    client = producer(url, options)

    def send(name: str, *args) -> None:
        client.send_task(name, args=list(args), queue=queue)

    # 0. latency: one task to an idle worker, median of 7
    worker = Worker(url, options, work / "worker.log", queue)
    workers.append(worker)
    lat_out = work / "latency.txt"
    latencies = []
    for i in range(7):
        time.sleep(0.5)  # let the worker go idle (back to polling)
        t0 = time.perf_counter()
        send("bench.record", i, str(lat_out))
        wait_for(lambda i=i: count(lat_out)[0] > i, 30)
        latencies.append(time.perf_counter() - t0)
    res["latency_ms"] = sorted(latencies)[len(latencies) // 2] * 1000

    # 1. throughput
    out = work / "throughput.txt"
    t0 = time.perf_counter()
    for i in range(n):
        send("bench.record", i, str(out))
    publish = time.perf_counter() - t0
    done = wait_for(lambda: count(out)[0] >= n, timeout=max(120, n))
    elapsed = time.perf_counter() - t0
    res["publish_per_s"] = n / publish
    res["tasks_per_s"] = n / elapsed if done else 0.0
    res["throughput_ok"] = done and count(out) == (n, 0)

    # 2. two producers at once
    out2 = work / "two_producers.txt"
    producers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.broker_embedded import produce; "
                f"produce({url!r}, {options!r}, {queue!r}, {str(out2)!r}, {k * n}, {n})",
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for k in range(2)
    ]
    errors = [p.communicate()[1].decode()[-500:] for p in producers if p.wait() != 0]
    wait_for(lambda: count(out2)[0] >= 2 * n, timeout=max(120, 2 * n))
    distinct, dups = count(out2)
    res["two_producers"] = f"{distinct}/{2 * n} run, {dups} dup" + (
        f", {len(errors)} producer(s) failed" if errors else ""
    )
    res["two_producers_ok"] = distinct == 2 * n and dups == 0 and not errors
    res["producer_errors"] = errors

    # 3. a pool process killed mid-task
    out3 = work / "child_kill.txt"
    started, release = work / "started3", work / "release3"
    send("bench.block", 3, str(out3), str(started), str(release))
    wait_for(lambda: started.exists() and started.read_text(), 30)
    victim = int(started.read_text())
    started.unlink()
    os.kill(victim, signal.SIGKILL)  # the pool process running the task, as the OOM killer would
    redelivered = wait_for(started.exists, 45)
    release.touch()
    wait_for(lambda: count(out3)[0] >= 1, 30)
    res["pool_process_killed"] = "redelivered" if redelivered and count(out3) == (1, 0) else "LOST"

    # 4. the whole worker killed mid-task; a new worker started
    out4 = work / "worker_kill.txt"
    started, release = work / "started4", work / "release4"
    send("bench.block", 4, str(out4), str(started), str(release))
    wait_for(started.exists, 30)
    worker.kill()
    release.touch()
    worker = Worker(url, options, work / "worker2.log", queue)
    workers.append(worker)
    again = wait_for(lambda: count(out4)[0] >= 1, 45)
    res["worker_killed"] = "redelivered" if again else "lost (not run within 45 s)"
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks per throughput run (default 500)")
    parser.add_argument(
        "--poll",
        type=float,
        default=float(os.environ.get("BENCH_POLL", "0.1")),
        help="polling interval of the virtual transports",
    )
    parser.add_argument("--only", nargs="*", help="transports to run (redis, filesystem, sqla)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (worker logs)")
    args = parser.parse_args()
    # Ctrl-C or kill: unwind, so that the finally clauses stop the workers this started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    global POLL  # noqa: PLW0603 - a module constant the worker reads from BENCH_POLL too
    POLL = args.poll
    rows = []
    d = tempfile.mkdtemp(prefix="gv-broker-bench-")
    print(f"working in {d}")
    try:
        for label, url, options in transports(Path(d)):
            if args.only and not label.startswith(tuple(args.only)):
                continue
            print(f"... {label}", flush=True)
            rows.append(run_transport(label, url, options, Path(d), args.tasks))
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    base = rows[0]["tasks_per_s"] or 1.0
    print(
        f"\n{args.tasks} tasks; worker: prefork x2, acks_late, prefetch 1; baseline: {rows[0]['transport']}\n"
    )
    header = (
        "transport",
        "idle latency ms",
        "publish/s",
        "run/s",
        "ratio",
        "two producers",
        "pool proc -9",
        "worker -9",
    )
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for r in rows:
        print(
            " | ".join(
                [
                    r["transport"],
                    f"{r['latency_ms']:.0f}",
                    f"{r['publish_per_s']:.0f}",
                    f"{r['tasks_per_s']:.0f}" + ("" if r["throughput_ok"] else " (INCOMPLETE)"),
                    f"{r['tasks_per_s'] / base:.2f}",
                    r["two_producers"],
                    r["pool_process_killed"],
                    r["worker_killed"],
                ]
            )
        )
    for r in rows:
        for err in r["producer_errors"]:
            print(f"\n{r['transport']} producer error:\n{err}")


if __name__ == "__main__":
    main()

"""Lineage reads during a backlog: does ``GET /api/v1/lineage`` answer within LINEAGE_READ_FOLD_SECONDS?

Production set-up on a database of its own (as bench/lineage_ingest_bench.py): granian (``--workers``
x ``--server-threads``, DEBUG off), ``LINEAGE_APPLY=deferred``, Redis db 4 as broker and cache, and a
real Celery worker folding. ``--clients`` client processes post ``--events`` OpenLineage RunEvents
between them as fast as the server takes them (START and COMPLETE of new runs of 200 scheduled jobs
over 1,000 tables; ``--new-outputs K`` makes each event also write K datasets nobody has seen, the
costly kind to fold). As soon as the burst is posted, ``--readers`` threads ask for the lineage of a
31-node chain (``GET /api/v1/lineage?nodeId=...``, depth 20) back to back while the backlog lasts
(at least ``--min-reads`` reads in all), each read timed from the client: p50, p95 and max of the
reads that began while events were pending, their ratio to the budget, and how many of those
answers said ``X-Lineage-Pending``.

    .venv/bin/python bench/lineage_read_budget_bench.py
    .venv/bin/python bench/lineage_read_budget_bench.py --budget 1 --new-outputs 2

Options: --events N (3000) --clients N (4) --budget S (5, LINEAGE_READ_FOLD_SECONDS) --readers N (2)
         --min-reads N (20) --new-outputs K (0) --workers N (2) --server-threads N (2) --port N (8764)
         --database-url URL (postgres://postgres@127.0.0.1:5432/gv_lin_read)
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lineage_ingest_bench import _start, _stop, event, prepare_database, server_env  # noqa: E402

BIN = Path(sys.executable).parent
CHAIN = 15  # jobs: 15 jobs + 16 datasets = a 31-node answer
# The middle of the chain: 16 hops upstream and 14 downstream, all within the default depth (20).
START_NODE = "dataset:s3://bench-read:chain/d8"


# A Redis database of its own (the ingest bench uses db 3): purging its queue touches nobody else's.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/4")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/4")


def setup(database_url: str) -> str:
    """Migrate, make a user and its token, build the 31-node chain (sync) and warm the 200 jobs'
    tables as a pipeline that already ran → the token."""
    token = prepare_database(database_url, "bench_read")
    from django.contrib.auth import get_user_model

    from lineage import ingest
    from lineage.models import Node

    user = get_user_model().objects.get(username="bench_read")
    if not Node.objects.filter(key=START_NODE).exists():
        rng = random.Random(0)
        for i in range(CHAIN):
            body = event(rng, str(uuid.uuid4()), 0, "COMPLETE", time.time())
            body["job"] = {"namespace": "bench-read", "name": f"chain_{i}"}
            body["inputs"] = [{"namespace": "s3://bench-read", "name": f"chain/d{i}"}]
            body["outputs"] = [{"namespace": "s3://bench-read", "name": f"chain/d{i + 1}"}]
            ingest.ingest_event(body=body, actor=user, apply="sync")
        for job in range(200):
            ingest.ingest_event(
                body=event(rng, str(uuid.uuid4()), job, "COMPLETE", time.time()), apply="sync"
            )
    return token


def poster(n: int, count: int, port: int, token: str, new_outputs: int, out: mp.Queue) -> None:
    """One client: ``count`` events over one keep-alive connection, one after the other."""
    rng = random.Random(n)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses: dict[int, int] = {}
    sent = 0
    while sent < count:
        run_id, job = str(uuid.uuid4()), rng.randrange(200)
        for i, event_type in enumerate(("START", "COMPLETE")):
            if sent >= count:
                break
            body = event(rng, run_id, job, event_type, time.time() + i)
            body["outputs"] += [
                {"namespace": "s3://bench-read-new", "name": f"{run_id}/part_{k}"} for k in range(new_outputs)
            ]
            conn.request("POST", "/api/v1/lineage", json.dumps(body), headers)
            r = conn.getresponse()
            r.read()
            statuses[r.status] = statuses.get(r.status, 0) + 1
            sent += 1
    conn.close()
    out.put(statuses)


def reader(port: int, token: str, stop: threading.Event, reads: list) -> None:
    """GET the chain's lineage back to back until told to stop → (seconds, pending header, nodes, start)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        t = time.perf_counter()
        conn.request("GET", f"/api/v1/lineage?nodeId={START_NODE}&depth=20", headers=headers)
        r = conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - t
        nodes = len(json.loads(body)["graph"]) if r.status == 200 else -r.status
        reads.append((elapsed, r.getheader("X-Lineage-Pending"), nodes, t))
    conn.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--budget", type=float, default=5.0, help="LINEAGE_READ_FOLD_SECONDS")
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--min-reads", type=int, default=20)
    parser.add_argument("--new-outputs", type=int, default=0, help="new datasets written by each event")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server-threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=8764)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gv_lin_read")
    args = parser.parse_args()

    token = setup(args.database_url)
    from config.celery import app
    from lineage.models import EventState, LineageEvent

    app.control.purge()
    # Nothing pending from an earlier run: the backlog measured is this run's burst.
    LineageEvent.objects.filter(state=EventState.PENDING).update(state=EventState.APPLIED)
    env = {
        **server_env(args.database_url),
        "LINEAGE_APPLY": "deferred",
        "LINEAGE_READ_FOLD_SECONDS": str(args.budget),
    }
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    serve = [
        str(BIN / "granian"), "--interface", "wsgi", "config.wsgi:application",
        "--workers", str(args.workers), "--blocking-threads", str(args.server_threads),
        "--host", "127.0.0.1", "--port", str(args.port), "--log-level", "warning", "--no-ws",
    ]  # fmt: skip
    fold_worker = [
        str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "1", "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    server = _start(serve, env, logs / "lineage_read_budget_granian.log")
    worker = _start(fold_worker, env, logs / "lineage_read_budget_worker.log")
    reads: list = []
    try:
        import socket

        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        warm: list = []
        stop = threading.Event()
        t = threading.Thread(target=reader, args=(args.port, token, stop, warm))
        t.start()
        time.sleep(2)  # the server's workers import and connect before the burst
        stop.set()
        t.join()

        load0 = os.getloadavg()[0]
        out: mp.Queue = mp.Queue()
        share = [args.events // args.clients + (c < args.events % args.clients) for c in range(args.clients)]
        procs = [
            mp.Process(target=poster, args=(c, share[c], args.port, token, args.new_outputs, out))
            for c in range(args.clients)
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        statuses: dict[int, int] = {}
        for _ in procs:
            for code, n in out.get().items():
                statuses[code] = statuses.get(code, 0) + n
        for p in procs:
            p.join()
        posted = time.perf_counter() - t0
        pending0 = LineageEvent.objects.filter(state=EventState.PENDING).count()

        stop = threading.Event()
        threads = [
            threading.Thread(target=reader, args=(args.port, token, stop, reads)) for _ in range(args.readers)
        ]
        t1 = time.perf_counter()
        for t in threads:
            t.start()
        drained_at = None
        while drained_at is None or len(reads) < args.min_reads:
            if drained_at is None and not LineageEvent.objects.filter(state=EventState.PENDING).exists():
                drained_at = time.perf_counter()
            time.sleep(0.1)
        drained = drained_at - t1
        stop.set()
        for t in threads:
            t.join()
        load1 = os.getloadavg()[0]
    finally:
        _stop(server)
        _stop(worker)

    during = [r for r in reads if r[3] < drained_at]  # began while events were pending
    times = [r[0] for r in during]
    behind = [r for r in during if r[1]]
    over = [x for x in times if x > args.budget]
    print(
        f"{args.clients} clients posted {args.events} events ({args.new_outputs} new outputs each) in "
        f"{posted:.1f} s: {statuses}; {pending0} pending when they stopped, drained {drained:.1f} s later"
    )
    print(
        f"granian {args.workers} x {args.server_threads}, 1 Celery worker; load average {load0:.1f} before the "
        f"burst, {load1:.1f} after (2 cores)"
    )
    print(
        f"{len(during)} reads by {args.readers} readers during the backlog (nodes per answer: "
        f"{sorted({r[2] for r in during})}), LINEAGE_READ_FOLD_SECONDS={args.budget:g}: "
        f"p50 {statistics.median(times):.2f} s, p95 {_pct(times, 0.95):.2f} s, max {max(times):.2f} s; "
        f"p95 / budget = {_pct(times, 0.95) / args.budget:.2f}, max / budget = {max(times) / args.budget:.2f}"
    )
    print(
        f"{len(behind)} answers said X-Lineage-Pending (first {behind[0][1] if behind else '-'}, last "
        f"{behind[-1][1] if behind else '-'}); {len(over)} reads over the budget"
    )


if __name__ == "__main__":
    main()

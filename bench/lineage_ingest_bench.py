"""Lineage ingestion benchmark: POST /api/v1/lineage over HTTP on PostgreSQL.

Starts a real server (gunicorn, ``--workers`` sync workers, production settings: DEBUG off) on a
database of its own, then two client processes post OpenLineage RunEvents for ``--seconds``
(START and COMPLETE of runs of 200 jobs over 1,000 datasets, a pipeline's steady state), each
from ``--threads`` keep-alive connections. Afterwards it counts the stored events and checks the
count equals the number of 201 answers: nothing lost, nothing doubled.

    .venv/bin/python bench/lineage_ingest_bench.py

With ``--bulk N`` it measures instead one event naming N new output datasets, applied in process
(QA F25: the catalog registers them in bulk), against a baseline of one event naming N datasets
that are already known, in the same database:

    .venv/bin/python bench/lineage_ingest_bench.py --bulk 500

Options: --seconds N (60) --baseline-seconds N (20) --workers N (3) --server-threads N (4) --threads N (8 per client process)
         --port N (8763)
         --database-url URL (postgres://postgres@127.0.0.1:5432/gv_lin_ingest)
"""

import argparse
import json
import multiprocessing as mp
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def server_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        # Large events would be queued; none are in this benchmark. Lineage's own Redis database.
        CELERY_BROKER_URL=env.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/3"),
    )
    return env


def setup(database_url: str) -> tuple[str, int]:
    """Migrate the benchmark database, make a user and its token → (token, events already stored)."""
    os.environ.update(server_env(database_url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import psycopg
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench_ingest")
    token, _ = Token.objects.get_or_create(user=user)
    from lineage import services
    from lineage.models import LineageEvent

    # Warm up as a pipeline that already ran: every table and job known to the catalog and graph.
    rng = random.Random(0)
    for job in range(200):
        services.ingest_event(body=event(rng, str(uuid.uuid4()), job, "COMPLETE", time.time()))
    for chunk in range(0, 1000, 100):
        body = event(rng, str(uuid.uuid4()), 0, "OTHER", time.time())
        body["job"]["name"] = f"warm_up_{chunk}"
        body["inputs"] = [
            {"namespace": "postgres://warehouse:5432", "name": f"public.table_{i}"}
            for i in range(chunk, chunk + 100)
        ]
        services.ingest_event(body=body)
    return token.key, LineageEvent.objects.count()


def job_inputs(job: int) -> list[int]:
    """Each job reads the same 3 tables run after run, as scheduled jobs do."""
    return random.Random(job).sample(range(1000), 3)


def event(rng: random.Random, run_id: str, job: int, event_type: str, at: float) -> dict:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"
    ins = job_inputs(job)
    return {
        "eventType": event_type,
        "eventTime": stamp,
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "airflow", "name": f"dag_{job // 10}.task_{job}"},
        "inputs": [{"namespace": "postgres://warehouse:5432", "name": f"public.table_{i}"} for i in ins],
        "outputs": [{"namespace": "s3://lake", "name": f"out/job_{job}.parquet"}],
    }


def client(
    worker: int, url: str, token: str, seconds: float, threads: int, out: mp.Queue, baseline: bool = False
) -> None:
    import requests

    stop_at = time.time() + seconds
    counts = {"201": 0, "200": 0, "other": 0, "errors": 0}
    lock = threading.Lock()

    def run(t: int) -> None:
        rng = random.Random(worker * 1000 + t)
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        local = {"201": 0, "200": 0, "other": 0, "errors": 0}
        while time.time() < stop_at:
            run_id, job = str(uuid.uuid4()), rng.randrange(200)
            now = time.time()
            for i, event_type in enumerate(("START", "COMPLETE")):
                body = json.dumps(event(rng, run_id, job, event_type, now + i))
                try:
                    if baseline:  # the same client work, to an endpoint that only authenticates + 1 read
                        r = session.get(f"{url}/api/v1/lineage/runs/{uuid.UUID(int=0)}", timeout=30)
                    else:
                        r = session.post(f"{url}/api/v1/lineage", data=body, timeout=30)
                except requests.RequestException:
                    local["errors"] += 1
                    continue
                code = 201 if baseline and r.status_code == 404 else r.status_code
                key = str(code) if code in (200, 201) else "other"
                local[key] += 1
        with lock:
            for k, v in local.items():
                counts[k] += v

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    out.put(counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--server-threads", type=int, default=4, help="gunicorn gthread threads per worker")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=8763)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gv_lin_ingest")
    parser.add_argument("--bulk", type=int, default=0, help="measure one event with N new outputs instead")
    args = parser.parse_args()
    if args.bulk:
        bulk(args.database_url, args.bulk)
        return

    token, before = setup(args.database_url)
    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.server_threads),
            "--bind",
            f"127.0.0.1:{args.port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=server_env(args.database_url),
        start_new_session=True,
    )
    try:
        import requests

        for _ in range(100):  # wait until it answers
            try:
                requests.get(f"{url}/api/v1/lineage", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        # Warm the server's workers (connections, imports) for a few seconds.
        warm = mp.Queue()
        client(99, url, token, 3, 4, warm)
        warm_counts = warm.get()
        from lineage.models import LineageEvent

        # Baseline (the machine's ceiling for any authenticated request, same clients, same server).
        base_out: mp.Queue = mp.Queue()
        base_procs = [
            mp.Process(
                target=client, args=(w, url, token, args.baseline_seconds, args.threads, base_out, True)
            )
            for w in range(2)
        ]
        tb = time.perf_counter()
        for p in base_procs:
            p.start()
        base_results = [base_out.get() for _ in base_procs]
        for p in base_procs:
            p.join()
        base_rate = sum(r["201"] for r in base_results) / (time.perf_counter() - tb)

        start_count = LineageEvent.objects.count()
        out: mp.Queue = mp.Queue()
        procs = [
            mp.Process(target=client, args=(w, url, token, args.seconds, args.threads, out)) for w in range(2)
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    stored = LineageEvent.objects.count() - start_count
    created = sum(r["201"] for r in results)
    dupes = sum(r["200"] for r in results)
    other = sum(r["other"] for r in results)
    errors = sum(r["errors"] for r in results)
    print(f"warm-up: {warm_counts['201']} events; before: {before} stored")
    print(
        f"2 client processes x {args.threads} connections, gunicorn {args.workers} workers x {args.server_threads} threads, {elapsed:.1f} s: "
        f"{created} accepted (201), {dupes} duplicates (200), {other} other, {errors} connection errors"
    )
    print(f"throughput: {created / elapsed:.0f} events/s (target >= 500)")
    print(
        f"baseline (GET that authenticates and reads one row, same clients and server): {base_rate:.0f} req/s; "
        f"ingestion / baseline = {created / elapsed / base_rate:.2f}"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"stored events: {stored}; equal to the 201 answers: {'YES' if stored == created else 'NO'}")


def bulk(database_url: str, n: int) -> None:
    """One COMPLETE event naming n new datasets, applied in process (no deferral), timed."""
    setup(database_url)
    from django.test.utils import override_settings

    from catalog.models import Dataset
    from lineage import services

    tag = uuid.uuid4().hex[:8]
    rng = random.Random(1)

    def one(namespace: str) -> float:
        body = event(rng, str(uuid.uuid4()), 0, "COMPLETE", time.time())
        body["job"]["name"] = f"bulk_{tag}_{namespace[-5:]}"
        body["outputs"] = [{"namespace": namespace, "name": f"part_{i:05d}"} for i in range(n)]
        t = time.perf_counter()
        with override_settings(LINEAGE_SYNC_MAX_NEW_DATASETS=n + 1):
            services.ingest_event(body=body)
        return time.perf_counter() - t

    load = os.getloadavg()[0]
    new = one(f"s3://bulk-{tag}")
    known = one(f"s3://bulk-{tag}")  # the same datasets again: the floor without registering any
    registered = Dataset.objects.filter(namespace=f"s3://bulk-{tag}").count()
    print(f"load average at the start: {load:.1f} (2 cores)")
    print(
        f"one event, {n} new outputs: {new:.2f} s ({new / n * 1000:.1f} ms per new dataset); {registered} registered"
    )
    print(f"baseline, the same {n} outputs already known: {known:.2f} s; new / known = {new / known:.1f}")


if __name__ == "__main__":
    main()

"""Lineage ingestion benchmark: POST /api/v1/lineage over HTTP on PostgreSQL.

Runs the server as production would, on a database of its own: granian or gunicorn (``--server``,
``--workers`` x ``--server-threads``, DEBUG off), ``LINEAGE_APPLY=--apply`` (deferred by default), Redis db 3 as
broker and cache, and a real Celery worker folding the pending events while the clients post. Two
client processes post OpenLineage RunEvents for ``--seconds`` (START and COMPLETE of new runs of 200
jobs over 1,000 datasets, a pipeline's steady state), each from ``--connections`` keep-alive
connections driven by asyncio (raw HTTP/1.1, bodies filled into a prepared template): the clients
cost little CPU, so the figure measures the server. Before that, a baseline in the same run with
the same clients: ``GET /api/v1/lineage/runs/<runId>`` of a stored run (authenticates, reads the
run row, answers 200).

Afterwards it counts the stored events (== the 201 answers: nothing lost, nothing doubled), waits
for the worker to drain the backlog (time and fold rate), and checks the folded graph: one run per
runId posted, completed runs == the COMPLETE events accepted, and every job's edges exactly its 3
inputs and 1 output.

    .venv/bin/python bench/lineage_ingest_bench.py
    .venv/bin/python bench/lineage_ingest_bench.py --apply sync   # for comparison

With ``--bulk N`` it measures instead one event naming N new output datasets, applied in process
(QA F25: the catalog registers them in bulk), against a baseline of one event naming N datasets
that are already known, in the same database:

    .venv/bin/python bench/lineage_ingest_bench.py --bulk 500

Options: --seconds N (60) --baseline-seconds N (15) --apply deferred|sync --server granian|gunicorn
         --workers N (2) --server-threads N (2) --connections N (8 per client process)
         --fold-concurrency N (1) --fold-nice N (0: the folding worker at the server's priority; 19:
         ingestion first, the fold catching up when posting slows) --port N (8763)
         --database-url URL (postgres://postgres@127.0.0.1:5432/gv_lin_ingest)
"""

import argparse
import asyncio
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
        # Lineage's own Redis database: the broker, and the cache that holds the "fold queued" flag.
        CELERY_BROKER_URL=env.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/3"),
        REDIS_URL=env.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    return env


def prepare_database(database_url: str, username: str) -> str:
    """Set Django up on the benchmark database (created if missing, migrated), make ``username``
    and its token → the token's key. Shared with bench/lineage_read_budget_bench.py."""
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
    user, _ = get_user_model().objects.get_or_create(username=username)
    return Token.objects.get_or_create(user=user)[0].key


def setup(database_url: str) -> tuple[str, int]:
    """Migrate the benchmark database, make a user and its token → (token, events already stored)."""
    token = prepare_database(database_url, "bench_ingest")
    from lineage import ingest as services
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
    return token, LineageEvent.objects.count()


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


# ---------------------------------------------------------------------------------------------
# Clients: asyncio, raw HTTP/1.1 over keep-alive connections, bodies from a prepared template


def _job_parts() -> list[tuple[bytes, bytes]]:
    """Per job, the body around the run: (before the runId, after it), as bytes, prepared once."""
    parts = []
    for job in range(200):
        body = json.dumps(event(random.Random(0), "@RUN@", job, "@TYPE@", 0))
        body = body.replace('"1970-01-01T00:00:00.000000Z"', '"@TIME@"')
        parts.append(body)
    return parts


async def _request(reader, writer, head: bytes, body: bytes) -> tuple[int, bool]:
    """Send one request, read its answer → (status, connection kept)."""
    writer.write(head + body)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed by the server")
    status = int(status_line.split(b" ", 2)[1])
    length, keep = 0, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def _connection(
    n: int, port: int, token: str, stop_at: float, baseline: str, counts: dict, runs: list
) -> None:
    rng = random.Random(n)
    bodies = _job_parts()
    auth = f"Authorization: Bearer {token}\r\n".encode()
    get_head = (
        f"GET /api/v1/lineage/runs/{baseline} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + auth + b"\r\n"
    )
    reader = writer = None
    while time.time() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if baseline:
            requests = [(get_head, b"")]
        else:
            run_id, job, now = str(uuid.uuid4()), rng.randrange(200), time.time()
            requests = []
            for i, event_type in enumerate(("START", "COMPLETE")):
                at = now + i
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"
                body = (
                    bodies[job]
                    .replace("@RUN@", run_id)
                    .replace("@TYPE@", event_type)
                    .replace("@TIME@", stamp)
                ).encode()
                head = (
                    b"POST /api/v1/lineage HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + auth
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                )
                requests.append((head, body, run_id, event_type))
        for req in requests:
            if writer is None:  # the server closed the connection after the last answer (no keep-alive)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                status, keep = await _request(reader, writer, req[0], req[1])
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                counts["errors"] += 1
                writer.close()
                writer = None
                break
            key = str(status) if status in (200, 201) else "other"
            counts[key] += 1
            if status == 201 and not baseline:
                runs.append((req[2], req[3]))
            if not keep:
                writer.close()
                writer = None
    if writer is not None:
        writer.close()


def client(
    worker: int, port: int, token: str, seconds: float, connections: int, out: mp.Queue, baseline: str = ""
) -> None:
    """One client process: ``connections`` concurrent keep-alive connections for ``seconds``."""
    counts = {"201": 0, "200": 0, "other": 0, "errors": 0}
    runs: list[tuple[str, str]] = []
    stop_at = time.time() + seconds

    async def main() -> None:
        await asyncio.gather(
            *(
                _connection(worker * 1000 + c, port, token, stop_at, baseline, counts, runs)
                for c in range(connections)
            )
        )

    asyncio.run(main())
    cpu = time.process_time()
    out.put((counts, runs, cpu))


def _clients(args, token: str, seconds: float, baseline: str = "") -> tuple[list, float, float]:
    """Two client processes → (their results, elapsed seconds, their CPU seconds)."""
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=client, args=(w, args.port, token, seconds, args.connections, out, baseline))
        for w in range(2)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return results, time.perf_counter() - t0, sum(r[2] for r in results)


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as fh:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


class CpuMeter:
    """CPU (user + system) of the server's process group, the worker's, and the PostgreSQL backends
    serving the bench database (their process title names it), sampled every half second so that a
    process that exits (a recycled database connection) keeps what it used."""

    def __init__(self, server: int, worker: int, database: str) -> None:
        self.groups = {server: "server", worker: "worker"}
        self.database = database
        self.last: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                kind = self.groups.get(int(fields[2]))
                if kind is None:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        title = fh.read().decode(errors="replace").split()
                    if len(title) < 4 or title[0] != "postgres:" or title[3] != self.database:
                        continue
                    kind = "postgres"
            except (OSError, IndexError, ValueError):
                continue
            self.last[int(pid)] = (kind, (int(fields[11]) + int(fields[12])) / tick)

    def totals(self) -> dict[str, float]:
        self.sample()
        out = {"server": 0.0, "worker": 0.0, "postgres": 0.0}
        for kind, seconds in self.last.values():
            out[kind] += seconds
        return out


def _expected_edges() -> set[tuple[str, str]]:
    out = set()
    for job in range(200):
        key = f"job:airflow:dag_{job // 10}.task_{job}"
        out |= {(f"dataset:postgres://warehouse:5432:public.table_{i}", key) for i in job_inputs(job)}
        out.add((key, f"dataset:s3://lake:out/job_{job}.parquet"))
    return out


def _job_edges() -> set[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT s.key, d.key FROM lineage_edge e JOIN lineage_node s ON s.id = e.src"
            " JOIN lineage_node d ON d.id = e.dst WHERE s.key LIKE 'job:airflow:dag_%%'"
            " OR d.key LIKE 'job:airflow:dag_%%'"
        )
        return set(cur.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=15)
    parser.add_argument("--apply", choices=["deferred", "sync"], default="deferred")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian", help="the web server")
    parser.add_argument(
        "--server-threads",
        type=int,
        default=2,
        help="threads per worker (granian: blocking threads; gunicorn: gthread threads, 1 = sync workers)",
    )
    parser.add_argument("--connections", type=int, default=8, help="per client process")
    parser.add_argument("--fold-concurrency", type=int, default=1, help="Celery worker processes")
    parser.add_argument(
        "--fold-nice",
        type=int,
        default=0,
        help="run the folding worker at this nice level (ingestion first on a shared box; 0: same priority)",
    )
    parser.add_argument("--port", type=int, default=8763)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gv_lin_ingest")
    parser.add_argument("--bulk", type=int, default=0, help="measure one event with N new outputs instead")
    args = parser.parse_args()
    if args.bulk:
        bulk(args.database_url, args.bulk)
        return

    token, before = setup(args.database_url)
    from django.db.models import Count, Q

    from config.celery import app
    from lineage.models import Edge, EventState, LineageEvent, Run

    app.control.purge()  # nothing left over from an earlier run in db 3
    # A run of a scheduled job (3 inputs, 1 output), not a warm-up run naming 100 tables.
    baseline_run = Run.objects.filter(job__name="dag_0.task_0").values_list("run_id", flat=True).first()
    env = {**server_env(args.database_url), "LINEAGE_APPLY": args.apply}
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    if args.server == "granian":
        # Its HTTP side is Rust: about half gunicorn's CPU per event (docs/benchmarks.md).
        serve = [
            str(ROOT / ".venv/bin/granian"), "--interface", "wsgi", "config.wsgi:application",
            "--workers", str(args.workers), "--blocking-threads", str(args.server_threads),
            "--host", "127.0.0.1", "--port", str(args.port), "--log-level", "warning", "--no-ws",
        ]  # fmt: skip
    else:
        serve = [
            str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application",
            "--workers", str(args.workers), "--threads", str(args.server_threads),
            "--bind", f"127.0.0.1:{args.port}", "--backlog", "2048", "--log-level", "warning",
        ]  # fmt: skip
    server = _start(
        serve,
        env,
        logs / f"lineage_ingest_{args.server}.log",
    )
    worker = _start(
        [
            *(["nice", "-n", str(args.fold_nice)] if args.fold_nice else []),
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "config",
            "worker",
            "--concurrency",
            str(args.fold_concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        logs / "lineage_ingest_worker.log",
    )
    if args.fold_nice:
        # The worker runs in a session of its own, and with the kernel's autogroup scheduling a nice
        # value only ranks processes within their session: the session's own nice level does the rest.
        try:
            Path(f"/proc/{worker.pid}/autogroup").write_text(str(args.fold_nice))
        except OSError:
            pass  # not Linux, or autogroup off: nice alone applies
    try:
        import socket

        for _ in range(150):  # wait until it answers
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        _clients(args, token, 3, baseline=baseline_run)  # warm the server's workers (imports, connections)
        base, base_elapsed, base_cpu = _clients(args, token, args.baseline_seconds, baseline=baseline_run)
        base_rate = sum(r[0]["200"] for r in base) / base_elapsed

        start_count = LineageEvent.objects.count()
        start_runs = Run.objects.count()
        load0 = os.getloadavg()[0]
        meter = CpuMeter(server.pid, worker.pid, args.database_url.rpartition("/")[2])
        cpu0 = meter.totals()
        results, elapsed, client_cpu = _clients(args, token, args.seconds)
        cpu1 = meter.totals()
        load1 = os.getloadavg()[0]
        stored = LineageEvent.objects.count() - start_count
        pending_at_end = LineageEvent.objects.filter(state=EventState.PENDING).count()
        t_end = time.perf_counter()
        while LineageEvent.objects.filter(state=EventState.PENDING).exists():
            time.sleep(0.2)
        drain = time.perf_counter() - t_end
        cpu2 = meter.totals()
        meter.stop.set()
    finally:
        _stop(server)
        _stop(worker)

    created = sum(r[0]["201"] for r in results)
    dupes = sum(r[0]["200"] for r in results)
    other = sum(r[0]["other"] for r in results)
    errors = sum(r[0]["errors"] for r in results)
    accepted = [ev for r in results for ev in r[1]]
    run_ids = {run_id for run_id, _t in accepted}
    completes = sum(1 for _r, t in accepted if t == "COMPLETE")
    states = LineageEvent.objects.aggregate(
        failed=Count("id", filter=Q(state=EventState.FAILED)),
        pending=Count("id", filter=Q(state=EventState.PENDING)),
    )
    new_runs = Run.objects.count() - start_runs
    completed = Run.objects.filter(run_id__in=list(run_ids), state="COMPLETED").count()
    edges_ok = _job_edges() == _expected_edges()

    print(f"warm-up: before: {before} events stored; apply mode: {args.apply}")
    print(
        f"2 client processes x {args.connections} connections (asyncio), {args.server} {args.workers} workers x "
        f"{args.server_threads} threads, 1 Celery worker x {args.fold_concurrency}, {elapsed:.1f} s: "
        f"{created} accepted (201), {dupes} duplicates (200), {other} other, {errors} connection errors"
    )
    print(f"throughput: {created / elapsed:.0f} events/s accepted (target >= 500)")
    print(
        f"baseline (GET /lineage/runs/<id>: authenticates, reads the run, 200; same clients and server): "
        f"{base_rate:.0f} req/s; ingestion / baseline = {created / elapsed / base_rate:.2f}"
    )
    print(
        f"client CPU: {client_cpu:.1f} s of {elapsed:.0f} s x 2 cores; load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end"
    )
    print(f"stored events: {stored}; equal to the 201 answers: {'YES' if stored == created else 'NO'}")
    web, fold, pg = (cpu1[k] - cpu0[k] for k in ("server", "worker", "postgres"))
    print(
        f"CPU while posting: {args.server} {web:.1f} s, Celery worker {fold:.1f} s, PostgreSQL backends {pg:.1f} s, "
        f"clients {client_cpu:.1f} s; per event: {args.server} {web / max(created, 1) * 1000:.2f} ms, "
        f"fold (worker, posting + drain) {(cpu2['worker'] - cpu0['worker']) / max(stored, 1) * 1000:.2f} ms, "
        f"PostgreSQL (all of it, posting + drain) {(cpu2['postgres'] - cpu0['postgres']) / max(stored, 1) * 1000:.2f} ms"
    )
    print(
        f"fold: {pending_at_end} pending when the clients stopped, drained {drain:.1f} s later; fold rate "
        f"{stored / (elapsed + drain):.0f} events/s over posting + drain; {states['failed']} failed, "
        f"{states['pending']} pending now"
    )
    print(
        f"graph: {new_runs} new runs for {len(run_ids)} runIds accepted ({'OK' if new_runs == len(run_ids) else 'MISMATCH'}); "
        f"{completed} completed for {completes} COMPLETE accepted ({'OK' if completed == completes else 'MISMATCH'}); "
        f"job edges {'as expected' if edges_ok else 'NOT as expected'} ({Edge.objects.count()} edges)"
    )


def bulk(database_url: str, n: int) -> None:
    """One COMPLETE event naming n new datasets, applied in process (no deferral), timed."""
    setup(database_url)
    from django.test.utils import override_settings

    from catalog.models import Dataset
    from lineage import ingest as services

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

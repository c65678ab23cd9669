"""Event delivery benchmark: from an event recorded to its webhook delivered, with one worker.

Production set-up on a database of its own: PostgreSQL, Redis db 5 as broker and cache, one Celery
worker (``--concurrency 2``: the two cores) consuming a queue of its own, and a local receiver in a
process of its own (ThreadingHTTPServer, answers 204, notes when each delivery arrived).

Workload: 100 subscriptions by 10 users: 60 to one dataset each, 30 to a namespace (5 to each of 6
namespaces of 10 datasets) and 10 to everything, all to ``*``. Each event is about one of the 60
datasets (version.stored, profile.finished, quality.failed in turn), so it goes to 1 + 5 + 10 = 16
subscriptions: 10,000 events are 160,000 webhook deliveries.

1. **Baseline** (same script, same receiver): a raw POST loop, no database: the signed bodies of
   ``--baseline`` deliveries POSTed from 8 threads, one connection each, as fast as they go.
2. **Steady**: ``--events`` events recorded at ``--rate`` per second (the target, 10,000 an hour, is
   2.8/s; the default runs four times faster) while the worker delivers; latency = arrival at the
   receiver - the event's ``occurred_at``: p50, p95, p99, max, against the 5 s target.
3. **Burst**: ``--burst`` events recorded at once; the worker's drain rate (deliveries/s) against
   the raw POST loop's.

Afterwards it checks that every delivery arrived (and how many twice) and that none is left.

    .venv/bin/python bench/events_delivery.py
    .venv/bin/python bench/events_delivery.py --events 2000 --rate 11 --burst 500

Options: --events N (10000) --rate R (11.1) --burst N (1000) --baseline N (5000) --concurrency N (2)
         --database-url URL (postgres://postgres@127.0.0.1:5432/gv_events_bench)
"""

import argparse
import http.client
import multiprocessing as mp
import os
import queue
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lineage_ingest_bench import _start, _stop  # noqa: E402

QUEUE = f"bench-events-{uuid.uuid4().hex[:8]}"
NAMESPACES = 6
DATASETS = 60


def env_for(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        CELERY_BROKER_URL=env.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/5"),
        REDIS_URL=env.get("REDIS_URL", "redis://127.0.0.1:6379/5"),
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_TASK_DEFAULT_QUEUE=QUEUE,
        WEBHOOK_ALLOW_PRIVATE="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        GOVERNANCE_WEBHOOK_URL="",
    )
    return env


# ---------------------------------------------------------------------------------------------
# The receiver, in a process of its own


def receiver(port_out: mp.Queue, stop: mp.Event, dump: mp.Queue) -> None:
    arrivals: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            at = time.time()
            with lock:
                arrivals.append((self.headers.get("X-Gouvernail-Delivery", ""), self.path, at))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # listen()'s backlog: a burst of connections is not refused

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port_out.put(server.server_port)
    stop.wait()
    server.shutdown()
    with lock:
        dump.put(list(arrivals))


# ---------------------------------------------------------------------------------------------
# Setting up


def setup(database_url: str, port: int):
    os.environ.update(env_for(database_url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import psycopg
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)
    from catalog import services
    from governance import subscriptions

    users = [get_user_model().objects.create_user(f"bench_{i}", email=f"b{i}@example.org") for i in range(10)]
    datasets = [
        services.create_dataset(
            actor=users[0],
            namespace=f"s3://bench-{i % NAMESPACES}",
            name=f"table_{i}",
            sensitivity="internal",
        )
        for i in range(DATASETS)
    ]
    hook = f"http://127.0.0.1:{port}/hook"
    subs = []
    for i, ds in enumerate(datasets):
        subs.append(
            subscriptions.create_subscription(
                actor=users[i % 10], events=["*"], dataset=ds.urn, url=f"{hook}/{len(subs)}"
            )
        )
    for i in range(30):
        ns = f"s3://bench-{i % NAMESPACES}"
        subs.append(
            subscriptions.create_subscription(
                actor=users[i % 10], events=["*"], namespace=ns, url=f"{hook}/{len(subs)}"
            )
        )
    for i in range(10):
        subs.append(
            subscriptions.create_subscription(actor=users[i], events=["*"], url=f"{hook}/{len(subs)}")
        )
    return datasets, subs


def record_events(datasets, n: int, rate: float | None) -> float:
    """Record n events (one commit each), paced at ``rate`` per second (None: at once) → seconds."""
    from governance import events

    names = ("version.stored", "profile.finished", "quality.failed")
    start = time.monotonic()
    for i in range(n):
        if rate:
            lag = start + i / rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        ds = datasets[i % len(datasets)]
        data = {"dataset": events.dataset_ref(ds), "version": i, "status": "succeeded", "score": 0.5}
        events.record(names[i % 3], data, datasets=[ds], subject=f"dataset:{ds.pk}")
    return time.monotonic() - start


def wait_delivered(timeout: float) -> tuple[int, float]:
    """Wait until every event is fanned out and every delivery delivered → (deliveries, when)."""
    from governance.models import Delivery, Event

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        undispatched = Event.objects.filter(dispatched_at__isnull=True).exists()
        left = Delivery.objects.exclude(status="delivered").count()
        if not undispatched and not left:
            return Delivery.objects.count(), time.time()
        time.sleep(0.2)
    raise SystemExit(f"not delivered after {timeout:.0f} s: {left} deliveries left")


# ---------------------------------------------------------------------------------------------
# The baseline: a raw POST loop


def raw_posts(port: int, n: int, threads: int = 8) -> float:
    """n signed POSTs of a typical body from ``threads`` threads, a connection each → deliveries/s."""
    from governance import notifications

    body = notifications.encode(
        {
            "id": str(uuid.uuid4()),
            "event": "version.stored",
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "data": {"dataset": {"urn": "dataset:s3://bench-0:table_0"}, "version": 1},
        }
    )
    headers = {
        "Content-Type": "application/json",
        "X-Gouvernail-Event": "version.stored",
        "X-Gouvernail-Delivery": str(uuid.uuid4()),
        "X-Gouvernail-Signature": notifications.sign(body, "s"),
        "Connection": "close",
    }
    work: queue.Queue = queue.Queue()
    for i in range(n):
        work.put(i)

    def post():
        while True:
            try:
                work.get_nowait()
            except queue.Empty:
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/baseline", body, headers)
            conn.getresponse().read()
            conn.close()

    start = time.monotonic()
    pool = [threading.Thread(target=post) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return n / (time.monotonic() - start)


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * p))]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=11.1)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gv_events_bench")
    args = ap.parse_args()

    port_q, stop, dump = mp.Queue(), mp.Event(), mp.Queue()
    proc = mp.Process(target=receiver, args=(port_q, stop, dump), daemon=True)
    proc.start()
    port = port_q.get(timeout=30)
    print(f"load before: {uptime()}")
    datasets, subs = setup(args.database_url, port)
    print(f"{len(subs)} subscriptions, {DATASETS} datasets; receiver on port {port}")

    base_rate = raw_posts(port, args.baseline)
    print(f"baseline (raw POST loop, 8 threads, no database): {base_rate:,.0f} deliveries/s")

    log = Path(f"/tmp/{QUEUE}-worker.log")
    worker = _start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            QUEUE,
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{QUEUE}@%h",
        ],
        env_for(args.database_url),
        log,
    )
    try:
        time.sleep(8)  # the worker's start-up
        from governance.models import Delivery, Event

        took = record_events(datasets, args.events, args.rate)
        print(f"steady: {args.events} events recorded in {took:.0f} s ({args.events / took:.1f}/s)")
        steady_n, _ = wait_delivered(timeout=3600)
        occurred = {
            str(u): t.timestamp() for u, t in Event.objects.order_by("pk").values_list("uid", "occurred_at")
        }

        burst_from = Delivery.objects.count()
        t0 = time.time()
        record_events(datasets, args.burst, None)
        total, done_at = wait_delivered(timeout=3600)
        burst_rate = (total - burst_from) / (done_at - t0)
    finally:
        _stop(worker)
        stop.set()
    arrivals = dump.get(timeout=60)
    proc.join(10)

    hooks = [a for a in arrivals if a[1].startswith("/hook/")]
    first: dict[tuple[str, str], float] = {}
    for uid, path, at in hooks:
        first.setdefault((uid, path), at)
    lat = [at - occurred[uid] for (uid, _), at in first.items() if uid in occurred]
    print(
        f"deliveries: {steady_n} steady + {total - steady_n} burst; arrived {len(first)} distinct, "
        f"{len(hooks) - len(first)} twice"
    )
    assert len(first) == total, f"{total - len(first)} deliveries never arrived"
    assert steady_n == args.events * 16 and total == (args.events + args.burst) * 16, (steady_n, total)
    p99 = pct(lat, 0.99)
    print(
        f"steady latency (event → delivered): p50 {statistics.median(lat):.2f} s, p95 {pct(lat, 0.95):.2f} s, "
        f"p99 {p99:.2f} s, max {max(lat):.2f} s; p99 / 5 s target = {p99 / 5:.2f}"
    )
    print(
        f"burst drain: {burst_rate:,.0f} deliveries/s vs raw POST loop {base_rate:,.0f}/s = {burst_rate / base_rate:.2f}"
    )
    print(f"load after: {uptime()}")


if __name__ == "__main__":
    main()

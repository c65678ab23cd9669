"""Clearance benchmark: GET /api/v1/clearance for 5 datasets whose upstream lineage holds 50 nodes each,
on PostgreSQL with 100,000 catalog datasets and a lineage graph of 1,000,000 nodes.

Makes its own data in a database of its own (COPY), then measures:

1. the endpoint through the whole Django stack in this process (middleware, token authentication,
   DRF, the clearance service with its lineage walk), with Django's test Client: p50/p95/p99;
2. the floor: the same answer (per dataset: allowed, upstream blockers) computed by plain SQL
   queries over one psycopg connection, with no Django at all: p50/p95/p99, and the ratio;
3. the endpoint served by gunicorn on loopback, loaded by wrk (apt install wrk) for a bounded
   time: requests/s and p99.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gv_gov_bench .venv/bin/python bench/governance_clearance_bench.py

Options: --datasets N (100000), --nodes N (1000000), --reload, --repeat N (400), --duration S (20),
--workers N (gunicorn workers, 4), --connections N (wrk connections, 16), --skip-load.
"""

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gv_gov_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Production-like: DEBUG off (no query log kept in memory), persistent connections.
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Production's cache (Redis; this benchmark's own database number): clearance answers are cached there.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import psycopg  # noqa: E402


def ensure_database(url: str) -> None:
    """Create the benchmark's own database when it is missing."""
    m = re.match(r"postgres(?:ql)?://([^/]+)/([^?]+)", url)
    if not m:
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    dbname = m.group(2)
    with psycopg.connect(f"postgresql://{m.group(1)}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}"')


ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from catalog.models import Dataset  # noqa: E402
from governance import access_requests  # noqa: E402
from governance.models import AccessRequest  # noqa: E402

NS = "s3://bench-lake"
TARGETS = 5
UPSTREAM_DATASETS = 25  # + 25 jobs = 50 upstream nodes per target
SENSITIVITIES = ["public", "internal", "internal", "internal", "confidential", "restricted"]


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def target_tree(t: int) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Dataset names of target t's subgraph (index 0 is the target) and its jobs as (job, output, [inputs]).

    Job k writes dataset k and reads datasets 2k+1 and 2k+2 (those that exist): a binary tree of
    25 upstream datasets and 25 jobs, 50 upstream nodes, at most 5 datasets deep.
    """
    names = [
        f"target{t}/features" if i == 0 else f"target{t}/source_{i:02d}" for i in range(UPSTREAM_DATASETS + 1)
    ]
    jobs = []
    for k in range(UPSTREAM_DATASETS):
        inputs = [i for i in (2 * k + 1, 2 * k + 2) if i <= UPSTREAM_DATASETS]
        jobs.append((k, k, inputs))
    return names, jobs


def load(n_datasets: int, n_nodes: int, owner_id: int, steward_ids: list[int]) -> None:
    started = time.perf_counter()
    rng = random.Random(5)
    raw = psycopg.connect(**connection.get_connection_params())
    now = "2026-01-01T00:00:00Z"
    with raw.cursor() as cur:
        cur.execute(
            "TRUNCATE catalog_dataset, lineage_node, lineage_edge, governance_accessrequest, "
            "governance_modelversion, governance_registeredmodel RESTART IDENTITY CASCADE"
        )
        # The subgraphs the benchmark asks about come first; every other dataset is noise.
        special: list[tuple[str, str]] = []
        for t in range(TARGETS):
            names, _ = target_tree(t)
            for i, name in enumerate(names):
                sens = "internal" if i == 0 else SENSITIVITIES[i % len(SENSITIVITIES)]
                special.append((name, sens))
        rows = []
        for i in range(1, n_datasets + 1):
            if i <= len(special):
                name, sens = special[i - 1]
            else:
                name, sens = f"noise/{i:07d}", rng.choice(SENSITIVITIES)
            rows.append((i, NS, name, "", "", "", sens, "[]", "", "registered", name, now, now, owner_id))
        copy_rows(
            cur,
            "catalog_dataset",
            "id namespace name title description domain sensitivity sensitive_columns label_column origin "
            "search_text created_at updated_at owner_id".split(),
            rows,
        )
        copy_rows(
            cur,
            "catalog_dataset_stewards",
            ["dataset_id", "user_id"],
            ((i, s) for i in range(1, len(special) + 1) for s in steward_ids),
        )
        print(f"  {n_datasets:,} datasets ({time.perf_counter() - started:.0f} s)", flush=True)

        # Nodes: one DATASET node per catalog dataset, then JOB nodes up to n_nodes.
        n_jobs = n_nodes - n_datasets
        node_rows = (
            (i, "DATASET", f"dataset:{NS}:{name}", NS, name, i, "", "{}", "[]", now, now)
            for i, (name, _) in enumerate(((r[2], r[6]) for r in rows), start=1)
        )
        copy_rows(
            cur,
            "lineage_node",
            "id kind key namespace name dataset_id description facets owners created_at updated_at".split(),
            node_rows,
        )
        job_rows = (
            (
                n_datasets + j,
                "JOB",
                f"job:bench:job_{j:07d}",
                "bench",
                f"job_{j:07d}",
                None,
                "",
                "{}",
                "[]",
                now,
                now,
            )
            for j in range(1, n_jobs + 1)
        )
        copy_rows(
            cur,
            "lineage_node",
            "id kind key namespace name dataset_id description facets owners created_at updated_at".split(),
            job_rows,
        )
        print(f"  {n_nodes:,} nodes ({time.perf_counter() - started:.0f} s)", flush=True)

        # Edges: the target trees exactly; the noise jobs each read one noise dataset and write another.
        edges = set()
        per_target = UPSTREAM_DATASETS + 1
        job_id = n_datasets + 1
        for t in range(TARGETS):
            base = t * per_target + 1  # node id of the target dataset
            _, jobs = target_tree(t)
            for _, out, inputs in jobs:
                edges.add((job_id, base + out))
                for i in inputs:
                    edges.add((base + i, job_id))
                job_id += 1
        first_noise = len(special) + 1
        for j in range(job_id, n_datasets + n_jobs + 1):
            src = rng.randint(first_noise, n_datasets)
            dst = rng.randint(first_noise, n_datasets)
            edges.add((src, j))
            edges.add((j, dst))
        copy_rows(cur, "lineage_edge", ["src", "dst"], sorted(edges))
        print(f"  {len(edges):,} edges ({time.perf_counter() - started:.0f} s)", flush=True)
        for table in ("catalog_dataset", "lineage_node", "lineage_edge"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    raw.commit()
    raw.autocommit = True
    with raw.cursor() as cur:
        for table in ("catalog_dataset", "catalog_dataset_stewards", "lineage_node", "lineage_edge"):
            cur.execute(f"VACUUM ANALYZE {table}")
    raw.close()
    print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):6.2f} ms  p95 {percentile(values, 95):6.2f} ms  "
        f"p99 {percentile(values, 99):6.2f} ms  mean {statistics.mean(values):6.2f} ms"
    )


# The floor: the same answer from plain SQL, three round trips, no ORM, no HTTP, no DRF.
SQL_DATASETS = "SELECT id, namespace || ':' || name, sensitivity FROM catalog_dataset WHERE namespace = %s AND name = ANY(%s)"
SQL_UPSTREAM = """
WITH RECURSIVE up(origin, node, depth) AS (
    SELECT id, id, 0 FROM lineage_node WHERE key = ANY(%s) AND kind = 'DATASET'
    UNION SELECT w.origin, e.src, w.depth + 1 FROM up w JOIN lineage_edge e ON e.dst = w.node WHERE w.depth < 100)
SELECT o.key, n.key, n.dataset_id FROM up w JOIN lineage_node n ON n.id = w.node JOIN lineage_node o ON o.id = w.origin
WHERE n.kind = 'DATASET' AND w.node <> w.origin GROUP BY o.key, n.key, n.dataset_id
"""
SQL_GATES = """
SELECT d.id, d.sensitivity,
       EXISTS (SELECT 1 FROM governance_accessrequest_datasets rd JOIN governance_accessrequest r ON r.id = rd.accessrequest_id
               WHERE rd.dataset_id = d.id AND r.requester_id = %s AND r.purpose = %s AND r.status = 'approved'
                 AND (r.expires_at IS NULL OR r.expires_at > now()))
FROM catalog_dataset d WHERE d.id = ANY(%s)
"""


def sql_answer(cur, principal_id: int, names: list[str]) -> dict[str, tuple[bool, list[str]]]:
    asked = cur.execute(SQL_DATASETS, [NS, names]).fetchall()
    urns = [f"dataset:{NS}:{n}" for n in names]
    ups = cur.execute(SQL_UPSTREAM, [urns]).fetchall()
    ids = [a[0] for a in asked] + [u[2] for u in ups if u[2] is not None]
    gates = {
        i: (s, live) for i, s, live in cur.execute(SQL_GATES, [principal_id, "training", ids]).fetchall()
    }

    def ok(i):
        s, live = gates[i]
        return s in ("public", "internal") or live

    out = {}
    by_urn = {f"dataset:{NS}:{n}": i for i, n in ((a[0], a[1].split(":", 2)[-1]) for a in asked)}
    for urn in urns:
        blockers = [u[1] for u in ups if u[0] == urn and u[2] is not None and not ok(u[2])]
        out[urn] = (ok(by_urn[urn]) and not blockers, blockers)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_wrk(
    urls: list[str], token: str, *, duration: int, connections: int, workers: int, env: dict | None = None
) -> list[dict]:
    """Serve with gunicorn on loopback (``env`` added to its environment), load each URL with wrk for
    ``duration`` seconds."""
    wrk = shutil.which("wrk")
    if not wrk:
        print("  wrk not installed (apt-get install wrk): load test skipped")
        return []
    port = free_port()
    env = {**os.environ, "CONN_MAX_AGE": "600", **(env or {})}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )  # fmt: skip
    results = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        for url in urls:
            full = base + url
            # Warm every worker (imports, connections) before measuring.
            subprocess.run(
                [wrk, "-t1", f"-c{connections}", "-d3s", "-H", f"Authorization: Token {token}", full],
                capture_output=True, check=False,
            )  # fmt: skip
            out = subprocess.run(
                [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
                 "-H", f"Authorization: Token {token}", full],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            results.append(_parse_wrk(out))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return results


def _parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "non2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=400)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="Only the in-process and plain-SQL figures.")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL.")

    call_command("migrate", verbosity=0)
    User = get_user_model()
    owner = User.objects.get_or_create(username="bench_owner")[0]
    stewards = [User.objects.get_or_create(username=f"bench_steward_{i}")[0] for i in range(2)]
    requester = User.objects.get_or_create(username="bench_requester")[0]

    have_nodes = 0
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM lineage_node")
        have_nodes = cur.fetchone()[0]
    if args.reload or Dataset.objects.count() != args.datasets or have_nodes != args.nodes:
        print(
            f"Loading {args.datasets:,} datasets and a lineage graph of {args.nodes:,} nodes ...", flush=True
        )
        load(args.datasets, args.nodes, owner.pk, [s.pk for s in stewards])
    else:
        print(f"Reusing the {args.datasets:,} datasets and {have_nodes:,} nodes already loaded.")

    # The requester holds an approved training request for every gated dataset of the 5 subgraphs.
    names = [target_tree(t)[0] for t in range(TARGETS)]
    gated = list(
        Dataset.objects.filter(namespace=NS, name__in=[n for ns in names for n in ns])
        .exclude(sensitivity__in=["public", "internal"])
        .values_list("namespace", "name")
    )
    if not AccessRequest.objects.filter(requester=requester, status="approved").exists():
        req = access_requests.create_access_request(
            actor=requester,
            datasets=[f"dataset:{ns}:{n}" for ns, n in gated],
            purpose="training",
            justification="benchmark",
        )
        access_requests.approve_access_request(actor=stewards[0], request=req)
        access_requests.approve_access_request(actor=owner, request=req)
    token = Token.objects.get_or_create(user=requester)[0].key
    asked = [n[0] for n in names]
    urns = [f"dataset:{NS}:{n}" for n in asked]
    url = f"/api/v1/clearance?datasets={','.join(urns)}&purpose=training"

    from governance.clearance import upstream_of

    ups = upstream_of(urns)
    print(
        f"Asking for {len(urns)} datasets; upstream datasets per dataset: {[len(v) for v in ups.values()]} "
        f"(+ as many jobs = 50 nodes each); gated datasets approved: {len(gated)}"
    )

    # 1. Through the whole Django stack, in process: every answer computed (the cache off), then
    #    the same question again and again with answers cached (production's setting with Redis).
    from django.conf import settings

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    cached_setting = settings.CLEARANCE_CACHE_SECONDS or 300
    settings.CLEARANCE_CACHE_SECONDS = 0
    first = client.get(url)
    assert first.status_code == 200, first.content
    answer = first.json()

    def timed() -> tuple[list[float], float]:
        for _ in range(30):
            client.get(url)
        times = []
        cpu0 = time.process_time()
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        # CPU spent in this process per request (Django, DRF, the service; not PostgreSQL's share):
        # a figure that the machine's other load does not inflate.
        return times, (time.process_time() - cpu0) * 1000 / args.repeat

    stack, stack_cpu = timed()
    settings.CLEARANCE_CACHE_SECONDS = cached_setting
    assert client.get(url).json() == answer  # the cached answer is the computed one
    stack_cached, cached_cpu = timed()

    # 2. The floor: plain SQL over one connection.
    raw = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    with raw.cursor() as cur:
        floor_answer = sql_answer(cur, requester.pk, asked)
        for _ in range(30):
            sql_answer(cur, requester.pk, asked)
        floor = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sql_answer(cur, requester.pk, asked)
            floor.append((time.perf_counter() - t0) * 1000)
    raw.close()
    same = all(
        floor_answer[d["urn"]][0] == d["allowed"]
        and sorted(floor_answer[d["urn"]][1]) == sorted(d["upstream_blockers"])
        for d in answer["datasets"]
    )

    print()
    print(f"Load average (1, 5, 15 min) before measuring: {os.getloadavg()}")
    print(f"Clearance, 5 datasets x 50 upstream nodes, {args.datasets:,} datasets, {args.nodes:,}-node graph")
    print(f"  allowed={answer['allowed']}  same answer as plain SQL: {same}")
    print(f"  Django stack (test Client, in process), every answer computed: {summary(stack)}")
    print(f"  Django stack, the same question answered from the cache:      {summary(stack_cached)}")
    print(f"  plain SQL floor (psycopg, 3 queries):   {summary(floor)}")
    print(
        f"  Django stack CPU per request in this process (PostgreSQL not counted): {stack_cpu:.2f} ms computed,"
        f" {cached_cpu:.2f} ms cached"
    )
    print(f"  ratio p95 stack / floor: {percentile(stack, 95) / percentile(floor, 95):.1f}x")

    if args.skip_load:
        return
    # 3. gunicorn + wrk on loopback, bounded in time.
    print(
        f"\nLoad: gunicorn ({args.workers} sync workers) + wrk ({args.connections} connections, {args.duration} s)"
    )
    # The ceiling of this machine for any authenticated endpoint: one audit record by id (token
    # lookup + one primary-key read), through the same gunicorn, middleware and DRF.
    from governance.models import AuditRecord

    trivial = f"/api/v1/audit/{AuditRecord.objects.order_by('-seq').values_list('pk', flat=True).first()}/"
    wrk_opts = {"duration": args.duration, "connections": args.connections, "workers": args.workers}
    results = run_wrk([url, trivial], token, **wrk_opts)
    # The same server with the cache off: every answer computed (a pipeline's first question).
    results[1:1] = run_wrk([url], token, **wrk_opts, env={"CLEARANCE_CACHE_SECONDS": "0"})
    for label, result in zip(
        ["clearance, cached (5 x 50)", "clearance, computed each time", "one-row endpoint (ceiling)"],
        results,
        strict=False,
    ):
        print(
            f"  {label:28s} {result['rps']:6.0f} requests/s  p50 {result['p50']:7.2f} ms  "
            f"p99 {result['p99']:7.2f} ms  non-2xx: {result['non2xx']}"
        )
    if len(results) == 3:
        print(f"  clearance throughput / one-row endpoint: cached {results[0]['rps'] / results[2]['rps']:.2f},"
              f" computed {results[1]['rps'] / results[2]['rps']:.2f}")  # fmt: skip
        ok = results[0]["rps"] >= 500 and results[0]["p99"] <= 100
        print(f"  target >= 500 requests/s with p99 <= 100 ms (cached answers): {'MET' if ok else 'MISSED'}")
    print(f"  plain-SQL floor: {1000 / statistics.mean(floor):.0f} answers/s on one connection")
    print(f"  load average (1, 5, 15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

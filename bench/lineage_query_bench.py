"""Lineage query benchmark: GET /api/v1/lineage?nodeId=...&depth=20 on a 1,000,000-node,
2,000,000-edge graph on PostgreSQL.

Makes its own data: many pipelines shaped like real ones (12 layers of datasets, jobs with fan-in 2-4
reading from the previous layer or the one before, fan-out 1-2): 245 small pipelines (~1,000
nodes) and 12 large ones (~65,000 nodes), written with COPY straight into the lineage tables.
Start nodes are picked among mid-layer datasets by the size of their answer (300-500 nodes and
8,000-12,000 nodes at depth 20), measured with the floor query below.
Then measures, in this one process:

- the endpoint through the whole Django stack (middleware, token authentication, DRF, the walk,
  node loading, the Marquez-shaped answer, JSON rendering), with Django's test Client;
- the database's floor: one recursive SQL query returning the same node ids (upstream ∪ downstream
  within 20 hops), no Python around it;

and prints p50/p95 of both and the ratio, for answers of ~500 and ~10,000 nodes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gv_lin .venv/bin/python bench/lineage_query_bench.py

Options: --small N (245) --small-width W (45) --large N (12) --large-width W (3000) --repeat N (40)
--reload.
"""

import argparse
import io
import json
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gv_lin")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DEBUG"] = "0"  # production-like: no query log kept in memory
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

STARTS_FILE = Path(__file__).resolve().parent.parent / "var" / "bench" / "lineage_query_starts.json"
LAYERS = 12  # dataset layers after the sources; a hop dataset → job → dataset is 2 edges


def build_pipeline(
    rng: random.Random, p: int, width: int, next_id: int, nodes: io.StringIO, edges: io.StringIO
):
    """One layered pipeline → (next free id, [dataset ids per layer], node count, edge count)."""
    ns = f"s3://lake-{p % 17}"
    now = "2026-01-01 00:00:00+00"
    layers: list[list[int]] = []
    n_nodes = n_edges = 0

    def node(kind: str, name: str) -> int:
        nonlocal next_id, n_nodes
        i = next_id
        next_id += 1
        n_nodes += 1
        prefix = kind.lower()
        space = "pipelines" if kind == "JOB" else ns
        nodes.write(f"{i}\t{kind}\t{prefix}:{space}:{name}\t{space}\t{name}\t\t{{}}\t[]\t{now}\t{now}\n")
        return i

    sources = [node("DATASET", f"p{p}/raw/src_{k}") for k in range(max(4, width // 10))]
    layers.append(sources)
    for level in range(1, LAYERS + 1):
        layer: list[int] = []
        made = 0
        while made < width:
            job = node("JOB", f"p{p}.l{level}.job{made}")
            pool = layers[-1] + (layers[-2] if len(layers) > 1 and rng.random() < 0.2 else [])
            fan_in = rng.sample(pool, min(len(pool), rng.choice((2, 3, 3, 4, 4))))
            for src in fan_in:
                edges.write(f"{src}\t{job}\n")
                n_edges += 1
            for _ in range(rng.choice((1, 1, 1, 2))):
                out = node("DATASET", f"p{p}/l{level}/t{made}")
                edges.write(f"{job}\t{out}\n")
                n_edges += 1
                layer.append(out)
                made += 1
        layers.append(layer)
    return next_id, layers, n_nodes, n_edges


def load(args) -> dict:
    """Fill the lineage tables; returns {"small": [start ids], "large": [start ids]}."""
    rng = random.Random(42)
    candidates: dict[str, list[int]] = {"small": [], "large": []}
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE lineage_columnedge, lineage_runio, lineage_edge, lineage_node, lineage_run CASCADE"
        )
    next_id, total_nodes, total_edges = 1, 0, 0
    plan = [("large", args.large_width)] * args.large + [("small", args.small_width)] * args.small
    rng.shuffle(plan)
    t0 = time.perf_counter()
    raw = connection.connection  # psycopg connection under Django's wrapper
    for chunk_start in range(0, len(plan), 50):
        nodes, edges = io.StringIO(), io.StringIO()
        for p, (size, width) in enumerate(plan[chunk_start : chunk_start + 50], start=chunk_start):
            next_id, layers, n, e = build_pipeline(rng, p, width, next_id, nodes, edges)
            total_nodes += n
            total_edges += e
            for level in (3, 4, 5):
                candidates[size] += rng.sample(layers[level], 4 if size == "large" else 1)
        with raw.cursor() as cur:
            with cur.copy(
                "COPY lineage_node (id, kind, key, namespace, name, description, facets, owners, created_at, "
                "updated_at) FROM STDIN"
            ) as copy:
                copy.write(nodes.getvalue())
            with cur.copy("COPY lineage_edge (src, dst) FROM STDIN") as copy:
                copy.write(edges.getvalue())
    raw.commit()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('lineage_node', 'id'), (SELECT max(id) FROM lineage_node))"
        )
        cur.execute("ANALYZE lineage_node")
        cur.execute("ANALYZE lineage_edge")
    print(f"loaded {total_nodes:,} nodes, {total_edges:,} edges in {time.perf_counter() - t0:.1f}s")
    # Start nodes whose answers have the sizes the targets speak of: up to 500, and ~10,000 nodes.
    starts: dict[str, list[int]] = {}
    for size, lo, hi in (("small", 300, 500), ("large", 8_000, 12_000)):
        picked = []
        with connection.cursor() as cur:
            for start in candidates[size]:
                cur.execute(f"SELECT count(*) FROM ({FLOOR_SQL}) t", {"start": start, "depth": 20})
                if lo <= cur.fetchone()[0] <= hi:
                    picked.append(start)
                if len(picked) == 20:
                    break
        starts[size] = picked
        print(f"{size}: {len(picked)} start nodes with answers of {lo:,}-{hi:,} nodes")
    return starts


FLOOR_SQL = """
WITH RECURSIVE down(node, depth) AS (
    SELECT %(start)s::bigint, 0
    UNION SELECT e.dst, d.depth + 1 FROM down d JOIN lineage_edge e ON e.src = d.node WHERE d.depth < %(depth)s
), up(node, depth) AS (
    SELECT %(start)s::bigint, 0
    UNION SELECT e.src, u.depth + 1 FROM up u JOIN lineage_edge e ON e.dst = u.node WHERE u.depth < %(depth)s
)
SELECT node FROM down UNION SELECT node FROM up
"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=245)
    parser.add_argument("--small-width", type=int, default=45)
    parser.add_argument("--large", type=int, default=12)
    parser.add_argument("--large-width", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM lineage_node")
        have = cur.fetchone()[0]
    if args.reload or have < 900_000 or not STARTS_FILE.exists():
        starts = load(args)
        STARTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        STARTS_FILE.write_text(json.dumps(starts))
    else:
        starts = json.loads(STARTS_FILE.read_text())  # mid-layer datasets of small and large pipelines
        print(f"reusing the loaded graph ({have:,} nodes)")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM lineage_node")
        n_nodes = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM lineage_edge")
        n_edges = cur.fetchone()[0]
    print(f"graph: {n_nodes:,} nodes, {n_edges:,} edges")

    user, _ = get_user_model().objects.get_or_create(username="bench_lineage")
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    keys: dict[int, str] = {}
    with connection.cursor() as cur:
        for size in starts:
            cur.execute("SELECT id, key FROM lineage_node WHERE id = ANY(%s)", [starts[size]])
            keys.update(dict(cur.fetchall()))

    print(
        f"{'answer':>8} {'nodes':>7} {'API p50':>9} {'API p95':>9} {'SQL p50':>9} {'SQL p95':>9} {'ratio p95':>9}"
    )
    results = {}
    for size in ("small", "large"):
        api_times, sql_times, sizes = [], [], []
        for i in range(args.repeat + 3):
            start = starts[size][i % len(starts[size])]
            t = time.perf_counter()
            r = client.get("/api/v1/lineage", {"nodeId": keys[start], "depth": 20})
            api = time.perf_counter() - t
            assert r.status_code == 200, r.content[:300]
            n = len(r.json()["graph"])
            t = time.perf_counter()
            with connection.cursor() as cur:
                cur.execute(FLOOR_SQL, {"start": start, "depth": 20})
                floor_ids = {row[0] for row in cur.fetchall()}
            sql = time.perf_counter() - t
            assert len(floor_ids) == n, (len(floor_ids), n)
            if i >= 3:  # the first few warm the caches
                api_times.append(api * 1000)
                sql_times.append(sql * 1000)
                sizes.append(n)
        results[size] = (api_times, sql_times, sizes)
        a95, s95 = pct(api_times, 95), pct(sql_times, 95)
        print(
            f"{size:>8} {statistics.median(sizes):>7.0f} {statistics.median(api_times):>8.1f}ms {a95:>8.1f}ms "
            f"{statistics.median(sql_times):>8.1f}ms {s95:>8.1f}ms {a95 / s95:>8.2f}x"
        )
    small95, large95 = pct(results["small"][0], 95), pct(results["large"][0], 95)
    print(
        f"targets: ~500-node answers p95 {small95:.1f} ms (<= 50 ms: {'OK' if small95 <= 50 else 'MISSED'}); "
        f"~10,000-node answers p95 {large95:.1f} ms (<= 500 ms: {'OK' if large95 <= 500 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()

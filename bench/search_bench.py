"""Search benchmark: GET /api/v1/datasets/?q=<word> over 100,000 datasets x 20 columns on PostgreSQL.

Makes its own data (COPY into a database of its own), then measures, in this one process:

- the API through the whole Django stack (middleware, token authentication, DRF, filters, search,
  pagination with its count, serializers), with Django's test Client;
- the same question asked as bare SQL: ``search_text ILIKE '%word%'`` over the same rows, for the
  same answer shape (the count and the first page of 50);

and prints p50/p95 of both and the ratio, per word frequency and overall.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gv_cat_bench .venv/bin/python bench/search_bench.py

Options: --datasets N (default 100000), --columns N (20), --reload, --repeat N (requests per word).
"""

import argparse
import itertools
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gv_cat_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Production-like: DEBUG off (no query log kept in memory).
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402
import psycopg  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from catalog import search_index, search_text  # noqa: E402

NAMESPACES = [
    "postgres://warehouse.internal:5432",
    "s3://lake",
    "bigquery://analytics",
    "kafka://events:9092",
]
PREFIXES = ["dim", "fact", "stg", "raw", "int", "mart", "agg", "snap"]
DOMAINS = ["sales", "marketing", "finance", "risk", "logistics", "product", "hr", "support", ""]
SENSITIVITIES = ["public", "internal", "internal", "confidential", "restricted"]
TAGS = [f"tag{i}" for i in range(40)] + ["gold", "silver", "bronze", "pii", "deprecated", "certified"]
TYPES = ["string", "integer", "float", "boolean", "timestamp", "date"]
BUSINESS = (
    "customer order invoice payment refund shipment product inventory warehouse supplier account "
    "ledger revenue margin discount campaign session click impression conversion subscription churn "
    "loan credit fraud claim policy premium employee payroll ticket agent call chat review rating "
    "store region country currency price basket cart checkout delivery return vendor contract "
    "device sensor reading alert incident metric forecast budget expense asset portfolio trade "
    "quote position risk exposure limit branch atm card merchant transaction balance transfer"
).split()
COLUMN_WORDS = (
    "id key code name type status amount count total date time created updated deleted flag".split()
)
FILLER = "the of and for per with from by daily weekly monthly latest all active new old".split()


_CUM: dict[int, list[float]] = {}


def zipf_words(rng: random.Random, vocab: list[str], k: int) -> list[str]:
    # Word i is drawn with weight 1/(i+1): a few very common words and a long tail, as in real catalogs.
    if len(vocab) not in _CUM:
        _CUM[len(vocab)] = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    return rng.choices(vocab, cum_weights=_CUM[len(vocab)], k=k)


def make_vocab(rng: random.Random) -> list[str]:
    # The business words plus 3,000 made-up ones for the long tail (rare words, typical of team jargon).
    syllables = "ka lo mi ne ru ta vo shi pe da fu zo ri ba te".split()
    made_up = {"".join(rng.choices(syllables, k=3)) for _ in range(6000)}
    return BUSINESS + sorted(made_up - set(BUSINESS))[:3000]


def generate(n: int, n_columns: int, seed: int = 7):
    """Yield (dataset row, column rows, tags, search parts) for n datasets."""
    rng = random.Random(seed)
    vocab = make_vocab(rng)
    for i in range(1, n + 1):
        w = zipf_words(rng, vocab, 14)
        name = f"{rng.choice(PREFIXES)}_{w[0]}_{w[1]}_{i}"
        if i % 5 == 0:
            name = f"{w[2]}{w[3].capitalize()}/{name}"  # camel case and '/' too
        title = f"{w[0].capitalize()} {w[1]} by {w[4]}"
        description = " ".join([*w[5:12], rng.choice(FILLER), *zipf_words(rng, vocab, 6)]).capitalize() + "."
        tags = rng.sample(TAGS, k=rng.randint(0, 3))
        columns = []
        used = set()
        for pos in range(n_columns):
            col = "_".join([*zipf_words(rng, vocab, 1), rng.choice(COLUMN_WORDS)])
            if col in used:
                col = f"{col}_{pos}"
            used.add(col)
            col_desc = " ".join(zipf_words(rng, vocab, 5)) if rng.random() < 0.3 else ""
            columns.append((col, pos, rng.choice(TYPES), col_desc))
        row = {
            "id": i,
            "namespace": rng.choice(NAMESPACES),
            "name": name,
            "title": title,
            "description": description,
            "domain": rng.choice(DOMAINS),
            "sensitivity": rng.choice(SENSITIVITIES),
        }
        parts = search_text.search_parts(
            namespace=row["namespace"],
            name=name,
            title=title,
            description=description,
            tags=tags,
            columns=[(c[0], c[3], []) for c in columns],
        )
        yield row, columns, tags, parts


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load(n: int, n_columns: int, owners: list[int]) -> None:
    """Bulk-load with COPY; the search vectors and the narrow search table's rows are computed by
    the same SQL as index_dataset."""
    started = time.perf_counter()
    raw = psycopg.connect(**connection.get_connection_params())
    with raw.cursor() as cur:
        cur.execute("TRUNCATE catalog_dataset, catalog_tag, catalog_searchword RESTART IDENTITY CASCADE")
        for index in search_index.PG_SEARCH_INDEXES:  # faster to build once at the end
            cur.execute(f"DROP INDEX IF EXISTS {index}")
        tag_ids = {t: i + 1 for i, t in enumerate(TAGS)}
        copy_rows(cur, "catalog_tag", ["id", "name"], [(i, t) for t, i in tag_ids.items()])
        cur.execute(
            "CREATE TEMP TABLE bench_parts (id bigint, name text, title text, tags text, columns text, "
            "description text) ON COMMIT PRESERVE ROWS"
        )
        batch = 10_000
        words: set[str] = set()
        gen = generate(n, n_columns)
        done = 0
        while done < n:
            chunk = [next(gen) for _ in range(min(batch, n - done))]
            ds_rows, col_rows, tag_rows, part_rows = [], [], [], []
            for row, columns, tags, parts in chunk:
                text = "\n".join(
                    [row["name"], row["namespace"], *(parts[p] for p in search_text.PARTS if parts[p])]
                )
                ds_rows.append(
                    (
                        row["id"], row["namespace"], row["name"], row["title"], row["description"],
                        row["domain"], row["sensitivity"], "[]", "", "registered", text,
                        "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", owners[row["id"] % len(owners)], False, False,
                    )
                )  # fmt: skip
                for col, pos, typ, desc in columns:
                    col_rows.append((row["id"], col, pos, typ, desc, "[]", False, "[]", True))
                for t in tags:
                    tag_rows.append((row["id"], tag_ids[t]))
                part_rows.append((row["id"], *(parts[p] for p in search_text.PARTS)))
                words |= search_text.vocabulary(parts)
            copy_rows(
                cur,
                "catalog_dataset",
                "id namespace name title description domain sensitivity sensitive_columns label_column "
                "origin search_text created_at updated_at owner_id removed_at_source hidden".split(),
                ds_rows,
            )
            copy_rows(
                cur,
                "catalog_column",
                "dataset_id name position type description tags is_pii pii_kinds present".split(),
                col_rows,
            )
            copy_rows(cur, "catalog_dataset_tags", ["dataset_id", "tag_id"], tag_rows)
            copy_rows(cur, "bench_parts", ["id", *search_text.PARTS], part_rows)
            done += len(chunk)
            print(f"  loaded {done:,} datasets ({time.perf_counter() - started:.0f} s)", flush=True)
        copy_rows(cur, "catalog_searchword", ["word"], [(w,) for w in sorted(words)])
        raw.commit()  # deferred foreign-key checks run here, before the index is built
        vector_sql = search_index.PG_VECTOR_SQL
        for part in search_text.PARTS:
            vector_sql = vector_sql.replace("%s", f"p.{part}", 1)
        cur.execute(
            f"UPDATE catalog_dataset d SET search_vector = {vector_sql} FROM bench_parts p WHERE p.id = d.id"
        )
        # The narrow search table, by the statement index_dataset runs for one dataset.
        search_index.refresh_search_rows(cur, None)
        raw.commit()
        for index, sql in search_index.PG_SEARCH_INDEXES.items():
            cur.execute(sql.format(index))
        for table in ("catalog_dataset", "catalog_tag", "catalog_dataset_tags", "catalog_column"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        cur.execute("DROP TABLE bench_parts")
    raw.commit()
    raw.autocommit = True
    with raw.cursor() as cur:
        # FULL: the UPDATE above left a dead copy of every row; plain VACUUM then sets the
        # visibility map so that counts can be answered from the index bitmap.
        cur.execute("VACUUM FULL catalog_dataset")
        cur.execute("VACUUM ANALYZE catalog_dataset")
        cur.execute("VACUUM ANALYZE catalog_dataset_tags")
        cur.execute("VACUUM ANALYZE catalog_column")
        cur.execute("VACUUM ANALYZE catalog_datasetsearch")
    raw.close()
    print(f"  loaded and indexed in {time.perf_counter() - started:.0f} s", flush=True)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL.")

    call_command("migrate", verbosity=0)
    User = get_user_model()
    owners = [User.objects.get_or_create(username=f"bench_owner_{i}")[0].pk for i in range(20)]
    from catalog.models import Dataset

    have = Dataset.objects.count()
    if args.reload or have != args.datasets:
        print(f"Loading {args.datasets:,} datasets x {args.columns} columns ...", flush=True)
        load(args.datasets, args.columns, owners)
    else:
        print(f"Reusing the {have:,} datasets already loaded.")
        from catalog.models import SearchWord

        if not SearchWord.objects.exists():  # loaded before the vocabulary existed
            words = set()
            for _, _, _, parts in generate(args.datasets, args.columns):
                words |= search_text.vocabulary(parts)
            SearchWord.objects.bulk_create([SearchWord(word=w) for w in sorted(words)], batch_size=5000)
            print(f"  vocabulary: {len(words):,} words")

    # Words by how many datasets hold them (as the index sees them: ts_stat over the vectors),
    # among the generator's own words, in tiers of frequency a user may type.
    vocab = set(make_vocab(random.Random(7)))
    with connection.cursor() as cur:
        cur.execute("SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM catalog_dataset')")
        doc_freq = {w: c for w, c in cur.fetchall() if w in vocab}
    n = args.datasets
    tiers = {
        "rare (<=0.2%)": [w for w, c in doc_freq.items() if 5 <= c <= n * 0.002 and len(w) > 4],
        "medium (0.5-2%)": [w for w, c in doc_freq.items() if n * 0.005 <= c <= n * 0.02 and len(w) > 4],
        "common (5-20%)": [w for w, c in doc_freq.items() if n * 0.05 <= c <= n * 0.2 and len(w) > 3],
    }
    rng = random.Random(11)
    words = {tier: rng.sample(sorted(ws), min(5, len(ws))) for tier, ws in tiers.items() if ws}
    # Misspelt medium words (two middle letters swapped): nothing matches, the vocabulary corrects them.
    if "medium (0.5-2%)" in words:
        words["typo of a medium word"] = [w[:2] + w[3] + w[2] + w[4:] for w in words["medium (0.5-2%)"]]
    exact = Dataset.objects.order_by("?").values_list("name", flat=True)[:3]
    words["exact name"] = list(exact)

    user = User.objects.get(pk=owners[0])
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")

    def api(q: str) -> tuple[float, int]:
        t = time.perf_counter()
        r = client.get("/api/v1/datasets/", {"q": q})
        elapsed = time.perf_counter() - t
        assert r.status_code == 200, r.content[:300]
        return elapsed, r.json()["count"]

    # The baseline gets a plain psycopg connection of its own: no Django in the way.
    raw = psycopg.connect(**connection.get_connection_params(), autocommit=True)

    def ilike(q: str) -> tuple[float, int]:
        t = time.perf_counter()
        with raw.cursor() as cur:
            pattern = f"%{q}%"
            cur.execute("SELECT count(*) FROM catalog_dataset WHERE search_text ILIKE %s", [pattern])
            count = cur.fetchone()[0]
            cur.execute(
                "SELECT id, namespace, name, title FROM catalog_dataset WHERE search_text ILIKE %s "
                "ORDER BY namespace, name LIMIT 50",
                [pattern],
            )
            cur.fetchall()
        return time.perf_counter() - t, count

    for tier_words in words.values():  # warm caches (both sides alike)
        for w in tier_words:
            api(w)
            ilike(w)

    print()
    print(
        f"load average before measuring: {os.getloadavg()} on {os.cpu_count()} CPUs (other work shares them)"
    )
    print(
        f"{'words':<18} {'n':>4} {'matches':>9} {'API p50':>9} {'API p95':>9} {'ILIKE p50':>10} {'ILIKE p95':>10} {'ratio p95':>10}"
    )
    all_api, all_sql = [], []
    for tier, tier_words in words.items():
        api_t, sql_t, counts = [], [], []
        for _ in range(args.repeat):
            for w in tier_words:
                t, c = api(w)
                api_t.append(t)
                counts.append(c)
                sql_t.append(ilike(w)[0])
        all_api += api_t
        all_sql += sql_t
        a95, s95 = percentile(api_t, 95), percentile(sql_t, 95)
        print(
            f"{tier:<18} {len(api_t):>4} {statistics.median(counts):>9.0f} "
            f"{statistics.median(api_t) * 1000:>8.1f}ms {a95 * 1000:>8.1f}ms "
            f"{statistics.median(sql_t) * 1000:>9.1f}ms {s95 * 1000:>9.1f}ms {a95 / s95:>10.2f}"
        )
    a95, s95 = percentile(all_api, 95), percentile(all_sql, 95)
    print(
        f"{'ALL':<18} {len(all_api):>4} {'':>9} {statistics.median(all_api) * 1000:>8.1f}ms {a95 * 1000:>8.1f}ms "
        f"{statistics.median(all_sql) * 1000:>9.1f}ms {s95 * 1000:>9.1f}ms {a95 / s95:>10.2f}"
    )
    print()
    print(f"Target: API p95 <= 50 ms -> {'MET' if a95 <= 0.050 else 'MISSED'} ({a95 * 1000:.1f} ms); ")
    print(f"API p95 / bare ILIKE p95 = {a95 / s95:.2f} (below 1: the API with full-text search is faster)")
    print("words used:", {t: w for t, w in words.items()})
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""Web UI benchmark: server time of the search page and of a 200-column dataset page over 100,000
datasets on PostgreSQL, and the time a 300-node lineage page takes to be drawn and usable in chromium.

Makes its own data in a database of its own (100,000 datasets x 20 columns with bench/search_bench.py's
COPY loader; one dataset of 200 columns profiled in-process; a 300-node lineage graph ingested as
OpenLineage events), then measures in this one process with Django's test Client (whole stack:
middleware, session, view, selectors, templates), each page beside a baseline measured the same way:

- search page  vs  the API's answer to the same question (GET /api/v1/datasets/?q=...),
- the search page's facet sidebar, which a search matching over 20,000 datasets fetches after its
  results (catalog.search_page.FACETS_INLINE_MAX)  vs  the API's answer with ?facets=true,
- dataset page vs  the API's dataset detail (GET /api/v1/datasets/{id}/, which holds the 200 columns),
- profile panel vs the API's profile of the same version,
- lineage page vs  the API's Marquez-shaped graph (GET /api/v1/lineage?nodeId=...).

Then the lineage page in headless chromium (Playwright, DEBUG on so that runserver serves the static
files): time from navigation start until graph.js has made the SVG interactive (window.gvGraphReadyAt).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gv_ui_bench .venv/bin/python bench/ui_pages_bench.py

Options: --datasets N (100000), --repeat N (requests per case, 30), --reload, --no-browser.
"""

import argparse
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gv_ui_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DEBUG"] = "0"  # production-like: cached templates, no query log
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"  # the 200-column profile runs in this process
# DEBUG off serves hashed static names from a manifest: collect them once into a folder of our own.
os.environ.setdefault("STATIC_ROOT", "/tmp/gv_ui_bench_static")

import psycopg  # noqa: E402


def ensure_database(url: str) -> None:
    m = re.match(r"postgres(?:ql)?://([^/]+)/([^?]+)", url)
    if not m:
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    with psycopg.connect(f"postgresql://{m.group(1)}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [m.group(2)]).fetchone():
            conn.execute(f'CREATE DATABASE "{m.group(2)}"')


ensure_database(os.environ["DATABASE_URL"])

import search_bench  # noqa: E402  (sets Django up; its loader fills catalog tables with COPY)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from catalog import columns as catalog_columns  # noqa: E402
from catalog import selectors as catalog_selectors  # noqa: E402
from catalog import services as catalog_services  # noqa: E402
from catalog import versions as catalog_versions  # noqa: E402
from catalog.models import Dataset  # noqa: E402
from lineage import ingest as lineage_services  # noqa: E402
from lineage.tests.events import ds, run_event  # noqa: E402

WIDE = ("s3://ui-bench", "wide/table_200_columns")
LINEAGE_NS = "s3://ui-bench-lineage"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))]


def wide_dataset(owner) -> Dataset:
    """A dataset with 200 documented columns and a profiled version (profiling runs eagerly here)."""
    existing = Dataset.objects.filter(namespace=WIDE[0], name=WIDE[1]).first()
    if existing is not None and existing.versions.filter(profile_status="succeeded").exists():
        return existing
    if existing is not None:
        catalog_services.delete_dataset(actor=owner, dataset=existing)
    dataset = catalog_services.create_dataset(
        actor=owner,
        namespace=WIDE[0],
        name=WIDE[1],
        title="A wide table",
        description="200 columns, **documented**, to measure the dataset page.",
        sensitivity="confidential",
        sensitive_columns=["c001_group"],
        label_column="c000_label",
        positive_label=1,
        tags=["bench", "wide"],
    )
    rng = random.Random(5)
    names = ["c000_label", "c001_group"] + [
        f"c{i:03d}_{rng.choice(['amount', 'count', 'code', 'name'])}" for i in range(2, 200)
    ]
    rows = []
    for r in range(500):
        row = [str(r % 2), rng.choice("ABC")]
        for name in names[2:]:
            row.append(
                str(rng.randint(0, 1000))
                if not name.endswith(("code", "name"))
                else rng.choice(["x", "y", "z", "w"])
            )
        rows.append(",".join(row))
    body = (",".join(names) + "\n" + "\n".join(rows) + "\n").encode()
    catalog_versions.add_version_from_upload(
        actor=owner, dataset=dataset, upload=SimpleUploadedFile("wide.csv", body, content_type="text/csv")
    )
    for col in list(dataset.columns.all())[:200:3]:
        catalog_columns.update_column(
            actor=owner, column=col, description=f"What {col.name} means, in a sentence.", tags=["doc"]
        )
    dataset.refresh_from_db()
    return dataset


def lineage_300(owner) -> str:
    """A layered pipeline of about 300 nodes converging on one dataset; returns that dataset's node id."""
    final = f"dataset:{LINEAGE_NS}:final/scores"
    from lineage.selectors import node_exists

    if node_exists(final):
        return final
    rng = random.Random(3)
    layer = [f"raw/source_{i:03d}" for i in range(100)]
    for i in range(0, 100, 17):  # a few restricted sources, so blocked nodes are drawn too
        catalog_services.ensure_dataset(namespace=LINEAGE_NS, name=layer[i], actor=owner)
        d = Dataset.objects.get(namespace=LINEAGE_NS, name=layer[i])
        catalog_services.update_dataset(actor=owner, dataset=d, check=False, sensitivity="restricted")
    level = 1
    lower: list[str] = []
    while len(layer) > 1:
        nxt = []
        for j in range(0, len(layer), 2):
            inputs = layer[j : j + 2] + ([rng.choice(lower)] if lower and rng.random() < 0.3 else [])
            out = f"level{level}/table_{j // 2:03d}"
            lineage_services.ingest_event(
                body=run_event(
                    f"build_level{level}_{j // 2:03d}",
                    inputs=[ds(LINEAGE_NS, n) for n in inputs],
                    outputs=[ds(LINEAGE_NS, out)],
                ),
                actor=owner,
            )
            nxt.append(out)
        lower, layer, level = layer, nxt, level + 1
    lineage_services.ingest_event(
        body=run_event("score", inputs=[ds(LINEAGE_NS, layer[0])], outputs=[ds(LINEAGE_NS, "final/scores")]),
        actor=owner,
    )
    return final


def timed(client: Client, url: str, params: dict | None = None, *, cold: bool = False, **headers) -> float:
    if cold:
        cache.clear()  # the search page keeps facet counts 30 s for paging; measure without that help
    t = time.perf_counter()
    r = client.get(url, params or {}, **headers)
    elapsed = time.perf_counter() - t
    assert r.status_code == 200, (url, r.status_code, r.content[:300])
    return elapsed


def compare(label: str, page, base, repeat: int) -> dict:
    page(), base()  # warm
    p, b = [], []
    for _ in range(repeat):
        p.append(page())
        b.append(base())
    row = {
        "label": label,
        "p50": statistics.median(p) * 1000,
        "p95": pct(p, 95) * 1000,
        "b50": statistics.median(b) * 1000,
        "b95": pct(b, 95) * 1000,
    }
    row["ratio"] = row["p95"] / row["b95"]
    print(
        f"{label:<46} {row['p50']:>8.1f} {row['p95']:>8.1f} {row['b50']:>9.1f} {row['b95']:>9.1f} {row['ratio']:>7.2f}",
        flush=True,
    )
    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_lineage(node: str, session_key: str, runs: int = 5) -> list[dict]:
    """Open the lineage page in chromium several times; time to interactive from navigation start."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "DEBUG": "1", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        out = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )  # fmt: skip
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies(
                [{"name": "sessionid", "value": session_key, "url": f"http://127.0.0.1:{port}"}]
            )
            page = context.new_page()
            url = f"http://127.0.0.1:{port}/lineage/?node={node}&depth=20&direction=upstream"
            for i in range(runs + 1):
                page.goto(url)
                page.wait_for_function("window.gvGraphReadyAt !== undefined")
                timing = page.evaluate(
                    """() => { const n = performance.getEntriesByType('navigation')[0];
                       return {ready: window.gvGraphReadyAt, ttfb: n.responseStart, dom: n.domContentLoadedEventEnd,
                               nodes: document.querySelectorAll('#lineage-graph .node').length}; }"""
                )
                # Usable: a wheel zoom and a drag are applied (the viewBox changes) right after.
                before = page.get_attribute("#lineage-graph", "viewBox")
                page.mouse.move(640, 600)
                page.mouse.wheel(0, -300)
                page.wait_for_function(
                    f"document.getElementById('lineage-graph').getAttribute('viewBox') !== '{before}'"
                )
                if i:  # the first load warms the server and the browser's cache of static files
                    out.append(timing)
            browser.close()
        return out
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    User = get_user_model()
    owners = [User.objects.get_or_create(username=f"bench_owner_{i}")[0].pk for i in range(20)]
    bulk = Dataset.objects.exclude(namespace__startswith="s3://ui-bench").count()
    if args.reload or bulk != args.datasets:
        print(
            f"Loading {args.datasets:,} datasets x 20 columns (bench/search_bench.py's loader) ...",
            flush=True,
        )
        search_bench.load(args.datasets, 20, owners)
    else:
        print(f"Reusing the {bulk:,} datasets already loaded.")
    owner = User.objects.get(pk=owners[0])
    print("Preparing the 200-column dataset (profiled here) and the 300-node lineage ...", flush=True)
    wide = wide_dataset(owner)
    final = lineage_300(owner)
    print(f"datasets in the catalog: {Dataset.objects.count():,}; wide dataset id {wide.pk}, "
          f"{wide.columns.count()} columns")  # fmt: skip

    viewer = User.objects.get_or_create(username="bench_viewer")[0]
    web = Client()
    web.force_login(viewer)
    token, _ = Token.objects.get_or_create(user=viewer)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    version = catalog_selectors.version_of(wide, None)

    print()
    print(
        f"load average before measuring: {os.getloadavg()} on {os.cpu_count()} CPUs (shared with other work)"
    )
    print(f"{'case (ms)':<46} {'page p50':>8} {'page p95':>8} {'base p50':>9} {'base p95':>9} {'ratio95':>7}")
    rows = []
    words = {
        "common word": "customer",
        "rarer word": "ledger",
        "two words": "order payment",
        "exact name": None,
    }
    sample = (
        Dataset.objects.exclude(namespace__startswith="s3://ui-bench")
        .order_by("pk")
        .values_list("name", flat=True)[500]
    )
    words["exact name"] = sample
    rows.append(compare("search page, no query (newest first)",
                        lambda: timed(web, "/datasets/", cold=True), lambda: timed(api, "/api/v1/datasets/"), args.repeat))  # fmt: skip
    for label, q in words.items():
        rows.append(compare(f"search page, {label}",
                            lambda q=q: timed(web, "/datasets/", {"q": q}, cold=True),
                            lambda q=q: timed(api, "/api/v1/datasets/", {"q": q}), args.repeat))  # fmt: skip
    rows.append(compare("search page, word + sensitivity facet",
                        lambda: timed(web, "/datasets/", {"q": "customer", "sensitivity": "restricted"}, cold=True),
                        lambda: timed(api, "/api/v1/datasets/", {"q": "customer", "sensitivity": "restricted"}),
                        args.repeat))  # fmt: skip
    rows.append(compare("search page, next page of the same search",
                        lambda: timed(web, "/datasets/", {"q": "customer", "page": 3}),
                        lambda: timed(api, "/api/v1/datasets/", {"q": "customer", "page": 2}), args.repeat))  # fmt: skip
    rows.append(compare("search page, page 40",
                        lambda: timed(web, "/datasets/", {"q": "customer", "page": 40}, cold=True),
                        lambda: timed(api, "/api/v1/datasets/", {"q": "customer", "page": 16}), args.repeat))  # fmt: skip
    # A word found in (nearly) every dataset shows its results without the facet counts; the
    # sidebar then fetches them (htmx): measured on its own, beside the same API question with facets.
    rows.append(compare("facet sidebar (htmx) of the common word",
                        lambda: timed(web, "/datasets/facets/", {"q": "customer"}, cold=True, HTTP_HX_REQUEST="true"),
                        lambda: timed(api, "/api/v1/datasets/", {"q": "customer", "facets": "true"}), args.repeat))  # fmt: skip
    editor = Client()
    editor.force_login(owner)  # the owner sees an Edit button per column: the heavier page
    rows.append(compare("dataset page, 200 columns (as its owner)",
                        lambda: timed(editor, f"/datasets/{wide.pk}/"),
                        lambda: timed(api, f"/api/v1/datasets/{wide.pk}/"), args.repeat))  # fmt: skip
    rows.append(compare("profile panel (htmx), 200 columns",
                        lambda: timed(web, f"/datasets/{wide.pk}/profile/panel/", HTTP_HX_REQUEST="true"),
                        lambda: timed(api, f"/api/v1/datasets/{wide.pk}/versions/{version.number}/profile/"),
                        args.repeat))  # fmt: skip
    rows.append(compare("lineage page, ~300 nodes (server)",
                        lambda: timed(web, "/lineage/", {"node": final, "depth": 20, "direction": "upstream"}),
                        lambda: timed(api, "/api/v1/lineage", {"nodeId": final, "depth": 20, "direction": "upstream"}),
                        max(10, args.repeat // 3)))  # fmt: skip
    search_p95 = max(r["p95"] for r in rows if r["label"].startswith("search page"))
    page_p95 = next(r["p95"] for r in rows if r["label"].startswith("dataset page"))
    print()
    print(
        f"Target search page p95 <= 150 ms (worst case above): {search_p95:.1f} ms -> {'MET' if search_p95 <= 150 else 'MISSED'}"
    )
    sidebar_p95 = next(r["p95"] for r in rows if r["label"].startswith("facet sidebar"))
    print(f"  (the facet sidebar of a search matching the whole catalog follows in p95 {sidebar_p95:.1f} ms)")
    print(
        f"Target dataset page (200 columns) p95 <= 150 ms: {page_p95:.1f} ms -> {'MET' if page_p95 <= 150 else 'MISSED'}"
    )

    if not args.no_browser:
        web.get("/")  # make sure the session row is saved
        timings = browser_lineage(final, web.cookies["sessionid"].value)
        ready = [t["ready"] for t in timings]
        print()
        print(
            f"lineage page in chromium, {timings[0]['nodes']} nodes drawn, {len(ready)} loads after a warm-up:"
        )
        print(f"  server first byte  p50 {statistics.median(t['ttfb'] for t in timings):.0f} ms")
        print(f"  DOMContentLoaded   p50 {statistics.median(t['dom'] for t in timings):.0f} ms")
        print(f"  interactive (pan/zoom bound) p50 {statistics.median(ready):.0f} ms, max {max(ready):.0f} ms "
              f"-> target 1000 ms {'MET' if max(ready) <= 1000 else 'MISSED'}")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

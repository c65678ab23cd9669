"""What hiding datasets costs search: the same searches with and without the hidden condition, in one
process, alternated, so that the machine's load weighs on both alike.

Reuses the database ``bench/search_bench.py`` loaded (run that first). For each word it times the
narrow search table's page with facets (``catalog.search_table.search_page``, what the API's and the
search page's searches run on PostgreSQL) as staff sees it (no condition: the code path before hidden
datasets) and as a user who sees no hidden dataset (``NOT s.hidden``), plus the whole-catalog counts
(``narrow_counts``: trigger-kept counts, plus the hidden rows a user may see), and prints p50/p95 of
each and the ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gv_cat_bench .venv/bin/python bench/hidden_search_bench.py
"""

import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gv_cat_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")

import django  # noqa: E402

django.setup()

from catalog.search_table import narrow_counts, search_page  # noqa: E402

WORDS = ["lotezo", "petaka", "bamita", "merchant", "baneka", "loetzo", "customer", "account"]
REPEAT = int(os.environ.get("REPEAT", "15"))


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs")
    cases = {
        "search, no hidden condition (staff)": lambda w: search_page(
            w, offset=0, limit=50, facets=True, hidden_seen=None
        ),
        "search, NOT hidden (everyone else)": lambda w: search_page(w, offset=0, limit=50, facets=True),
        "search, NOT hidden OR id = ANY(3 ids)": lambda w: search_page(
            w, offset=0, limit=50, facets=True, hidden_seen=[1, 2, 3]
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for w in WORDS:  # warm up
        for f in cases.values():
            f(w)
    for _ in range(REPEAT):
        for w in WORDS:
            for name, f in cases.items():  # alternated: load weighs on each alike
                t = time.perf_counter()
                f(w)
                times[name].append(time.perf_counter() - t)
    counts = {"counts, staff": None, "counts, everyone else": ()}
    for name in counts:
        times[name] = []
    for _ in range(REPEAT * 4):
        for name, seen in counts.items():
            t = time.perf_counter()
            narrow_counts(hidden_seen=seen)
            times[name].append(time.perf_counter() - t)
    base = times["search, no hidden condition (staff)"]
    for name, ts in times.items():
        print(
            f"{name:42s} p50 {p(ts, 0.5):7.1f} ms  p95 {p(ts, 0.95):7.1f} ms  mean {statistics.mean(ts) * 1000:7.1f}"
        )
    hid = times["search, NOT hidden (everyone else)"]
    print(f"ratio p95 NOT hidden / no condition: {p(hid, 0.95) / p(base, 0.95):.2f}")
    print(f"ratio p50 NOT hidden / no condition: {p(hid, 0.5) / p(base, 0.5):.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

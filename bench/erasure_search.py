"""An erasure's search of one version (issue 18, part 6): the value looked for in the personal-data
column only (column projection, profiling.value_search) against reading every column of the same
file once (the profile's reading pass, the floor of any whole-file work). Ratio < 1: the search
reads a fraction of the bytes' work.

    .venv/bin/python bench/erasure_search.py [--rows 1000000] [--repeat 3] [--dir /tmp/gouvernail-bench]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from catalog.redaction import Needle  # noqa: E402
from profiling.engine.readers import iter_batches  # noqa: E402
from profiling.value_search import _matches  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(18)
    frame = pd.DataFrame({f"n{i}": rng.normal(size=rows).round(4) for i in range(10)})
    frame.insert(0, "email", [f"user{i}@example.org" for i in rng.integers(0, rows, rows)])
    frame.insert(1, "city", rng.choice(["Lyon", "Paris", "Nice", "Lille"], rows))
    frame.to_csv(path, index=False)


def search(path: Path, needle: Needle) -> int:
    return sum(
        _matches(b.column("email"), needle) for b in iter_batches(str(path), format="csv", columns=["email"])
    )


def read_all(path: Path) -> int:
    return sum(b.num_rows for b in iter_batches(str(path), format="csv"))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/gouvernail-bench")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"erasure-{args.rows}.csv"
    if not path.exists():
        make_csv(path, args.rows)
    needle = Needle("USER42@example.org")
    print(f"load before: {os.getloadavg()}")
    found = search(path, needle)
    t_search = best(lambda: search(path, needle), args.repeat)
    t_all = best(lambda: read_all(path), args.repeat)
    print(f"{args.rows} rows x 12 columns, {path.stat().st_size / 1e6:.0f} MB, value found in {found} rows")
    print(f"search (email column only): {t_search:.2f} s; read every column: {t_all:.2f} s")
    print(f"ratio search / full read: {t_search / t_all:.2f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

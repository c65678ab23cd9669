"""Differentially private release benchmark: a DP release of a 1,000,000-row, 12-column version
against the exact profile of the same file and columns, in the same run (target: ratio <= 2).

Makes its own data (bench/profile_bench.py's reference table, fixed seed) as CSV, then measures:
  - ``profile_file`` of the file (the exact profile, as the job computes it): the baseline;
  - the DP release as profiling.privacy_budget makes it: the same reader (``iter_batches``, the
    columns with steward settings) and ``compute_release`` (one OpenDP composition), with bounds
    for the numeric columns and categories for the others (``signup``, a timestamp, is omitted: a
    release covers numbers and categories);
and prints both, the ratio, and the load average (the machine may be shared).

    .venv/bin/python bench/dp_release_bench.py [--rows 1000000] [--repeat 2] [--dir /tmp/gv-bench]
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import pyarrow as pa  # noqa: E402
from profile_bench import CITIES, SENSITIVE, best_of, make_reference_csv  # noqa: E402

from profiling.engine import profile_file  # noqa: E402
from profiling.engine.readers import iter_batches  # noqa: E402
from profiling.privacy import ColumnSpec, compute_release  # noqa: E402


def specs(rows: int) -> list[ColumnSpec]:
    return [
        ColumnSpec("id", lower=0, upper=rows, bins=20),
        ColumnSpec("age", lower=0, upper=120, bins=12),
        ColumnSpec("income", lower=0, upper=200_000, bins=20),
        ColumnSpec("score", lower=-5, upper=5, bins=20),
        ColumnSpec("gender", categories=("female", "male", "other")),
        ColumnSpec("city", categories=tuple(CITIES)),
        ColumnSpec("signup", lower=0, upper=1),  # a timestamp: omitted, costs nothing
        ColumnSpec("nullable", lower=0, upper=100, bins=10),
        ColumnSpec("note", categories=("alpha", "bravo", "charlie")),
        ColumnSpec("email", categories=("nobody@example.org",)),
        ColumnSpec("visits", lower=0, upper=20, bins=20),
        ColumnSpec("label", categories=("0", "1")),
    ]


def dp_release(path: Path, rows: int):
    wanted = specs(rows)
    batches = list(iter_batches(str(path), format="csv", columns=[s.name for s in wanted]))
    return compute_release(pa.Table.from_batches(batches), wanted, epsilon=1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/gv-bench")
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dp-{args.rows}.csv"
    if not path.exists():
        make_reference_csv(path, args.rows)
    exact, result, exact_cpu = best_of(
        args.repeat, lambda: profile_file(str(path), format="csv", **SENSITIVE)
    )
    dp, release, dp_cpu = best_of(args.repeat, lambda: dp_release(path, args.rows))
    print(f"{args.rows} rows x {len(result.columns)} columns ({path.stat().st_size / 1e6:.0f} MB CSV)")
    print(f"exact profile (profile_file)   wall {exact:6.2f} s  cpu {exact_cpu:6.2f} s")
    print(
        f"DP release (read + OpenDP)     wall {dp:6.2f} s  cpu {dp_cpu:6.2f} s   "
        f"columns released {len(release.columns)}, omitted {[o['column'] for o in release.omitted]}, "
        f"ε {release.epsilon:.6f}"
    )
    print(f"ratio DP / exact: {dp / exact:.2f} (target <= 2)   load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

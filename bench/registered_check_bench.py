"""Cost of checking a path-registered version's file before profiling it (QA F19): the size and a
streamed sha256 of the reference 1M-row CSV, against profiling the same file (the baseline,
measured here too) and DuckDB ``SUMMARIZE`` of it.

    .venv/bin/python bench/registered_check_bench.py [--rows 1000000] [--repeat 3]
"""

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    import duckdb
    from profile_bench import make_reference_csv

    from profiling.engine import profile_file
    from profiling.runner import verify_registered_file

    with tempfile.TemporaryDirectory() as tmp:
        path = make_reference_csv(Path(tmp) / "reference.csv", args.rows)
        data = path.read_bytes()
        version = SimpleNamespace(number=1, size_bytes=len(data), checksum=hashlib.sha256(data).hexdigest())
        del data
        check = timed(lambda: verify_registered_file(version=version, path=str(path)), args.repeat)
        profile = timed(lambda: profile_file(str(path), format="csv"), args.repeat)

        def summarize():
            con = duckdb.connect()
            try:
                con.sql(f"SUMMARIZE SELECT * FROM read_csv_auto('{path}')").fetchall()
            finally:
                con.close()

        summ = timed(summarize, args.repeat)
        size_mb = path.stat().st_size / 1e6
    print(f"file: {args.rows} rows, {size_mb:.1f} MB; median of {args.repeat}")
    print(f"check (size + sha256):  {check:.3f} s  ({size_mb / check:.0f} MB/s)")
    print(f"profile_file:           {profile:.3f} s")
    print(f"DuckDB SUMMARIZE:       {summ:.3f} s")
    print(f"check / profile = {check / profile:.3f}; check / SUMMARIZE = {check / summ:.3f}")


if __name__ == "__main__":
    main()

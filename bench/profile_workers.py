"""Two real Celery workers of concurrency 1 against one, on a 10M-row Parquet file (issue 14).

Makes the file once (bench/profile_parts.py's: bench/profile_bench.py's 12 columns, row groups of
--group-rows, fixed seed), a PostgreSQL database, and then, each round in this run on this machine:
  - one worker (concurrency 1): the file registered by path as a new dataset's version, the job
    waited for from registration to ``succeeded`` (the parts it is cut into run one after another);
  - two workers (concurrency 1 each): the same, the parts shared out by the broker to whichever
    worker is free;
with the product's settings (PROFILING_PART_BYTES and the rest as a deployment has them), the
default suite, a Redis broker and a queue of the bench's own. Prints each round, the median
speed-up (target >= 1.7x), DuckDB's SUMMARIZE of the same file, whether the two profiles agree
(exact figures identical, sketched ones within the sketches' error) and the load before and after.

--pin gives each worker a core of its own (the one worker core 0, the two workers cores 0 and 1),
as workers of concurrency 1 on machines of one core each would be: a worker is not one core
(pyarrow decodes in its own threads and the engine reads ahead in a thread), so an unpinned single
worker on a 2-core machine already uses both cores and a second worker there adds no core.

    .venv/bin/python bench/profile_workers.py [--rows 10000000] [--repeat 3] [--pin]
        [--database-url postgres://postgres@127.0.0.1:5432/gv_profile_workers] [--broker redis://127.0.0.1:6379/13]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def run_with_workers(
    count: int, *, env: dict, folder: Path, pin: bool, owner, path: Path
) -> tuple[float, object]:
    """Start ``count`` workers, profile the file once as a new dataset's version, stop them →
    (seconds from registration to succeeded, the run)."""
    from profile_job_bench import start_worker, whole_job

    workers = []
    try:
        for i in range(count):
            worker = start_worker(env, folder / f"profile_workers_{count}_{i}.log", name=f"bench{i}")
            if pin:  # before the pool's child is forked (after the app's imports): it inherits it
                os.sched_setaffinity(worker.pid, {i % os.cpu_count()})
            workers.append(worker)
        wait_ready(count)  # the workers' start-up (imports, the pool's child) is not the job's
        # Polled every 50 ms (not profile_job_bench's 10): the poll and the database's answer
        # take CPU from the pinned workers, and 25 ms on average is nothing beside 10 s.
        seconds, run, _ = whole_job(owner, path, timeout=1800, poll=0.05)
        return seconds, run
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)


def wait_ready(count: int, timeout: float = 120.0) -> None:
    """Until ``count`` workers answer a ping (a worker pinned to one core takes ~13 s to start)."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5)) >= count:
            time.sleep(1)  # the pool's child forked and settled
            return
    raise SystemExit(f"{count} worker(s) did not start within {timeout:.0f} s")


def job_seconds(run) -> float:
    """The job's own time: from the run's first claim to its end (registration left out)."""
    return (run.finished_at - run.started_at).total_seconds()


def differences(one, two) -> list[str]:
    """Figures of two runs that differ beyond what the method allows (profile_parts.compare: exact
    ones identical, sketched ones within the sketches' error)."""
    from profile_parts import compare, figures

    return compare(figures(one), figures(two))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--group-rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="one core per worker")
    parser.add_argument("--dir", default="/tmp/gouvernail-bench")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gv_profile_workers")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    from profile_parts import make_parquet

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reference_{args.rows}_{args.group_rows}.parquet"
    if not path.exists():
        make_parquet(path, args.rows, args.group_rows)
    from profile_job_bench import environment

    env = environment(args, folder)
    os.environ.update(env)
    from lineage_ingest_bench import prepare_database

    prepare_database(args.database_url, "bench_profile_workers")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from profile_100m import summarize_parquet_seconds

    owner = get_user_model().objects.get(username="bench_profile_workers")
    load_before = os.getloadavg()
    rounds = []
    for i in range(args.repeat):
        one_s, one = run_with_workers(1, env=env, folder=folder, pin=args.pin, owner=owner, path=path)
        two_s, two = run_with_workers(2, env=env, folder=folder, pin=args.pin, owner=owner, path=path)
        diffs = differences(one, two)
        rounds.append((one_s, two_s, job_seconds(one), job_seconds(two), diffs))
        print(
            f"round {i + 1}: one worker {one_s:6.2f} s (job {job_seconds(one):.2f} s), "
            f"two workers {two_s:6.2f} s (job {job_seconds(two):.2f} s) -> {one_s / two_s:.2f}x "
            f"(jobs {job_seconds(one) / job_seconds(two):.2f}x); parts {two.method.get('parts')}; "
            + ("figures agree" if not diffs else "figures DIFFER: " + ", ".join(diffs))
        )
    summarize = summarize_parquet_seconds(path)
    load_after = os.getloadavg()
    size = path.stat().st_size / 2**20
    ratio = statistics.median(a / b for a, b, *_ in rounds)
    job_ratio = statistics.median(c / d for _, _, c, d, _ in rounds)
    two_median = statistics.median(b for _, b, *_ in rounds)
    print(
        f"file: {args.rows:,} rows x 12 columns, {size:.0f} MiB Parquet; PROFILING_PART_BYTES "
        f"{settings.PROFILING_PART_BYTES // 2**20} MiB; cores: {os.cpu_count()}"
        + ("; one core per worker (--pin)" if args.pin else "; the workers share the cores")
    )
    print(
        f"speed-up, registration to succeeded: median {ratio:.2f}x (target >= 1.7x); "
        f"the jobs alone: median {job_ratio:.2f}x"
    )
    print(
        f"DuckDB SUMMARIZE of the same file: {summarize:.2f} s; two workers {two_median:.2f} s "
        f"-> {two_median / summarize:.2f}x SUMMARIZE"
    )
    print("figures: " + ("agree in every round" if not any(r[4] for r in rounds) else "DIFFER (see rounds)"))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")


if __name__ == "__main__":
    main()

"""100M rows (several GB of Parquet) profiled as a new user would, by two real Celery workers of
concurrency 1: the job must finish without hitting its time limit, and each worker's peak RSS must
stay under 1 GiB (issue 14).

Makes the file once (bench/profile_bench.py's 12 columns, row groups of --group-rows, fixed seed),
a PostgreSQL database and two workers (Redis broker, a queue of their own), registers the file by
path and waits for ``succeeded``, sampling every worker process's peak resident set (VmHWM, the
prefork children included) while it runs. The baseline, in the same run: DuckDB's SUMMARIZE of the
same file. Prints the job's time, its ratio to SUMMARIZE, the parts, how the suite was evaluated,
each worker's peak RSS (VmHWM of each of its processes; the largest RSS sampled while the parts
were read and while the merge ran), the time limit, and the load average before and after.

    .venv/bin/python bench/profile_100m.py [--rows 100000000] [--workers 2]
        [--database-url postgres://postgres@127.0.0.1:5432/gv_profile_100m] [--broker redis://127.0.0.1:6379/12]
        [--skip-summarize] [--rss-log FILE.csv] [--suite default|stored]
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return pids


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _hwm_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM")


def _merging() -> bool:
    """Every part of the latest run has succeeded: what runs now is its merge."""
    from profiling.models import PartStatus, ProfilePart, ProfileRun

    run = ProfileRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    statuses = set(ProfilePart.objects.filter(run_id=run).values_list("status", flat=True))
    return statuses == {PartStatus.SUCCEEDED}


class PeakRss:
    """Samples every process of each worker's process group every half second until stopped: the
    peak RSS (VmHWM, the kernel's own high-water mark) of each process, and the largest RSS seen
    while the parts were read and while the merge ran (sampled VmRSS, so a lower bound)."""

    def __init__(self, workers, log: Path | None = None) -> None:
        self.workers = workers
        self.hwm: dict[int, dict[int, int]] = {w.pid: {} for w in workers}  # worker → pid → KiB
        self.phase_peak = {w.pid: {"parts": 0, "merge": 0} for w in workers}
        self.log = log.open("w") if log else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from django.db import connection

        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                phase = "merge" if _merging() else "parts"
                for worker in self.workers:
                    rss = 0
                    for pid in _group_pids(worker.pid):
                        peaks = self.hwm[worker.pid]
                        peaks[pid] = max(peaks.get(pid, 0), _hwm_kib(pid))
                        rss = max(rss, _status_kib(pid, "VmRSS"))
                    self.phase_peak[worker.pid][phase] = max(self.phase_peak[worker.pid][phase], rss)
                    if self.log:
                        self.log.write(f"{time.monotonic() - t0:.1f},{worker.pid},{phase},{rss // 1024}\n")
                self._stop.wait(0.5)
        finally:
            connection.close()
            if self.log:
                self.log.close()

    def peak(self, worker) -> int:
        return max(self.hwm[worker.pid].values(), default=0)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def summarize_parquet_seconds(path: Path) -> float:
    import duckdb

    con = duckdb.connect()
    try:
        t0 = time.perf_counter()
        con.execute(f"SUMMARIZE SELECT * FROM read_parquet('{path}')").fetchall()
        return time.perf_counter() - t0
    finally:
        con.close()


def stored_suite_dataset(owner):
    """A new dataset whose suite is saved before its first version arrives."""
    from profile_job_bench import EXTRA_SUITE, new_dataset

    from profiling import suites
    from profiling.expectations import normalize_expectations

    dataset = new_dataset(owner)
    suites.save_suite(actor=owner, dataset=dataset, expectations=normalize_expectations(EXTRA_SUITE))
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--group-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/gouvernail-bench")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gv_profile_100m")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--skip-summarize", action="store_true")
    parser.add_argument("--rss-log", default="", help="CSV of each worker's RSS every half second")
    parser.add_argument(
        "--suite",
        choices=["default", "stored"],
        default="default",
        help="default: a new dataset, its suite proposed from the profile; stored: a suite saved "
        "before the file is registered (bench/profile_job_bench.py's extra checks: row count, "
        "between, regex, unique, mean, lengths), evaluated while the parts are read",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()

    from profile_parts import make_parquet

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reference_{args.rows}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        make_parquet(path, args.rows, args.group_rows)
        print(f"made {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s")
    size_gib = path.stat().st_size / 2**30

    from profile_job_bench import environment, start_worker, whole_job

    env = environment(args, folder)
    os.environ.update(env)
    from lineage_ingest_bench import prepare_database

    prepare_database(args.database_url, "bench_profile_100m")
    from django.conf import settings
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.get(username="bench_profile_100m")
    dataset = stored_suite_dataset(owner) if args.suite == "stored" else None
    workers = [start_worker(env, folder / f"profile_100m_worker{i}.log") for i in range(args.workers)]
    try:
        time.sleep(5)  # the workers' start-up (imports, preload) is not the job's
        with PeakRss(workers, Path(args.rss_log) if args.rss_log else None) as rss:
            seconds, run, _ = whole_job(owner, path, dataset=dataset, timeout=args.timeout)
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
    baseline = None if args.skip_summarize else summarize_parquet_seconds(path)
    method = run.method or {}
    print(f"file: {args.rows:,} rows x 12 columns, {size_gib:.2f} GiB Parquet")
    print(f"whole job (registration to succeeded), {args.workers} workers of concurrency 1: {seconds:.1f} s")
    print(f"parts: {method.get('parts')}; job time limit {settings.PROFILING_TIME_LIMIT} s: not hit")
    print(f"row_count: {run.row_count:,}")
    quality = method.get("quality") or {}
    gx = quality.get("gx") or {}
    print(
        f"suite ({args.suite}): {quality.get('mode')}, {quality.get('native')} native"
        + (f", {gx.get('expectations')} by GX ({', '.join(quality.get('declined') or {})})" if gx else "")
    )
    if baseline is not None:
        print(f"DuckDB SUMMARIZE of the same file: {baseline:.1f} s -> ratio {seconds / baseline:.2f}x")
    for i, worker in enumerate(workers):
        peak = rss.peak(worker) / 1024
        verdict = "ok" if peak <= 1024 else "OVER 1 GiB"
        processes = ", ".join(
            f"{'main' if pid == worker.pid else 'pool'} {pid} {kib / 1024:.0f}"
            for pid, kib in sorted(rss.hwm[worker.pid].items(), key=lambda kv: kv[0] != worker.pid)
        )
        phases = rss.phase_peak[worker.pid]
        print(
            f"worker {i}: peak RSS {peak:.0f} MiB ({verdict}; VmHWM by process, MiB: {processes}); "
            f"largest RSS sampled while the parts ran {phases['parts'] / 1024:.0f} MiB, "
            f"during the merge {phases['merge'] / 1024:.0f} MiB"
        )
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

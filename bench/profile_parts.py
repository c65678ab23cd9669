"""Parts and merge: a big Parquet file profiled in one pass against the same file profiled as parts
by two worker processes and merged.

Makes its own data (bench/profile_bench.py's 12 columns, fixed seed, row groups of --group-rows),
then, each in this run on this machine:
  - baseline: one worker process profiles the whole file (prepare, profile_part of every cell,
    finish: what profile_file does);
  - parts: --parts parts dealt to --workers worker processes (a multiprocessing pool started and
    warmed up beforehand, as Celery workers are; each returns its state as bytes), then
    from_bytes + merge_states + finish here;
  - the speed-up (target >= 1.7 with two workers of concurrency 1 on a 2-core machine), the
    merge's own time (from_bytes + merge_states, and finish), and whether the figures agree
    (exact ones identical, the rest within the sketches' error).

One worker process is not one core: pyarrow decodes Parquet in its own threads and the engine reads
ahead in a thread, so the one-pass baseline already keeps more than one core busy, and two workers
on a 2-core machine cannot be twice as fast. --pin gives each worker process a core of its own
(sched_setaffinity; the baseline's worker one core too), as workers of concurrency 1 on machines
of one core each would be; without it the processes share both cores.

    .venv/bin/python bench/profile_parts.py [--rows 10000000] [--parts 4] [--workers 2] [--repeat 2] [--pin]
"""

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
SENSITIVE = dict(sensitive_columns=["gender"], label_column="label", positive_label=1)


def make_parquet(path: Path, rows: int, group_rows: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from profile_bench import reference_table

    writer = None
    done = 0
    while done < rows:
        n = min(group_rows, rows - done)
        table = reference_table(n, seed=42 + done, offset=done)
        if writer is None:
            writer = pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table, row_group_size=group_rows)
        done += n
    writer.close()


def _pin(counter) -> None:
    """Pool initializer: each worker process on a core of its own, in turn."""
    if counter is None:
        return
    with counter.get_lock():
        core = counter.value % os.cpu_count()
        counter.value += 1
    os.sched_setaffinity(0, {core})


def _warm(_: int) -> int:
    import profiling.engine  # noqa: F401 -- imports paid before the clock starts

    return os.getpid()


def _part(args: tuple[str, list[int]]) -> tuple[bytes, float, float, int]:
    """What a Celery part task does: the spec from JSON, its cells profiled, the state as bytes
    → (state, wall seconds, CPU seconds of the process, pid)."""
    from profiling.engine import ProfileSpec, profile_part, to_bytes

    spec_json, cells = args
    t0, c0 = time.perf_counter(), time.process_time()
    data = to_bytes(profile_part(ProfileSpec.from_json(spec_json), cells))
    return data, time.perf_counter() - t0, time.process_time() - c0, os.getpid()


def _whole(spec_json: str) -> tuple[dict, float, float]:
    """The baseline in a worker process: one pass over every cell, finished there."""
    from profiling.engine import ProfileSpec, finish, profile_part

    t0, c0 = time.perf_counter(), time.process_time()
    result = finish(profile_part(ProfileSpec.from_json(spec_json)))
    return figures(result), time.perf_counter() - t0, time.process_time() - c0


def figures(result) -> dict:
    """What ``compare`` compares, of a profile result or of a ProfileRun (the same fields)."""
    exact = {name: m.get("exact", True) for name, m in result.method["columns"].items()}
    return {
        "row_count": result.row_count,
        "columns": result.columns,
        "bias": result.bias,
        "pii": result.pii,
        "schema": result.schema,
        "exact": exact,
    }


def run_parts(pool, spec, parts: list[list[int]]) -> tuple[dict, dict]:
    from profiling.engine import finish, from_bytes, merge_states

    t0 = time.perf_counter()
    done = pool.map(_part, [(spec.to_json(), cells) for cells in parts], chunksize=1)
    t1, c1 = time.perf_counter(), time.process_time()
    states = [from_bytes(data) for data, *_ in done]
    merged = merge_states(states)
    t2 = time.perf_counter()
    result = finish(merged)
    t3 = time.perf_counter()
    merge_cpu = time.process_time() - c1
    timing = {
        "wall": t3 - t0,
        "parts_wall": t1 - t0,
        "merge": t2 - t1,
        "finish": t3 - t2,
        "part_seconds": [round(s, 2) for _, s, _, _ in done],
        "state_mib": sum(len(d) for d, *_ in done) / 2**20,
        # CPU seconds each worker process spent on its parts: what the wall time would be
        # with a core to itself and nothing else running.
        "worker_cpu": _per_worker(done),
        "merge_cpu": merge_cpu,
    }
    return figures(result), timing


def _per_worker(done: list) -> list[float]:
    cpu: dict[int, float] = {}
    for _, _, used, pid in done:
        cpu[pid] = cpu.get(pid, 0.0) + used
    return sorted(round(v, 2) for v in cpu.values())


def compare(one: dict, merged: dict) -> list[str]:
    """Differences beyond what the method allows: exact figures must be identical; a sketched
    column's quantiles may differ within KLL's error (checked by the test suite on known data,
    here only reported), means by floating-point rounding."""
    out = []
    if one["row_count"] != merged["row_count"]:
        out.append("row_count")
    for a, b in zip(one["columns"], merged["columns"], strict=True):
        for key in a:
            if a[key] == b[key]:
                continue
            if key in ("mean", "std") and a[key] is not None and abs(a[key] - b[key]) <= 1e-9 * abs(a[key]):
                continue
            if key in ("quantiles", "histogram", "top_values") and not one["exact"][a["name"]]:
                continue  # sketched: within the sketch's error
            out.append(f"{a['name']}.{key}")
    if one["bias"] != merged["bias"]:
        out.append("bias")
    if one["pii"] != merged["pii"]:
        out.append("pii")
    if one["schema"] != merged["schema"]:
        out.append("schema")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--group-rows", type=int, default=500_000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dir", default="/tmp/gouvernail-bench")
    parser.add_argument("--pin", action="store_true", help="one core per worker process")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from profiling.engine import prepare

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reference_{args.rows}_{args.group_rows}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        make_parquet(path, args.rows, args.group_rows)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s")
    size = path.stat().st_size / 2**20
    spec = prepare(str(path), format="parquet", **SENSITIVE)
    parts = spec.parts(args.parts)
    print(
        f"file: {path} ({size:.0f} MiB, {args.rows} rows x 12 columns, {len(spec.cells)} row groups); "
        f"{len(parts)} parts on {args.workers} worker processes; cores: {os.cpu_count()}"
        + ("; one core per worker process (--pin)" if args.pin else "; workers share the cores")
    )
    ctx = mp.get_context("spawn")
    one_core, cores = (ctx.Value("i", 0), ctx.Value("i", 0)) if args.pin else (None, None)
    with (
        ctx.Pool(1, initializer=_pin, initargs=(one_core,)) as one_worker,
        ctx.Pool(args.workers, initializer=_pin, initargs=(cores,)) as workers,
    ):
        one_worker.map(_warm, [0])
        workers.map(_warm, range(args.workers), chunksize=1)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        best_one = best_parts = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            one, inner, cpu_one = one_worker.apply(_whole, (spec.to_json(),))
            wall_one = time.perf_counter() - t0
            merged, timing = run_parts(workers, spec, parts)
            if best_one is None or wall_one < best_one[0]:
                best_one = (wall_one, inner, one, cpu_one)
            if best_parts is None or timing["wall"] < best_parts[0]["wall"]:
                best_parts = (timing, merged)
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    wall_one, inner, one, cpu_one = best_one
    timing, merged = best_parts
    print(
        f"one pass (1 worker)        wall {wall_one:6.2f} s  (in the worker {inner:.2f} s, CPU {cpu_one:.2f} s)"
    )
    print(
        f"{len(parts)} parts ({args.workers} workers)    wall {timing['wall']:6.2f} s  "
        f"(parts {timing['parts_wall']:.2f} s, each {timing['part_seconds']}; states {timing['state_mib']:.1f} MiB)"
    )
    print(
        f"merge overhead             from_bytes + merge_states {timing['merge']:.3f} s, finish {timing['finish']:.3f} s "
        f"({(timing['merge']) / timing['wall']:.1%} of the parts' wall time)"
    )
    print(f"speed-up                   {wall_one / timing['wall']:.2f}x  (target >= 1.7)")
    # Load-independent reading: CPU seconds, the busiest worker's parts plus the merge and finish.
    critical = max(timing["worker_cpu"]) + timing["merge_cpu"]
    print(
        f"by CPU seconds             one pass {cpu_one:.2f} s; busiest worker {max(timing['worker_cpu']):.2f} s "
        f"(workers {timing['worker_cpu']}) + merge and finish {timing['merge_cpu']:.2f} s "
        f"-> {cpu_one / critical:.2f}x"
    )
    diffs = compare(one, merged)
    print("figures                    " + ("agree" if not diffs else "DIFFER: " + ", ".join(diffs)))


if __name__ == "__main__":
    main()

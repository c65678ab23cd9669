"""How long does an object storage source take to list a prefix of 100,000 objects?

Against moto in server mode (a real S3 endpoint over HTTP, tests/s3_server.py), or the endpoint in
``S3_ENDPOINT_URL``. It puts ``--objects`` small objects under one Hive-partitioned folder and
``--files`` lone files beside them, then times, in the same run:

1. baseline: a bare boto3 ``list_objects_v2`` paginated over the prefix, nothing else;
2. the S3 connector's discover() over the partitioned folder (listing, grouping, fingerprint, one
   head read): the ratio to the baseline is the connector's overhead on listing;
3. discover() over the lone files, each one's head read (ranged GETs in threads): per object;
4. the same again with every fingerprint known (a rescan of an unchanged bucket: no reads).

Run: ``.venv/bin/python bench/source_s3_bench.py [--objects 100000] [--files 2000]``. Putting
100,000 objects into moto takes a few minutes (moto stores a few hundred a second).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class RssPeak:
    """The most the resident set grew while the block ran (sampled every 20 ms from /proc)."""

    def __enter__(self) -> RssPeak:
        self.start = self.peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.growth = self.peak - self.start

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000, help="parts of the partitioned folder")
    parser.add_argument("--files", type=int, default=2_000, help="lone files, each one's head read")
    args = parser.parse_args()

    import django

    django.setup()
    import catalog.connectors.listing as listing
    from catalog.connectors.s3 import S3Connector
    from catalog.models import Source
    from tests.s3_server import S3Endpoint, start_moto, stop

    process = None
    url = os.environ.get("S3_ENDPOINT_URL", "").rstrip("/")
    if not url:
        process, url = start_moto()
    try:
        endpoint = S3Endpoint(url)
        os.environ["BENCH_S3_KEYS"] = ":".join(endpoint.keys)
        print(f"endpoint {url}; load average before: {os.getloadavg()} on {os.cpu_count()} CPUs")
        started = time.perf_counter()
        bucket = endpoint.make_bucket(prefix="bench")
        body = b"user,score\n1,0.5\n"
        endpoint.put(
            bucket, {f"lake/events/day={i // 1000:03d}/part-{i:06d}.csv": body for i in range(args.objects)}
        )
        endpoint.put(bucket, {f"files/f-{i:06d}.csv": body for i in range(args.files)})
        took = time.perf_counter() - started
        print(
            f"put {args.objects + args.files} objects in {took:.1f} s ({(args.objects + args.files) / took:.0f}/s)"
        )

        client = endpoint.client()
        started = time.perf_counter()
        listed = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lake/"):
            listed += len(page.get("Contents", ()))
        baseline = time.perf_counter() - started
        print(
            f"1. baseline list_objects_v2: {listed} objects in {baseline:.2f} s ({listed / baseline:.0f} objects/s)"
        )

        def source(prefix: str) -> Source:
            return Source(kind="s3", uri=f"s3://{bucket}/{prefix}", endpoint_url=url, secret="BENCH_S3_KEYS")

        with RssPeak() as rss:
            started = time.perf_counter()
            (events,) = S3Connector(source("lake/")).discover()
            took = time.perf_counter() - started
        parts = len(events.reference["parts"])
        print(
            f"2. discover, one partitioned dataset of {parts} parts: {took:.2f} s ({parts / took:.0f} objects/s), "
            f"ratio to baseline {took / baseline:.2f}; RSS grew by at most {rss.growth / 2**20:.0f} MiB"
        )

        def synthetic():
            for i in range(parts):
                yield listing.Entry(f"lake/events/day={i // 1000:03d}/part-{i:06d}.csv", 17, f"{i:032x}")

        started = time.perf_counter()
        (candidate,) = listing.group(synthetic(), base="lake/")
        listing.fingerprint(candidate)
        listing.reference(candidate, path_field="key", stamp_field="etag")
        took = time.perf_counter() - started
        print(
            f"   of which grouping, fingerprint and reference (no HTTP): {took:.2f} s ({parts / took:.0f} objects/s)"
        )
        tracemalloc.start()
        (candidate,) = listing.group(synthetic(), base="lake/")
        reference = listing.reference(candidate, path_field="key", stamp_field="etag")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del candidate, reference
        print(
            f"   what those hold at the peak (tracemalloc): {peak / 2**20:.0f} MiB ({peak / parts:.0f} bytes a part)"
        )

        started = time.perf_counter()
        found = list(S3Connector(source("files/")).discover())
        took = time.perf_counter() - started
        per_object = took / max(1, len(found))
        print(
            f"3. discover, {len(found)} lone files (a head read each): {took:.2f} s ({len(found) / took:.0f} datasets/s, "
            f"{per_object * 1000:.1f} ms each)"
        )

        known = {f.name: f.fingerprint for f in found}
        started = time.perf_counter()
        again = list(S3Connector(source("files/"), known=known).discover())
        took = time.perf_counter() - started
        print(
            f"4. rescan with fingerprints known: {len(again)} datasets in {took:.2f} s ({len(again) / took:.0f}/s)"
        )
        print(f"load average at the end: {os.getloadavg()}")
    finally:
        if process is not None:
            stop(process)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``threaded`` with a byte budget (data read over a network is read ahead of the statistics)."""

import threading

import pyarrow as pa
import pytest

from profiling.engine.readers import threaded


def batches(n: int, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise ValueError("the source broke")
        yield pa.record_batch({"i": pa.array([i] * 1000, pa.int64())})  # 8,000 bytes each


def test_every_batch_arrives_in_order_within_a_small_budget():
    got = [b.column(0)[0].as_py() for b in threaded(batches(50), ahead_bytes=20_000)]
    assert got == list(range(50))


def test_a_batch_bigger_than_the_budget_still_passes():
    assert sum(b.num_rows for b in threaded(batches(5), ahead_bytes=10)) == 5000


def test_the_sources_error_is_raised_to_the_consumer():
    with pytest.raises(ValueError, match="the source broke"):
        list(threaded(batches(10, fail_at=4), ahead_bytes=20_000))


def test_stopping_early_ends_the_reader_thread():
    before = {t.ident for t in threading.enumerate()}
    stream = threaded(batches(1000), ahead_bytes=20_000)
    next(stream)
    stream.close()
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "profile-reader"]

"""The engine's own sketches: hashes that do not depend on where a value sits, HyperLogLog within
its error, count-min never below the truth, and a row sample of the asked size over the whole file."""

import numpy as np
import pyarrow as pa
import pytest

from profiling.engine.sketches import CountMin, HyperLogLog, RowSample, hash_numbers, hash_strings


def test_a_string_hashes_the_same_wherever_it_sits():
    values = ["", "a", "ab", "héllo", "", "x" * 1000, "ab", ""]
    arr = pa.array(values)
    whole = hash_strings(arr)
    assert whole[2] == whole[6]  # "ab" twice
    assert whole[0] == whole[4] == whole[7]  # empty strings, also at the end
    assert len(set(whole.tolist())) == 5
    # A slice (non-zero offset) and another batch give the same hashes.
    assert hash_strings(arr.slice(2, 4)).tolist() == whole[2:6].tolist()
    assert hash_strings(pa.array(["zz", "ab"]))[1] == whole[2]
    # Nulls are skipped, large strings accepted.
    assert len(hash_strings(pa.array(["a", None, "b"]))) == 2
    assert hash_strings(pa.array(["ab"], pa.large_string()))[0] == whole[2]


def test_text_longer_than_one_hashing_run_hashes_as_each_value_alone():
    # A batch's text is hashed HASH_BYTES at a time (memory stays bounded); the cut between runs
    # changes no hash, a value longer than a run included.
    from profiling.engine.sketches import HASH_BYTES

    rng = np.random.default_rng(5)
    values = [f"v{i}-" + "x" * int(rng.integers(0, 300)) for i in range(4_000)]
    values[1_234] = "long" + "y" * (HASH_BYTES + 17)
    arr = pa.array(values)
    assert sum(len(v) for v in values) > 3 * HASH_BYTES
    together = hash_strings(arr)
    alone = np.concatenate([hash_strings(pa.array([v])) for v in values])
    assert together.tolist() == alone.tolist()
    assert hash_strings(arr.slice(1_000, 500)).tolist() == together[1_000:1_500].tolist()


def test_numbers_hash_by_value_and_minus_zero_is_zero():
    h = hash_numbers(np.array([0.0, -0.0, 1.5]))
    assert h[0] == h[1] != h[2]
    assert hash_numbers(np.array([7], dtype=np.int32))[0] == hash_numbers(np.array([7], dtype=np.int64))[0]


@pytest.mark.parametrize("n", [10, 1_000, 200_000])
def test_hyperloglog_is_within_its_error(n):
    hll = HyperLogLog()
    values = np.arange(n, dtype=np.int64)
    for chunk in np.array_split(values, 7):
        hll.update_hashes(hash_numbers(chunk))
        hll.update_hashes(hash_numbers(chunk))  # repeats do not count
    assert hll.estimate() == pytest.approx(n, rel=0.03 if n > 100 else 0)


def test_hyperloglog_merges():
    a, b = HyperLogLog(), HyperLogLog()
    a.update_hashes(hash_strings(pa.array([f"k{i}" for i in range(30_000)])))
    b.update_hashes(hash_strings(pa.array([f"k{i}" for i in range(20_000, 50_000)])))
    a.merge(b)
    assert a.estimate() == pytest.approx(50_000, rel=0.03)


def test_count_min_never_undercounts():
    rng = np.random.default_rng(1)
    values = rng.zipf(1.5, 100_000) % 50_000
    cms = CountMin()
    cms.update_hashes(hash_numbers(values))
    uniq, counts = np.unique(values, return_counts=True)
    est = cms.estimate(hash_numbers(uniq))
    assert (est >= counts).all()
    assert (est - counts).max() <= 50  # e/65,536 of 100,000 rows is about 4; a wide margin


def test_row_sample_is_uniform_over_the_file_and_bounded():
    sample = RowSample(1_000, seed=3)
    for start in range(0, 100_000, 7_000):
        n = min(7_000, 100_000 - start)
        sample.update(pa.record_batch({"i": np.arange(start, start + n)}))
    rows = sample.result().column("i").to_numpy()
    assert len(rows) == 1_000 and len(set(rows.tolist())) == 1_000
    # As many from the first half of the file as from the second, give or take.
    assert abs((rows < 50_000).mean() - 0.5) < 0.06

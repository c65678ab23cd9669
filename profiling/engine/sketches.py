"""Mergeable summaries whose size does not depend on the number of rows.

Quantiles use Apache DataSketches' KLL sketch (``kll_doubles_sketch``, fed whole numpy arrays).
Distinct counts use a HyperLogLog written here in numpy, because DataSketches' Python binding only
takes one value per call, and a Python call per row is what this engine avoids; it has the same
registers-and-max structure. Counts of candidate frequent values come from a count-min sketch.

Every summary here merges, so that parts of a file profiled apart give the figures of one pass:
HyperLogLog by register maximum and count-min by adding tables (both identical to one pass over
the same rows, whatever the order), the row sample as a bottom-k by a key of each row's id.
"""

import math

import numpy as np
import pyarrow as pa

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads any 64-bit keys uniformly (wraps around on overflow)."""
    return _mix64_inplace(x.astype(np.uint64, copy=True))


def _mix64_inplace(z: np.ndarray) -> np.ndarray:
    """mix64 of a uint64 array of one's own, overwriting it."""
    with np.errstate(over="ignore"):
        z += _GOLD
        z ^= z >> _S30
        z *= _M1
        z ^= z >> _S27
        z *= _M2
        z ^= z >> _S31
    return z


_PRIME = 0x100000001B3
# P**i and P**-i, grown as needed; one tuple, so that threads hashing at once never see a pair of
# different lengths.
_POWERS = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers(base: int, n: int) -> np.ndarray:
    a = np.full(n, base, dtype=np.uint64)
    a[0] = 1
    with np.errstate(over="ignore"):
        return np.multiply.accumulate(a)


def _ensure_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(P**i, P**-i) for i < n at least (grown by doubling, up to a run's HASH_BYTES unless one
    value is longer)."""
    global _POWERS
    powers = _POWERS
    if len(powers[0]) < n:
        size = max(n, min(2 * len(powers[0]), HASH_BYTES + 1), 1 << 16)
        # The prime is odd, so it has an inverse modulo 2**64 (used to shift hashes back to 0).
        powers = _POWERS = (_powers(_PRIME, size), _powers(pow(_PRIME, -1, 1 << 64), size))
    return powers


# Bytes of text hashed in one go: the powers of the prime and the per-byte temporaries stay within
# a few MiB whatever the batch (a column of long texts, or a 50,000-value table at the switch to
# sketches, had grown the powers to 40 MiB, kept for the life of the process).
HASH_BYTES = 256 * 1024


def hash_strings(arr: pa.Array) -> np.ndarray:
    """64-bit hashes of the non-null values of a string array, vectorised over its byte buffer.

    A polynomial hash of each value's bytes: one prefix sum of byte * P**position over a run of
    values (at most HASH_BYTES of text, or one longer value), differenced at the value boundaries
    and multiplied by P**-start (P odd, so invertible modulo 2**64) so that a value hashes the same
    wherever it sits, whatever run it is in; then mixed by splitmix64.
    """
    arr = arr.drop_null()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    offsets = offsets.astype(np.int64)
    if offsets[-1] == offsets[0]:
        return mix64(np.zeros(n, dtype=np.uint64))  # every value empty: the hash of its length, 0
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    if offsets[-1] - offsets[0] <= HASH_BYTES:
        return _hash_run(data, offsets)
    out = np.empty(n, dtype=np.uint64)
    i = 0
    while i < n:
        # The values i..j-1 whose text fits in HASH_BYTES from offsets[i] (one at least).
        j = max(i + 1, int(np.searchsorted(offsets, offsets[i] + HASH_BYTES, side="right")) - 1)
        out[i:j] = _hash_run(data, offsets[i : j + 1])
        i = j
    return out


def _hash_run(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Hashes of the values whose text lies between offsets[0] and offsets[-1] of ``data``."""
    start, end = int(offsets[0]), int(offsets[-1])
    rel = offsets - start
    lengths = np.diff(rel).astype(np.uint64)
    if end == start:
        return mix64(lengths)
    pow_, pow_inv = _ensure_powers(end - start + 1)
    with np.errstate(over="ignore"):
        # In place, in one buffer: temporaries of 8 bytes per byte of text cost page faults.
        prefix = np.empty(end - start + 1, dtype=np.uint64)
        prefix[0] = 0
        body = prefix[1:]
        np.multiply(data[start:end], pow_[: end - start], out=body, dtype=np.uint64)
        np.cumsum(body, out=body)
        sums = prefix[rel[1:]]
        sums -= prefix[rel[:-1]]
        sums *= pow_inv[rel[:-1]]
        lengths *= _GOLD
        sums ^= lengths
        return _mix64_inplace(sums)


def hash_numbers(values: np.ndarray) -> np.ndarray:
    """64-bit hashes of numbers by their bit pattern (floats normalised so that 0.0 == -0.0)."""
    if values.dtype.kind == "f":
        v = values.astype(np.float64) + 0.0
        bits = v.view(np.uint64)
    else:
        bits = values.astype(np.int64).view(np.uint64)
    return mix64(bits)


_BARS: dict[int, np.ndarray] = {}


def _hll_bars(bits: int) -> np.ndarray:
    """For each register value r (0..255): the hashes' remainder must be below this to raise it."""
    if bits not in _BARS:
        r = np.arange(256)
        _BARS[bits] = np.where(
            r <= bits, np.left_shift(np.uint64(1), np.minimum(bits - r, 63).astype(np.uint64)), 0
        ).astype(np.uint64)
    return _BARS[bits]


class HyperLogLog:
    """HyperLogLog with 2**p registers (p=14: about 0.8 % standard error), fed 64-bit hashes."""

    def __init__(self, p: int = 14):
        self.p = p
        self.m = 1 << p
        self.registers = np.zeros(self.m, dtype=np.uint8)

    def update_hashes(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        bits = 64 - self.p
        idx = (hashes >> np.uint64(bits)).astype(np.intp)
        rest = hashes & np.uint64((1 << bits) - 1)
        # A value's rank is bits + 1 - bit_length(rest): it raises register r exactly when rest is
        # below 2**(bits - r). Compare with that first; rank only the few values that do.
        raises = rest < _hll_bars(bits)[self.registers[idx]]
        if not raises.any():
            return
        idx, rest = idx[raises], rest[raises]
        # bit length of ``rest`` (< 2**50, exact in float64) gives the position of its leading one.
        _, exponent = np.frexp(rest.astype(np.float64))
        rank = (bits + 1 - exponent).astype(np.uint8)
        np.maximum.at(self.registers, idx, rank)

    def merge(self, other: "HyperLogLog") -> None:
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> int:
        m = self.m
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))  # linear counting in the small range
        return round(raw)


class CountMin:
    """Count-min sketch over 64-bit hashes: estimated counts (never below the true count) for the
    candidate top values, with an error of at most about e/width of the rows, with high probability."""

    def __init__(self, depth: int = 4, width_bits: int = 16):
        self.depth = depth
        self.bits = width_bits
        self.width = 1 << width_bits
        self.table = np.zeros((depth, self.width), dtype=np.int64)

    def _index(self, hashes: np.ndarray, row: int) -> np.ndarray:
        return ((hashes >> np.uint64(row * self.bits)) & np.uint64(self.width - 1)).astype(np.intp)

    def update_hashes(self, hashes: np.ndarray, weights: np.ndarray | None = None) -> None:
        if len(hashes) == 0:
            return
        for row in range(self.depth):
            counts = np.bincount(self._index(hashes, row), weights=weights, minlength=self.width)
            self.table[row] += counts if weights is None else counts.astype(np.int64)

    def merge(self, other: "CountMin") -> None:
        """Counts of two parts added (same depth and width): the table of one pass over both."""
        if other.table.shape != self.table.shape:
            raise ValueError("count-min sketches of different shapes cannot be merged")
        self.table += other.table

    def estimate(self, hashes: np.ndarray) -> np.ndarray:
        est = None
        for row in range(self.depth):
            r = self.table[row][self._index(hashes, row)]
            est = r if est is None else np.minimum(est, r)
        return est


class RowSample:
    """A uniform sample of up to ``size`` rows of the whole file: bottom-k by a key per row.

    A row's key is splitmix64 of its stable id (the file's position of the row: its Parquet row
    number, or its CSV cell and the row's number within the cell) mixed with the seed. Keys are
    distinct (splitmix64 is a bijection), so the sample is a function of the set of rows alone:
    samples of parts merged (``merge``) are exactly the sample of one pass over the whole file.
    Done per batch with vectorised filters, so it costs little once the sample is full (few rows
    pass the bar). ``result`` orders the rows by key, a random order that does not depend on how
    the file was read.
    """

    def __init__(self, size: int, seed: int):
        self.size = max(1, size)
        self.salt = np.uint64(int(mix64(np.array([seed & (2**64 - 1)], dtype=np.uint64))[0]))
        self.table: pa.Table | None = None
        self.keys = np.empty(0, dtype=np.uint64)
        self.next_id = 0  # the id of the next row when update is not told one

    def row_keys(self, first_id: int, n: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            ids = np.arange(first_id, first_id + n, dtype=np.uint64)
            return mix64(ids ^ self.salt)

    def update(self, batch: pa.RecordBatch, first_id: int | None = None) -> None:
        """Offer a batch whose rows have the ids first_id, first_id + 1, ... (by default, the
        rows after those of the previous batch)."""
        n = batch.num_rows
        first_id = self.next_id if first_id is None else first_id
        self.next_id = first_id + n
        if n == 0:
            return
        keys = self.row_keys(first_id, n)
        if len(self.keys) >= self.size:
            mask = keys < self.keys.max()
            if not mask.any():
                return
            taken = pa.Table.from_batches([batch.filter(pa.array(mask))])
            keys = keys[mask]
        else:
            taken = pa.Table.from_batches([batch])
        self._add(taken, keys)

    def merge(self, other: "RowSample") -> None:
        """Add another part's sample (same size and seed): the bottom-k of both."""
        if other.table is not None:
            self._add(other.table, other.keys)

    def _add(self, taken: pa.Table, keys: np.ndarray) -> None:
        if self.table is None:
            table, all_keys = taken, keys
        else:
            table = pa.concat_tables([self.table, taken], promote_options="permissive")
            all_keys = np.concatenate([self.keys, keys])
        if len(all_keys) > self.size:
            keep = np.argpartition(all_keys, self.size - 1)[: self.size]
            keep.sort()
            table = table.take(pa.array(keep))
            all_keys = all_keys[keep]
        self.table, self.keys = table, all_keys

    def result(self) -> pa.Table | None:
        if self.table is None:
            return None
        order = np.argsort(self.keys, kind="stable")
        self.table, self.keys = self.table.take(pa.array(order)), self.keys[order]
        return self.table

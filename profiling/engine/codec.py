"""``to_bytes`` / ``from_bytes``: a PassState as bytes, to go from the task that profiled a part to
the one that merges the parts.

Layout: b"GVPS", a format version (uint32), the length of a JSON header (uint64), the header, then
the binary pieces the header points at by (offset, length): numpy arrays (raw, little-endian, with
their dtype and shape in the header), Arrow arrays and tables (IPC streams) and KLL sketches
(DataSketches' own ``serialize``). No pickle: reading bytes runs no code.
"""

import json
import struct
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa

from profiling.engine.bias import BiasAccumulator
from profiling.engine.columns import ColumnStats
from profiling.engine.sketches import CountMin, HyperLogLog, RowSample
from profiling.engine.spec import ProfileSpec, types_from_text, types_to_text
from profiling.engine.state import PassState
from profiling.engine.types import ProfileError

MAGIC = b"GVPS"
VERSION = 1
_HEAD = struct.Struct("<IQ")


class Writer:
    """The binary pieces, held as they are (numpy arrays, Arrow buffers) and joined once at the
    end: a state is copied once into its bytes, not once per step (a part's kept columns can be a
    few hundred MB). profiling.native_codec writes its states with it too."""

    def __init__(self) -> None:
        self.pieces: list = []
        self.size = 0

    def blob(self, data) -> list[int]:
        view = memoryview(data).cast("B")
        self.pieces.append(view)
        self.size += len(view)
        return [self.size - len(view), len(view)]

    def array(self, a: np.ndarray) -> dict:
        a = np.ascontiguousarray(a)
        return {"dtype": a.dtype.str, "shape": list(a.shape), "at": self.blob(a.reshape(-1))}

    def arrow(self, data: pa.Array | pa.Table) -> list[int]:
        table = pa.table({"v": data}) if isinstance(data, pa.Array) else data
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return self.blob(sink.getvalue())

    def join(self, head: bytes) -> bytes:
        return b"".join([head, *self.pieces])


class _Reader:
    def __init__(self, data: memoryview):
        self.data = data

    def blob(self, at: list[int]) -> memoryview:
        start, length = at
        if start < 0 or start + length > len(self.data):
            raise ProfileError("A profile part's state is damaged (a piece lies outside it).")
        return self.data[start : start + length]

    def array(self, d: dict) -> np.ndarray:
        return np.frombuffer(self.blob(d["at"]), dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()

    def arrow_table(self, at: list[int]) -> pa.Table:
        return pa.ipc.open_stream(pa.py_buffer(bytes(self.blob(at)))).read_all()

    def arrow(self, at: list[int]) -> pa.Array:
        return self.arrow_table(at).column("v").combine_chunks()


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _column(c: ColumnStats, w: Writer) -> dict:
    c._compact()
    d: dict[str, Any] = {
        k: _scalar(getattr(c, k))
        for k in ("family", "exact_limit", "cms_bits", "rows", "nulls", "non_finite", "n", "mean", "m2")
    }
    d.update(min=_scalar(c.min), max=_scalar(c.max), exact=c.exact, unsupported=c.unsupported)
    d["candidates"] = [_scalar(v) for v in c.candidates]
    if c.table_counts is not None:
        values = c.table_values
        d["table"] = {
            "values": w.array(values) if isinstance(values, np.ndarray) else {"arrow": w.arrow(values)},
            "counts": w.array(c.table_counts),
        }
    if c.kll is not None and c.kll.n:
        d["kll"] = w.blob(c.kll.serialize())
    if c.hll is not None:
        d["hll"] = {"p": c.hll.p, "registers": w.array(c.hll.registers)}
    if c.cms is not None:
        d["cms"] = {"depth": c.cms.depth, "bits": c.cms.bits, "table": w.array(c.cms.table)}
    return d


def _column_back(d: dict, name: str, arrow_type: pa.DataType, r: _Reader) -> ColumnStats:
    c = ColumnStats(name, arrow_type, exact_limit=d["exact_limit"], cms_bits=d["cms_bits"])
    for k in (
        "family",
        "rows",
        "nulls",
        "non_finite",
        "n",
        "mean",
        "m2",
        "min",
        "max",
        "exact",
        "unsupported",
    ):
        setattr(c, k, d[k])
    c.candidates = list(d["candidates"])
    if "table" in d:
        values = d["table"]["values"]
        c.table_values = r.arrow(values["arrow"]) if "arrow" in values else r.array(values)
        c.table_counts = r.array(d["table"]["counts"])
    if "kll" in d:
        c.kll = ds.kll_doubles_sketch.deserialize(bytes(r.blob(d["kll"])))
    if "hll" in d:
        c.hll = HyperLogLog(d["hll"]["p"])
        c.hll.registers = r.array(d["hll"]["registers"])
    if "cms" in d:
        c.cms = CountMin(depth=d["cms"]["depth"], width_bits=d["cms"]["bits"])
        c.cms.table = r.array(d["cms"]["table"])
    return c


def _sample(s: RowSample | None, w: Writer) -> dict | None:
    if s is None:
        return None
    return {
        "size": s.size,
        "next_id": s.next_id,
        "table": None if s.table is None else w.arrow(s.table),
        "keys": w.array(s.keys),
    }


def _sample_back(d: dict | None, seed: int, r: _Reader) -> RowSample | None:
    if d is None:
        return None
    s = RowSample(d["size"], seed)
    s.next_id = d["next_id"]
    s.table = None if d["table"] is None else r.arrow_table(d["table"])
    s.keys = r.array(d["keys"])
    return s


def _acc(a: BiasAccumulator | None) -> dict | None:
    if a is None:
        return None
    return {
        "sensitive": a.sensitive,
        "label": a.label,
        "positive_label": a.positive_label,
        "max_groups": a.max_groups,
        "groups": a.groups,
        "too_many": sorted(a.too_many),
    }


def _acc_back(d: dict | None) -> BiasAccumulator | None:
    if d is None:
        return None
    a = BiasAccumulator(d["sensitive"], d["label"], d["positive_label"], d["max_groups"])
    a.groups = {attr: {g: list(v) for g, v in groups.items()} for attr, groups in d["groups"].items()}
    a.too_many = set(d["too_many"])
    return a


_PLAIN = ("cells", "sensitive", "label_column", "names", "warnings", "sample_size", "bias_columns")
_PLAIN += ("row_count", "reading", "pass_seconds", "parts")


def to_bytes(state: PassState) -> bytes:
    """The state as bytes (``from_bytes`` gives it back)."""
    w = Writer()
    header: dict[str, Any] = {k: getattr(state, k) for k in _PLAIN}
    header["spec"] = state.spec.to_dict()
    header["date_casts"] = types_to_text(state.date_casts)
    header["stats"] = None
    if state.stats is not None:
        header["schema"] = types_to_text({str(i): c.arrow_type for i, c in enumerate(state.stats)})
        header["stats"] = [_column(c, w) for c in state.stats]
    header["sample"] = _sample(state.sample, w)
    header["acc"] = _acc(state.acc)
    head = json.dumps(header).encode("utf-8")
    return w.join(MAGIC + _HEAD.pack(VERSION, len(head)) + head)


def from_bytes(data: bytes | memoryview) -> PassState:
    """A state from ``to_bytes``; ProfileError when the bytes are not one."""
    view = memoryview(data)
    if bytes(view[:4]) != MAGIC or len(view) < 4 + _HEAD.size:
        raise ProfileError("These bytes are not a profile part's state.")
    version, length = _HEAD.unpack(view[4 : 4 + _HEAD.size])
    if version != VERSION:
        raise ProfileError("This profile part's state was written by another version of the engine.")
    start = 4 + _HEAD.size
    try:
        header = json.loads(bytes(view[start : start + length]))
    except ValueError as exc:
        raise ProfileError("A profile part's state is damaged (its header is not JSON).") from exc
    r = _Reader(view[start + length :])
    spec = ProfileSpec.from_dict(header["spec"])
    state = PassState(spec=spec, cells=[], sensitive=[], label_column=None)
    for k in _PLAIN:
        setattr(state, k, header[k])
    state.date_casts = types_from_text(header["date_casts"])
    if header["stats"] is not None:
        types = list(types_from_text(header["schema"]).values())
        state.stats = [
            _column_back(d, name, t, r)
            for d, name, t in zip(header["stats"], state.names, types, strict=True)
        ]
    state.sample = _sample_back(header["sample"], spec.options.seed, r)
    state.acc = _acc_back(header["acc"])
    return state

"""``evaluator_to_bytes`` / ``evaluator_from_bytes``: what a NativeEvaluator gathered in one part of
a version, as bytes, to go from the task that read the part to the one that merges the parts (the
quality suite is then evaluated at the speed of the read on several workers too).

Layout, as profiling.engine.codec's: b"GVNE", a format version (uint32), the length of a JSON header
(uint64), the header, then the binary pieces it points at by (offset, length): the schema the
evaluator was bound to and each kept array as Arrow IPC. No pickle: reading bytes runs no code. The
conditions themselves are not stored: the reading side builds them again from the suite, which must
be the same (``NativeEvaluator.merge`` refuses parts read for another suite).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pyarrow as pa

from profiling.engine.codec import Writer
from profiling.native_expectations import NativeEvaluator
from profiling.native_metrics import KeptColumn, MapState, MinMaxState, NonNullState

MAGIC = b"GVNE"
VERSION = 2  # 2: a kept column's arrays as several record batches (1: joined into one)
_HEAD = struct.Struct("<IQ")


def _ipc(chunks: list[pa.Array]) -> pa.Buffer:
    """Arrays of one type as an Arrow IPC stream, one record batch each (not joined first)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([pa.field("v", chunks[0].type)])) as stream:
        for arr in chunks:
            stream.write_batch(pa.record_batch([arr], names=["v"]))
    return sink.getvalue()


def _array(data: bytes) -> pa.ChunkedArray:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all().column(0)


def evaluator_to_bytes(ev: NativeEvaluator) -> bytes:
    """The evaluator's counts, kept values and whole columns (see the module)."""
    w = Writer()
    head: dict[str, Any] = {
        "expectations": ev.expectations,
        "names": ev.names,
        "rows": ev.rows,
        "batches": ev.batches,
        "failed": ev.failed,
        "declined": {str(k): v for k, v in ev.declined.items()},
        "infos": {n: [i.rows, i.nulls, i.missing] for n, i in ev.infos.items()},
        "states": {},
    }
    if ev.names is not None:
        schema = pa.schema([pa.field(n, ev.infos[n].type) for n in ev.names])
        head["schema"] = w.blob(schema.serialize())
    for key, state in ev.states.items():
        head["states"][key] = _dump_state(state, w)
    header = json.dumps(head, default=repr).encode()
    return w.join(MAGIC + _HEAD.pack(VERSION, len(header)) + header)


def _dump_state(state: Any, w: Writer) -> dict[str, Any]:
    if isinstance(state, KeptColumn):
        out: dict[str, Any] = {"kind": "kept", "overflow": state.overflow}
        if state.chunks and not state.overflow:
            out["chunks"] = w.blob(_ipc(state.chunks))
        return out
    if isinstance(state, MinMaxState):
        out = {"kind": "minmax", "empty": state.lo is None}
        if state.lo is not None:
            out["bounds"] = w.blob(_ipc([pa.array([state.lo, state.hi], type=state.info.type)]))
        return out
    if isinstance(state, MapState):
        out = {"kind": "map", "unexpected": state.unexpected}
        if state.partial:
            out["partial"] = w.blob(_ipc([pa.concat_arrays(state.partial)]))
        return out
    raise TypeError(f"no codec for {type(state).__name__}")


def evaluator_from_bytes(data: bytes | memoryview, *, keep_bytes: int | None = None) -> NativeEvaluator:
    """An evaluator holding what ``evaluator_to_bytes`` wrote, ready to ``merge`` into another."""
    view = memoryview(data)  # bytes, or the memoryview a database driver hands over: not copied
    if bytes(view[:4]) != MAGIC:
        raise ValueError("not a native evaluator's state")
    version, size = _HEAD.unpack_from(view, 4)
    if version not in (1, VERSION):
        raise ValueError(f"native evaluator state of format {version}; this worker reads 1 and {VERSION}")
    start = 4 + _HEAD.size
    head = json.loads(bytes(view[start : start + size]))
    body = view[start + size :]

    def piece(ref: list[int]) -> bytes:
        return bytes(body[ref[0] : ref[0] + ref[1]])

    kwargs = {} if keep_bytes is None else {"keep_bytes": keep_bytes}
    ev = NativeEvaluator(head["expectations"], **kwargs)
    if head.get("schema"):
        ev._bind(pa.ipc.read_schema(pa.py_buffer(piece(head["schema"]))))
    ev.rows, ev.batches, ev.failed = head["rows"], head["batches"], head["failed"]
    ev.declined.update({int(k): v for k, v in head["declined"].items()})
    for name, (rows, nulls, missing) in head["infos"].items():
        info = ev.infos[name]
        info.rows, info.nulls, info.missing = rows, nulls, missing
    for key, dumped in head["states"].items():
        state = ev.states.get(key)
        if state is None:  # built for another suite or schema: nothing native can be trusted
            ev.failed = ev.failed or "a part's evaluation does not match the suite"
            continue
        _load_state(state, dumped, piece)
    return ev


def _load_state(state: Any, dumped: dict[str, Any], piece) -> None:
    kind = dumped["kind"]
    if kind == "kept" and isinstance(state, KeptColumn):
        if dumped["overflow"]:
            state.overflow = True
        elif dumped.get("chunks"):
            for chunk in _array(piece(dumped["chunks"])).chunks:
                state.update(chunk)
    elif kind == "minmax" and isinstance(state, MinMaxState):
        if not dumped["empty"]:
            bounds = _array(piece(dumped["bounds"]))
            state.lo, state.hi = bounds[0].as_py(), bounds[1].as_py()
    elif kind == "map" and isinstance(state, MapState):
        if isinstance(state, NonNullState):
            return  # counted by the column's info
        state.unexpected = dumped["unexpected"]
        if dumped.get("partial"):
            state._keep(_array(piece(dumped["partial"])).combine_chunks())
    else:
        raise ValueError(f"a {kind} state where the suite has a {type(state).__name__}")

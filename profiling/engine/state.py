"""``PassState``: what a pass over some cells of a file gathers, before any figure is derived.

One pass over the whole file gives one state; parts of the file profiled apart give one state
each, and ``merge_states`` adds them up into the state of one pass over all of them: every
accumulator merges (ColumnStats: counts, Chan's moments, value tables that switch to sketches,
KLL, HyperLogLog, count-min; BiasAccumulator: group counts; RowSample: bottom-k by row id).
``finish`` (finish.py) turns a state that covers every cell into the profile. ``to_bytes`` and
``from_bytes`` (codec.py) carry a state between processes.
"""

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from profiling.engine.bias import BiasAccumulator
from profiling.engine.columns import ColumnStats
from profiling.engine.sketches import RowSample
from profiling.engine.spec import ProfileSpec
from profiling.engine.types import ProfileError, ProfileOptions


@dataclasses.dataclass
class PassState:
    """What the batch loop fills (parts.py) and finish reads (finish.py)."""

    spec: ProfileSpec
    cells: list[int]  # the spec's cells this state has read
    sensitive: list[str]  # the sensitive columns in the file (those missing dropped at the schema)
    label_column: str | None
    stats: list[ColumnStats] | None = None  # None until the first batch (the schema) has come
    names: list[str] = dataclasses.field(default_factory=list)
    date_casts: dict[str, pa.DataType] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    sample: RowSample | None = None
    sample_size: int = 0
    acc: BiasAccumulator | None = None
    bias_columns: list[str] = dataclasses.field(default_factory=list)
    row_count: int = 0
    # What reading noticed: reader, notes, ragged rows skipped (count and the first few).
    reading: dict[str, Any] = dataclasses.field(default_factory=dict)
    pass_seconds: float = 0.0  # time spent reading, summed over the parts
    parts: int = 1

    @property
    def options(self) -> ProfileOptions:
        return self.spec.options

    @property
    def positive_label(self) -> Any:
        return self.spec.positive_label

    @property
    def requested(self) -> list[str]:
        """The sensitive columns asked for, before those missing from the file went."""
        return self.spec.sensitive

    @classmethod
    def begin(cls, spec: ProfileSpec, cells: list[int]) -> "PassState":
        return cls(
            spec=spec, cells=list(cells), sensitive=list(spec.sensitive), label_column=spec.label_column
        )

    def merge(self, other: "PassState") -> None:
        """Add another state of the same spec over other cells (``other`` is used up)."""
        if set(self.cells) & set(other.cells):
            raise ValueError("the parts overlap: a cell was read twice")
        if other.stats is not None:
            if self.stats is None:
                self._adopt(other)
            else:
                self._merge_columns(other)
        self.cells = sorted(self.cells + other.cells)
        self.row_count += other.row_count
        self.warnings = list(dict.fromkeys(self.warnings + other.warnings))
        self.reading = _merge_reading(self.reading, other.reading)
        self.pass_seconds += other.pass_seconds
        self.parts += other.parts

    def _adopt(self, other: "PassState") -> None:
        for name in ("stats", "names", "date_casts", "sample", "sample_size", "acc", "bias_columns"):
            setattr(self, name, getattr(other, name))
        self.sensitive, self.label_column = other.sensitive, other.label_column

    def _merge_columns(self, other: "PassState") -> None:
        if other.names != self.names or [c.arrow_type for c in other.stats] != [
            c.arrow_type for c in self.stats
        ]:
            raise ProfileError("The parts of the file were read with different columns or types.")
        if other.date_casts != self.date_casts:
            raise ProfileError("The parts of the file were read with different date columns.")
        for mine, theirs in zip(self.stats, other.stats, strict=True):
            mine.merge(theirs)
        self.sample.merge(other.sample)
        if self.acc is not None and other.acc is not None:
            self.acc.merge(other.acc)


def _merge_reading(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if not a:
        return dict(b)
    if not b:
        return dict(a)
    return {
        "reader": a.get("reader") or b.get("reader", ""),
        "notes": list(dict.fromkeys(a.get("notes", []) + b.get("notes", []))),
        "skipped_count": a.get("skipped_count", 0) + b.get("skipped_count", 0),
        "skipped_rows": (a.get("skipped_rows", []) + b.get("skipped_rows", []))[:5],
        "source_notes": {**b.get("source_notes", {}), **a.get("source_notes", {})},
    }


def merge_states(states: Iterable[PassState]) -> PassState:
    """One state from the states of parts of the same spec (used up), as one pass over all their
    cells would have gathered: exact figures identical, sketches within their error.

    ``states`` is a list (merged in cell order) or an iterator that yields them in cell order,
    such as states decoded one by one from their bytes: each is merged as it comes and let go,
    so that a merge of many parts holds two states at a time, not all of them."""
    if isinstance(states, Sequence):
        states = sorted(states, key=lambda s: min(s.cells, default=0))
    it = iter(states)
    first = next(it, None)
    if first is None:
        raise ValueError("no states to merge")
    key = _spec_key(first.spec)
    for other in it:
        if _spec_key(other.spec) != key:
            raise ProfileError("The parts were profiled with different specs (one read before a restart?).")
        first.merge(other)
        del other  # let go of it before the iterator makes the next one
    return first


def _spec_key(spec: ProfileSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)

"""What every part of one profile shares: ``ProfileSpec``, made once by ``prepare`` and widened by
``widen`` after a ``Retype``. It is JSON (``to_json``/``from_json``), to travel to the tasks that
profile the parts.

A spec holds how to read the file (format, encoding, the read plan's settings: column types so far,
a renamed header, quoted newlines...), the options and the sensitive columns, and the file's cells
(cells.py). A CSV file of several cells has its column types inferred once, from its first block,
and every cell is read with those types, so that all parts see one schema; a value a type cannot
hold raises ``Retype`` in whichever part meets it, and the whole profile starts again with the
widened spec, as one pass does.
"""

import base64
import dataclasses
import json
from typing import Any

import pyarrow as pa

from profiling.engine.cells import Cell, csv_cells, parquet_cells, record_start_after, splittable_encoding
from profiling.engine.location import Location
from profiling.engine.parquet_reader import PARQUET_ERRORS
from profiling.engine.read_plan import MAX_RETYPES, ReadPlan, Retype, apply_retype, new_plan
from profiling.engine.readers import _check_args, stream
from profiling.engine.types import ProfileError, ProfileOptions

SPEC_VERSION = 1
# ReadPlan settings a spec carries as they are (the rest: types and sets, below).
_PLAN_FIELDS = (
    "batch_rows",
    "max_row_bytes",
    "max_text_bytes",
    "max_expansion",
    "max_json_depth",
    "block_size",
    "newlines_in_values",
    "column_names",
    "header_end",
)


def types_to_text(types: dict[str, pa.DataType]) -> str:
    """Column types as text: an Arrow schema, serialised, in base64."""
    schema = pa.schema([pa.field(name, t) for name, t in types.items()])
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def types_from_text(text: str | None) -> dict[str, pa.DataType]:
    if not text:
        return {}
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    return {f.name: f.type for f in schema}


def plan_settings(plan: ReadPlan) -> dict[str, Any]:
    """The parts of a read plan that decide how the file is read, as JSON."""
    out: dict[str, Any] = {k: getattr(plan, k) for k in _PLAN_FIELDS}
    out["column_types"] = types_to_text(plan.column_types)
    out["schema_types"] = types_to_text(plan.schema_types)
    out["text_dates"] = sorted(plan.text_dates)
    out["json_python_columns"] = (
        None if plan.json_python_columns is None else sorted(plan.json_python_columns)
    )
    return out


@dataclasses.dataclass
class ProfileSpec:
    """How to read one file and what to gather, the same for every part of its profile."""

    path: str
    format: str
    compression: str
    encoding: str
    options: ProfileOptions
    sensitive: list[str]
    label_column: str | None
    positive_label: Any
    read: dict[str, Any]  # plan_settings()
    cells: list[Cell]
    split: bool  # read by cells (CSV byte ranges, Parquet row groups) rather than whole
    retypes: list[dict] = dataclasses.field(default_factory=list)  # restarts so far
    # Where the data is when not a file on this disk (profiling.engine.location). Not JSON (it
    # holds a file system, a table's credentials): a part task sets it again from its version
    # (``from_dict(d, location=...)``).
    location: Location | None = None

    def plan(self) -> ReadPlan:
        """A fresh read plan for one attempt at reading (some of) the file."""
        read = self.read
        if self.location is not None:
            plan = new_plan(self.location)
        else:
            plan = ReadPlan(
                path=self.path, format=self.format, compression=self.compression, encoding=self.encoding
            )
        for k in _PLAN_FIELDS:
            setattr(plan, k, read[k])
        plan.column_types = types_from_text(read["column_types"])
        plan.schema_types = types_from_text(read["schema_types"])
        plan.text_dates = set(read["text_dates"])
        jp = read["json_python_columns"]
        plan.json_python_columns = None if jp is None else set(jp)
        return plan

    def parts(self, count: int) -> list[list[int]]:
        """The cells cut into at most ``count`` runs of about equal size (rows for Parquet, bytes
        for CSV) → each part's cell indexes, in file order."""
        count = max(1, min(int(count), len(self.cells)))
        weights = [(c.rows if self.format == "parquet" else c.end - c.start) or 1 for c in self.cells]
        total = sum(weights)
        out: list[list[int]] = [[]]
        done = 0
        for cell, w in zip(self.cells, weights, strict=True):
            # Start a new part once this one has its share, keeping a cell for each part to come.
            if out[-1] and done >= total * len(out) / count and len(out) < count:
                out.append([])
            out[-1].append(cell.index)
            done += w
        return out

    def to_dict(self) -> dict[str, Any]:
        options = dataclasses.asdict(self.options)
        options["phone_regions"] = list(options["phone_regions"])
        return {
            "version": SPEC_VERSION,
            "path": self.path,
            "format": self.format,
            "compression": self.compression,
            "encoding": self.encoding,
            "options": options,
            "sensitive": list(self.sensitive),
            "label_column": self.label_column,
            "positive_label": self.positive_label,
            "read": self.read,
            "cells": [c.to_list() for c in self.cells],
            "split": self.split,
            "retypes": self.retypes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, location: Location | None = None) -> "ProfileSpec":
        if d.get("version") != SPEC_VERSION:
            raise ProfileError("This profile's parts were prepared by another version of the engine.")
        options = dict(d["options"])
        options["phone_regions"] = tuple(options["phone_regions"])
        known = {f.name for f in dataclasses.fields(ProfileOptions)}
        return cls(
            path=d["path"],
            format=d["format"],
            compression=d["compression"],
            encoding=d["encoding"],
            options=ProfileOptions(**{k: v for k, v in options.items() if k in known}),
            sensitive=list(d["sensitive"]),
            label_column=d["label_column"],
            positive_label=d["positive_label"],
            read=d["read"],
            cells=[Cell.from_list(c) for c in d["cells"]],
            split=bool(d["split"]),
            retypes=list(d["retypes"]),
            location=location,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes, *, location: Location | None = None) -> "ProfileSpec":
        return cls.from_dict(json.loads(text), location=location)


def prepare(
    path: "str | Location",
    *,
    format: str = "",  # noqa: A002 -- the engine's keyword everywhere
    compression: str = "",
    encoding: str = "utf-8",
    sensitive_columns: Any = (),
    label_column: str | None = None,
    positive_label: Any = None,
    options: ProfileOptions | None = None,
) -> ProfileSpec:
    """The spec of a profile of the file: its cells and, for a CSV file of several cells, the column
    types of its first block. Raises ProfileError on a file that cannot be read as ``format``."""
    options = options or ProfileOptions()
    if isinstance(sensitive_columns, str):  # one name, not its characters
        sensitive_columns = [sensitive_columns]
    plan = new_plan(
        path,
        format=format,
        compression=compression,
        encoding=encoding,
        batch_rows=max(1, int(options.batch_rows)),
        max_row_bytes=options.max_row_bytes,
        block_size=max(4096, int(options.block_bytes)),
        max_text_bytes=options.max_text_bytes,
        max_expansion=options.max_expansion,
        max_json_depth=options.max_json_depth,
    )
    location = path if isinstance(path, Location) else None
    if location is not None and (location.table is not None or location.parts is not None):
        size = 0  # a table or a partitioned dataset: read whole, as one cell
    else:
        size = _check_args(plan)
    cells, split = _cells(plan, size, options)
    spec = ProfileSpec(
        path=plan.path,
        format=plan.format,
        compression=plan.compression,
        encoding=plan.encoding,
        options=options,
        sensitive=list(dict.fromkeys(sensitive_columns or ())),
        label_column=label_column or None,
        positive_label=positive_label,
        read=plan_settings(plan),
        cells=cells,
        split=split,
        location=location,
    )
    return _infer_types(spec)


def _cells(plan: ReadPlan, size: int, options: ProfileOptions) -> tuple[list[Cell], bool]:
    """The file's cells, and whether it is read by them (else as a whole, one cell)."""
    whole = [Cell(0, 0, size, 0)]
    if plan.location is not None and plan.location.kind != "file":
        # An object on S3, a partitioned dataset, a table: read whole (cells.py reads this disk).
        return whole, False
    if plan.format == "parquet":
        try:
            cells = parquet_cells(plan.path)
        except PARQUET_ERRORS:
            return whole, False  # reading says what is wrong with it
        return (cells, True) if cells else (whole, False)
    cell_bytes = max(4096, int(options.cell_bytes))
    if (
        plan.format not in ("csv", "tsv")
        or plan.compression
        or size <= cell_bytes
        or not splittable_encoding(plan.encoding)
    ):
        return whole, False
    delimiter = "\t" if plan.format == "tsv" else ","
    cells, plan.header_end = csv_cells(
        plan.path, delimiter=delimiter, cell_bytes=cell_bytes, max_row_bytes=plan.max_row_bytes
    )
    return cells, len(cells) > 1


def _infer_types(spec: ProfileSpec) -> ProfileSpec:
    """A CSV file read in cells: every column's type from the file's first block (pyarrow's
    inference, as when the file is read whole), for every cell to be read with."""
    if not (spec.split and spec.format in ("csv", "tsv")):
        return spec
    for _attempt in range(MAX_RETYPES):
        plan = spec.plan()
        plan.schema_types = {}
        # pyarrow infers from its first block only; reading ahead beyond it would cost time.
        end = record_start_after(
            plan.path,
            plan.block_size,
            delimiter="\t" if plan.format == "tsv" else ",",
            max_row_bytes=plan.max_row_bytes,
        )
        plan.byte_range = None if end is None else (0, end)
        source = stream(plan)
        try:
            first = next(source)
        except Retype as retype:
            spec = widen(spec, retype, infer=False, plan=plan)
            continue
        except StopIteration:  # stream always yields a schema; keep to the whole-file read
            return dataclasses.replace(spec, split=False, cells=[Cell(0, 0, spec.cells[-1].end, 0)])
        finally:
            source.close()
        plan.schema_types = {f.name: f.type for f in first.schema}
        plan.byte_range = None
        return dataclasses.replace(spec, read=plan_settings(plan))
    raise ProfileError("The column types of the file keep changing while it is read; it cannot be profiled.")


def widen(
    spec: ProfileSpec, retype: Retype, *, infer: bool = True, plan: ReadPlan | None = None
) -> ProfileSpec:
    """The spec to start the whole profile again with after a part raised ``retype``."""
    plan = plan or getattr(retype, "plan", None) or spec.plan()
    apply_retype(plan, retype)
    done = retype_to_dict(retype, with_plan=False)
    widened = dataclasses.replace(spec, read=plan_settings(plan), retypes=[*spec.retypes, done])
    if len(widened.retypes) >= MAX_RETYPES:
        raise ProfileError(
            "The column types of the file keep changing while it is read; it cannot be profiled."
        )
    return _infer_types(widened) if infer else widened


def retype_to_dict(retype: Retype, *, with_plan: bool = True) -> dict[str, Any]:
    """A Retype as JSON, with the settings of the plan it was raised under (a part task sends it
    back to the one that restarts the profile: ``widen(spec, retype_from_dict(d, spec))``)."""
    plan = getattr(retype, "plan", None) if with_plan else None
    return {
        "column": retype.column,
        "new_type": None if retype.new_type is None else types_to_text({"t": retype.new_type}),
        "reason": retype.reason,
        "read": None if plan is None else plan_settings(plan),
    }


def retype_from_dict(d: dict[str, Any], spec: ProfileSpec) -> Retype:
    new_type = types_from_text(d["new_type"]).get("t") if d.get("new_type") else None
    retype = Retype(d["column"], new_type, d["reason"])
    if d.get("read"):
        retype.plan = dataclasses.replace(spec, read=d["read"]).plan()
    return retype

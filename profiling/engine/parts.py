"""``profile_part``: the streaming pass over some cells of a file (all of them: one pass), which
fills a PassState; ``merge_states`` adds the states of parts up and ``finish`` makes the profile.

    spec = prepare(path, format="parquet", ...)            # spec.py; JSON: spec.to_json()
    states = [profile_part(spec, cells) for cells in spec.parts(4)]   # one task each
    result = finish(merge_states(states))                  # == profile_file(path, ...)

Each batch feeds the column accumulators (columns.py), the bias counters (bias.py) and the row
sample, which keys each row by its id in the file (cells.py): per-batch work only, nothing here runs
per row in Python. A part that meets a value its column's type cannot hold raises ``Retype``; the
whole profile then starts again from ``widen(spec, retype)``.
"""

import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from catalog.formats import too_many_columns
from profiling.engine.bias import BiasAccumulator
from profiling.engine.cells import Cell
from profiling.engine.columns import ColumnStats
from profiling.engine.cores import spare
from profiling.engine.json_reader import cast_dates, json_date_columns
from profiling.engine.read_plan import ReadPlan, Retype
from profiling.engine.readers import flatten, read_ahead, stream, threaded
from profiling.engine.sketches import RowSample
from profiling.engine.spec import ProfileSpec
from profiling.engine.state import PassState
from profiling.engine.types import ProfileError

# Value -> count entries kept by all columns together (a wide file gets smaller tables per column):
# about 4 million entries, a few hundred MB at most with text values.
EXACT_CELLS = 4_000_000
CMS_BYTES = 64 * 1024 * 1024
WIDE = 64  # columns from which small batches are joined before the statistics see them
GROUP_CELLS = 2_000_000  # ... up to about this many cells
PROGRESS_EVERY = 0.25  # seconds between progress callbacks at most


class Progress:
    """A progress callback called at most every PROGRESS_EVERY seconds, never backwards (a restart,
    a column read again with a wider type, starts from 0), and with ``force`` whatever the time."""

    def __init__(self, callback: Callable[[float], None] | None):
        self.callback = callback
        self.last = 0.0
        self.best = 0.0

    def __call__(self, fraction: float, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        fraction = max(self.best, max(0.0, min(1.0, float(fraction))))
        if force or (now - self.last >= PROGRESS_EVERY and fraction > self.best):
            self.last, self.best = now, fraction
            self.callback(fraction)


def profile_part(
    spec: ProfileSpec,
    cells: Sequence[int] | None = None,
    *,
    progress: Callable[[float], None] | None = None,
    batch_consumers: Sequence[Any] = (),
) -> PassState:
    """Read the spec's ``cells`` (indexes; all of them by default) and gather their statistics.

    ``batch_consumers`` see every batch of these cells (``consume(batch)``, nested fields
    flattened, before JSON dates are cast): the quality suite evaluated in the same pass. Resetting
    them before a restart is the caller's (``profile_file``).

    Raises ``Retype`` when the whole profile must start again with a wider type (``widen``), and
    ProfileError on unreadable data. ``progress(fraction of these cells read)`` is called a few
    times a second at most, never backwards."""
    indexes = range(len(spec.cells)) if cells is None else sorted(set(cells))
    try:
        chosen = [spec.cells[i] for i in indexes]
    except (IndexError, TypeError) as exc:
        raise ValueError(f"no such cells in this spec: {cells!r}") from exc
    plan = spec.plan()
    state = PassState.begin(spec, [c.index for c in chosen])
    reader = CellReader(spec, plan, chosen)
    tick = progress if isinstance(progress, Progress) else Progress(progress)
    started = time.perf_counter()
    try:
        _read_batches(state, reader, tick, list(batch_consumers))
    except Retype as retype:
        retype.plan = plan  # what reading changed before it stopped (a renamed header...)
        raise
    except MemoryError as exc:
        raise ProfileError("The file could not be profiled within the worker's memory.") from exc
    state.reading = {
        "reader": plan.reader,
        "notes": list(plan.notes),
        "skipped_count": plan.skipped_count,
        "skipped_rows": list(plan.skipped_rows),
        "source_notes": dict(plan.source_notes),  # what reading a table changed (casts)
    }
    state.pass_seconds = time.perf_counter() - started
    return state


class CellReader:
    """The batches of some cells, each with the id of its first row (the ids of its rows follow)."""

    def __init__(self, spec: ProfileSpec, plan: ReadPlan, cells: list[Cell]):
        self.spec, self.plan, self.cells = spec, plan, cells
        self.weights = [self._weight(c) for c in cells]
        self.total = max(1, sum(self.weights))
        self.done = 0  # weight of the runs read
        self.running = 0  # weight of the run being read

    def _weight(self, cell: Cell) -> int:
        return cell.rows if self.spec.format == "parquet" else cell.end - cell.start

    def fraction(self) -> float:
        if not self.spec.split:  # one cell, whose size may be unknown (a table, a partitioned dataset)
            return min(1.0, self.plan.progress_fraction())
        return min(1.0, self.done / self.total + self.plan.progress_fraction() * self.running / self.total)

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        plan, spec = self.plan, self.spec
        for run in self._runs():
            first_id = run[0].first_id
            self.running = sum(self._weight(c) for c in run)
            if not spec.split:
                pass  # the file as a whole
            elif spec.format == "parquet":
                plan.row_groups = None if len(run) == len(spec.cells) else [c.start for c in run]
            else:
                plan.byte_range = (run[0].start, run[0].end)
            for batch in stream(plan):
                yield batch, first_id
                first_id += batch.num_rows
            self.done += self.running

    def _runs(self) -> list[list[Cell]]:
        """Cells read in one go: Parquet row groups that follow each other; one CSV cell each
        (a cell's rows are numbered from its own first id)."""
        runs: list[list[Cell]] = []
        for cell in self.cells:
            joins = runs and self.spec.format == "parquet" and runs[-1][-1].index + 1 == cell.index
            if joins:
                runs[-1].append(cell)
            else:
                runs.append([cell])
        return runs


def _read_batches(state: PassState, reader: CellReader, tick: Progress, consumers: list[Any]) -> None:
    """The streaming pass: each batch feeds the column statistics, the bias counters, the row
    sample and the consumers (per-batch work only: nothing here runs per row in Python)."""
    with _ColumnUpdates() as columns:
        _read_batches_into(state, reader, tick, consumers, columns)


def _read_batches_into(
    state: PassState, reader: CellReader, tick: Progress, consumers: list[Any], columns: "_ColumnUpdates"
) -> None:
    plan = reader.plan
    ahead = read_ahead(plan)  # data over a network: fetched while the statistics run
    for raw, first_id in _grouped(_threaded(reader, ahead), state.options.batch_rows):
        batch = flatten(raw)
        for consumer in consumers:
            consumer.consume(batch)
        if state.stats is None:
            if plan.format == "jsonl":
                state.date_casts = json_date_columns(batch, plan.text_dates)
            if state.date_casts:
                batch = cast_dates(batch, state.date_casts)
            _begin(state, batch.schema)
        else:
            if state.date_casts:
                batch = cast_dates(batch, state.date_casts)
            if batch.schema.names != state.names:
                raise ProfileError(
                    "The columns of the file change between rows (a nested field appears later?)."
                )
        if batch.num_rows == 0:
            continue
        state.row_count += batch.num_rows
        helped = columns.start(state.stats, batch)
        try:
            for i, col in enumerate(state.stats):
                if i not in helped:
                    col.update(batch.column(i))
            if state.acc is not None:
                state.acc.update(batch.select(state.bias_columns))
            state.sample.update(batch, first_id)
        finally:
            columns.wait()
        tick(reader.fraction())


class _ColumnUpdates:
    """Text columns' statistics of a batch updated in a helper thread while the caller's thread
    updates the others (and the bias counters and the row sample). Text costs hashing and
    pyarrow's kernels, which let go of the GIL, so on two cores the halves overlap; numbers go
    through KLL, which holds it. Each column is always updated by the same thread, batch after
    batch in order: ``wait`` ends a batch's updates before the next batch starts."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.pending: Future | None = None
        self.helped: set[int] | None = None

    def __enter__(self) -> "_ColumnUpdates":
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait(raise_errors=False)
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def start(self, stats: list[ColumnStats], batch: pa.RecordBatch) -> set[int]:
        """Start the helper's share of ``batch`` → the indexes of the columns it updates."""
        if self.helped is None:
            self.helped = _helper_share(stats)
            if self.helped:
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="profile-columns")
        if self.helped:
            columns = [(stats[i], batch.column(i)) for i in sorted(self.helped)]
            self.pending = self.pool.submit(_update_all, columns)
        return self.helped

    def wait(self, *, raise_errors: bool = True) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        error = pending.exception()
        if error is not None and raise_errors:
            raise error


def _update_all(columns: list[tuple[ColumnStats, pa.Array]]) -> None:
    for col, values in columns:
        col.update(values)


def _helper_share(stats: list[ColumnStats]) -> set[int]:
    """The columns the helper thread updates: the text columns, while others are left for the
    caller (half of them when all are text); none for a file of one column or without text, nor
    in a process that may use fewer than 3 cores: the reader keeps one core busy, and on two
    cores the helper would only take turns with the pass's thread (measured on the 1M x 12
    reference file under load: 0.1 s more CPU, no time saved)."""
    text = [i for i, c in enumerate(stats) if c.family == "string"]
    if len(stats) < 2 or not text or not spare():
        return set()
    if len(text) == len(stats):
        text = text[1::2]
    return set(text)


def _threaded(reader: CellReader, ahead: int) -> Iterator[tuple[pa.RecordBatch, int]]:
    """``threaded`` over (batch, first row id) pairs: the ids travel beside the batches."""
    ids: deque[int] = deque()

    def batches() -> Iterator[pa.RecordBatch]:
        for batch, first_id in reader:
            ids.append(first_id)
            yield batch

    for batch in threaded(batches(), ahead_bytes=ahead):
        yield batch, ids.popleft()


def _begin(state: PassState, schema: pa.Schema) -> None:
    """Set up the accumulators from the first batch's schema, sized by the file's width."""
    options = state.options
    state.names = names = schema.names
    if options.max_columns is not None and len(names) > options.max_columns:
        raise ProfileError(too_many_columns(len(names), options.max_columns))
    width = max(1, len(names))
    # Per-column exact tables share one budget so that 2,000 columns stay within memory.
    exact_limit = max(1_000, min(options.exact_distinct_limit, EXACT_CELLS // width))
    # Count-min tables shrink with the width too (2 MiB each at most, 64 MiB in all).
    cms_bits = max(10, min(16, int(math.log2(CMS_BYTES / (width * 4 * 8)))))
    state.stats = [ColumnStats(f.name, f.type, exact_limit=exact_limit, cms_bits=cms_bits) for f in schema]
    state.sample_size = max(100, min(options.pii_sample_rows, options.sample_cells // width))
    state.sample = RowSample(state.sample_size, options.seed)
    missing = [s for s in state.sensitive if s not in names]
    if missing:
        state.warnings.append(f"Sensitive column(s) not in the file: {', '.join(missing)}.")
    state.sensitive = [s for s in state.sensitive if s in names]
    if state.label_column is not None and state.label_column not in names:
        state.warnings.append(f"The label column {state.label_column} is not in the file.")
        state.label_column = None
    if state.sensitive:
        label = state.label_column
        state.acc = BiasAccumulator(state.sensitive, label, state.positive_label, options.max_groups)
        state.bias_columns = state.sensitive + ([label] if label and label not in state.sensitive else [])


def _grouped(items: Iterator[tuple[pa.RecordBatch, int]], max_rows: int):
    """Join the batches of a wide file (pyarrow's 4 MiB blocks hold few rows of 2,000 columns) so
    that the per-column cost of each update is paid for a few thousand rows at a time. Narrow
    files pass through untouched (joining would only copy). Only batches whose row ids follow
    each other are joined."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    first = 0
    for batch, first_id in items:
        width = batch.num_columns
        if width < WIDE:
            yield batch, first_id
            continue
        if pending and first_id != first + rows:
            yield _join(pending), first
            pending, rows = [], 0
        if not pending:
            first = first_id
        pending.append(batch)
        rows += batch.num_rows
        if rows * width >= GROUP_CELLS or rows >= max_rows:
            yield _join(pending), first
            pending, rows = [], 0
    if pending:
        yield _join(pending), first


def _join(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0] if table.num_rows else batches[0]

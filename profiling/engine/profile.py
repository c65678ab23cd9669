"""``profile_file``: one streaming pass over a file gives every statistic the profile reports.

The pass is the pass over all of the file's parts: ``prepare`` the spec (spec.py), read every cell
into one state (``profile_part``, parts.py), ``finish`` it (finish.py). Profiling a big file in
parts on several workers runs the same steps, with ``merge_states`` (state.py) between them, and
gives the same figures: exact ones identical, sketched ones within the sketches' error.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

from profiling.engine.finish import drop_non_finite, finish
from profiling.engine.location import Location
from profiling.engine.parts import Progress, profile_part
from profiling.engine.read_plan import Retype
from profiling.engine.spec import prepare, widen
from profiling.engine.types import ProfileOptions, ProfileResult

__all__ = ["drop_non_finite", "profile_file"]


def profile_file(
    path: "str | Location",
    *,
    format: str = "",  # noqa: A002 -- the engine's keyword everywhere
    compression: str = "",
    encoding: str = "utf-8",
    sensitive_columns: Sequence[str] = (),
    label_column: str | None = None,
    positive_label: Any = None,
    options: ProfileOptions | None = None,
    progress: Callable[[float], None] | None = None,
    batch_consumers: Sequence[Any] = (),
) -> ProfileResult:
    """Profile a dataset in one streaming pass; raise ProfileError on unreadable data.

    ``path`` is a file on this machine's disk, or a ``Location`` (profiling.engine.location: an
    object on S3, a partitioned dataset, a PostgreSQL table) that carries its own format,
    compression and encoding; the profile's ``method["location"]`` then says where it was read.

    progress(fraction in 0..1) is called at most a few times per second (by text blocks parsed /
    Parquet rows read), never backwards, and with 1.0 at the end.

    ``batch_consumers`` see the same record batches (``consume(batch)``, nested fields flattened,
    before JSON dates are cast) so that the file is read once for them too, e.g. the quality suite
    (profiling.native_expectations); ``reset()`` is called when the pass restarts.
    """
    started = time.perf_counter()
    spec = prepare(
        path,
        format=format,
        compression=compression,
        encoding=encoding,
        sensitive_columns=sensitive_columns,
        label_column=label_column,
        positive_label=positive_label,
        options=options,
    )
    tick = Progress(progress)
    while True:
        for consumer in batch_consumers:
            consumer.reset()
        try:
            state = profile_part(spec, progress=tick, batch_consumers=batch_consumers)
        except Retype as retype:
            spec = widen(spec, retype)  # ProfileError once the types keep changing
            continue
        result = finish(state)
        result.method["seconds"] = round(time.perf_counter() - started, 3)
        tick(1.0, force=True)
        return result

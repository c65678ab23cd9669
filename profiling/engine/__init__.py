"""The profiling engine: one streaming pass over a dataset file gives column statistics, bias
indicators, PII findings and a drift state; ``compute_drift`` compares two drift states.

Pure Python on pyarrow, numpy and datasketches: no Django models, no database. Memory does not grow
with the file (see docs/profiling.md for what is exact and what is sketched).
"""

from profiling.engine.drift import compute_drift
from profiling.engine.location import Location, Part, Table
from profiling.engine.profile import profile_file
from profiling.engine.readers import iter_batches
from profiling.engine.types import ProfileError, ProfileOptions, ProfileResult

__all__ = [
    "Location",
    "Part",
    "ProfileError",
    "ProfileOptions",
    "ProfileResult",
    "Table",
    "compute_drift",
    "iter_batches",
    "profile_file",
]

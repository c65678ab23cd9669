"""The profiling engine: one streaming pass over a dataset file gives column statistics, bias
indicators, PII findings and a drift state; ``compute_drift`` compares two drift states.

A big file can be profiled in parts (on several workers) and the parts merged, with the figures of
one pass: ``prepare`` → ``ProfileSpec`` (JSON), ``profile_part(spec, cells)`` → ``PassState``
(``to_bytes``/``from_bytes``), ``merge_states`` → ``finish`` → ``ProfileResult``.

Pure Python on pyarrow, numpy and datasketches: no Django models, no database. Memory does not grow
with the file (see docs/profiling.md for what is exact and what is sketched).
"""

from profiling.engine.codec import from_bytes, to_bytes
from profiling.engine.drift import compute_drift
from profiling.engine.finish import finish
from profiling.engine.location import Location, Part, Table
from profiling.engine.parts import profile_part
from profiling.engine.profile import profile_file
from profiling.engine.read_plan import Retype
from profiling.engine.readers import iter_batches
from profiling.engine.spec import ProfileSpec, prepare, retype_from_dict, retype_to_dict, widen
from profiling.engine.state import PassState, merge_states
from profiling.engine.types import ProfileError, ProfileOptions, ProfileResult

__all__ = [
    "Location",
    "Part",
    "PassState",
    "ProfileError",
    "ProfileOptions",
    "ProfileResult",
    "ProfileSpec",
    "Retype",
    "Table",
    "compute_drift",
    "finish",
    "from_bytes",
    "iter_batches",
    "merge_states",
    "prepare",
    "profile_file",
    "profile_part",
    "retype_from_dict",
    "retype_to_dict",
    "to_bytes",
    "widen",
]

"""The engine's public value types: options in, result out, and the one error it raises."""

from dataclasses import dataclass, field
from typing import Any

# The statistic types a column can be reported as (API.md, profile columns).
COLUMN_TYPES = ("integer", "float", "boolean", "string", "datetime", "categorical")
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


class ProfileError(Exception):
    """Bad input; str(exc) is a message for people (no traceback)."""


@dataclass
class ProfileOptions:
    """Knobs of one profiling run. The defaults are the documented ones (docs/profiling.md)."""

    batch_rows: int = 65_536
    # Per column, figures stay exact while the column holds at most this many distinct values
    # (value -> count tables); past it the column switches to sketches (KLL, HLL, heavy hitters).
    exact_distinct_limit: int = 50_000
    pii_sample_rows: int = 10_000
    pii_match_threshold: float = 0.5  # share of non-null sampled values that must match
    representation_threshold: float = 0.05
    proxy_threshold: float = 0.5  # bias-corrected Cramér's V above which a column is a proxy
    psi_threshold: float = 0.2
    ks_pvalue_threshold: float = 0.05
    # Extra knobs (not in the interface the jobs code relies on, all optional).
    histogram_bins: int = 20
    top_values: int = 10
    max_row_bytes: int = 16 * 1024 * 1024  # a single CSV/JSON row longer than this is refused
    block_bytes: int = 4 * 1024 * 1024  # CSV/JSON bytes parsed at a time; types are inferred from the first
    max_groups: int = 1_000  # a sensitive column with more distinct values is not a group attribute
    # Limits on what one file may be (the job passes the deployment's settings; None: no limit).
    max_columns: int | None = None  # columns, nested fields flattened
    max_text_bytes: int | None = None  # text bytes once decompressed
    max_expansion: float | None = None  # text bytes per byte of gzip, past the first EXPANSION_GRACE
    max_json_depth: int = 64  # nesting of a JSON Lines line (pyarrow's parser overflows its stack)
    sample_cells: int = 4_000_000  # caps the row sample (rows x columns) for very wide files
    drift_sample_size: int = 2_000  # numeric values kept per column for the KS test
    # An uncompressed CSV/TSV file is read in cells of about this many bytes, cut at record starts
    # (cells.py): the units parts are made of. One pass reads the same cells one after the other.
    cell_bytes: int = 64 * 1024 * 1024
    phone_regions: tuple[str, ...] = ("US", "GB", "FR", "DE")
    # Columns found to hold personal data show no values (top values, min, max, quantiles) and
    # keep only digests of their values in the drift state.
    redact_pii: bool = True
    seed: int = 20_240_601


@dataclass
class ProfileResult:
    """What one pass over a file found; ``columns`` and ``bias`` are API.md's objects."""

    row_count: int
    columns: list[dict]
    schema: list[dict]
    bias: dict | None
    pii: dict[str, list[str]]
    drift_state: dict
    warnings: list[str] = field(default_factory=list)
    method: dict[str, Any] = field(default_factory=dict)

"""From a listing of files (S3 objects or a folder's files) to datasets: one home for the rules the
object storage and folder connectors share.

* **Format** from the name: ``.csv .tsv .parquet .pq .jsonl .ndjson``, each optionally ``.gz``
  (compression "gzip"). Any other name is skipped without a word, and so is anything hidden or
  scratch under the source's root (a path segment starting with ``.`` or ``_``: ``_SUCCESS``,
  ``_temporary/``, ``.git/``), as Spark, Hive and pyarrow.dataset skip them.
* **Hive partitioning** (layout "auto"): a file below a ``key=value`` folder belongs to the dataset
  of the folder above the first such segment (``sales/date=2026-12-01/part-0.parquet`` → ``sales``),
  whose parts are every such file below it, in one format, under the same partition keys (else a
  Problem). Files not below a ``key=value`` folder are datasets of their own. Layout "files": every
  file is its own dataset, partitions or not.
* **Selection**: include/exclude globs (catalog.connectors.base.selected) match each file's path as
  the connector gives it (the key for S3, the path under the source's folder for folders); fnmatch's
  ``*`` crosses ``/``, so ``sales/*`` selects a whole partitioned folder.
* **Fingerprint**: sha256 of the sorted (relative path, size, ETag or mtime_ns, version id) of the
  dataset's files: it moves when any part is added, removed or rewritten, and only then.

Plain Python, no I/O: the connectors list, this module groups. A listing in path order (S3's, or a
depth-first walk) is grouped as it streams: a partitioned folder is handed on as soon as the
listing has left it, so only the open folders' parts are held.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

from catalog import formats
from catalog.connectors.base import Found, Problem, selected

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_PARTITION = re.compile(r"^[^=]+=[^=]*$")


class Entry(NamedTuple):
    """One file as listed: ``path`` (the S3 key, or the file's absolute path), its size, its stamp
    (S3 ETag, or mtime_ns) and its version id (S3 versioned buckets only)."""

    path: str
    size: int
    stamp: str | int
    version: str | None = None


@dataclass
class Candidate:
    """One dataset as the listing shows it, before its bytes are looked at."""

    name: str  # the file's path, or the partitioned folder's path without a trailing separator
    format: str
    compression: str
    parts: list[Entry]
    partition_keys: list[str] | None = None  # None: one file, not a partitioned folder

    @property
    def partitioned(self) -> bool:
        return self.partition_keys is not None

    @property
    def size_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    def relative(self, entry: Entry) -> str:
        """A part's path under the partitioned folder; a lone file's own name."""
        if self.partitioned:
            return entry.path[len(self.name) + 1 :]
        return entry.path.rsplit("/", 1)[-1]

    def sample(self) -> Entry:
        """The part whose bytes are checked: the first that is not empty (parts are path-sorted)."""
        return next((p for p in self.parts if p.size > 0), self.parts[0])


def format_of(filename: str) -> tuple[str, str] | None:
    """(format, compression) from a file name's extension, or None for a name that is not data."""
    lower = filename.lower()
    compression = ""
    if lower.endswith(".gz"):
        lower, compression = lower[:-3], "gzip"
    dot = lower.rfind(".")
    fmt = EXTENSIONS.get(lower[dot:]) if dot > 0 else None
    return (fmt, compression) if fmt else None


def hidden(relative: str) -> bool:
    """A path (under the source's root) with a hidden or scratch segment: ``.x`` or ``_x``."""
    return any(segment[:1] in (".", "_") for segment in relative.split("/"))


def partition_start(segments: list[str]) -> int | None:
    """Index of the first ``key=value`` folder among a path's folder segments (not its file name)."""
    for i, segment in enumerate(segments[:-1]):
        if _PARTITION.match(segment):
            return i
    return None


def fingerprint(candidate: Candidate) -> str:
    """sha256 hex of the sorted (relative path, size, stamp, version id) of the dataset's files."""
    digest = hashlib.sha256()
    rows = sorted((candidate.relative(p), p.size, str(p.stamp), p.version or "") for p in candidate.parts)
    for row in rows:
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def reference(candidate: Candidate, *, path_field: str, stamp_field: str) -> dict[str, Any]:
    """What a reader needs beyond the URI, as catalog.scans stores it on the version.

    One file: ``{stamp_field, "size", "version_id"?}``. Partitioned: ``{"partitioning": "hive",
    "partition_keys", "parts": [{path_field: path under the folder, "size", stamp_field,
    "version_id"?}]}``."""

    def describe(entry: Entry, with_path: bool) -> dict[str, Any]:
        out: dict[str, Any] = {path_field: candidate.relative(entry)} if with_path else {}
        out.update({"size": entry.size, stamp_field: entry.stamp})
        if entry.version:
            out["version_id"] = entry.version
        return out

    if not candidate.partitioned:
        return describe(candidate.parts[0], with_path=False)
    return {
        "partitioning": "hive",
        "partition_keys": list(candidate.partition_keys or []),
        "parts": [describe(p, with_path=True) for p in candidate.parts],
    }


@dataclass
class _Folder:
    """A partitioned folder being filled while the listing walks through it."""

    name: str
    parts: list[Entry] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)  # (format, compression) → parts
    keys: dict[tuple[str, ...], str] = field(default_factory=dict)  # partition keys → a part showing them

    def close(self) -> Candidate | Problem:
        if not self.name:
            return Problem(
                None,
                "Partition folders (key=value) sit right under the bucket's root, and a dataset needs "
                "a folder to be named after: move them into a folder, or use the layout 'files'.",
            )
        if len(self.kinds) > 1:
            seen = ", ".join(f"{_kind(k)}: {n}" for k, n in sorted(self.kinds.items()))
            return Problem(
                self.name,
                f"The partitioned folder holds parts in more than one format ({seen}); a partitioned "
                "dataset is one format. Move the others out, or exclude them with a pattern.",
            )
        if len(self.keys) > 1:
            shapes = "; ".join(
                f"{'/'.join(k) or 'none'} (e.g. {p})" for k, p in sorted(self.keys.items())[:3]
            )
            return Problem(
                self.name,
                f"The partitioned folder's parts are not under the same partition keys: {shapes}. "
                "Every part of a Hive-partitioned dataset sits under the same key=value folders.",
            )
        (fmt, compression), _ = self.kinds.most_common(1)[0]
        return Candidate(self.name, fmt, compression, self.parts, list(next(iter(self.keys))))


def _kind(kind: tuple[str, str]) -> str:
    return kind[0] + (" (gzip)" if kind[1] else "")


def group(
    entries: Iterable[Entry | Problem],
    *,
    base: str,
    layout: str = "auto",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    glob_from: int = 0,
    ordered: bool = True,
) -> Iterator[Candidate | Problem]:
    """The datasets a listing holds, as it streams.

    ``base``: the source's root as a path prefix ending with "/" (or ""); hidden segments and
    partition folders count from there. ``glob_from``: how many leading characters of a path the
    include/exclude globs do not see. ``ordered``: the listing is in path order, or at least
    depth-first (every folder's files come together), so a partitioned folder is complete once the
    listing has left it; otherwise every folder is held to the end. Problems from the listing pass
    through.
    """
    open_folders: dict[str, _Folder] = {}
    for entry in entries:
        if isinstance(entry, Problem):
            yield entry
            continue
        if ordered and open_folders:
            yield from _leave(open_folders, entry.path)
        relative = entry.path[len(base) :]
        if not entry.path.startswith(base) or not relative or relative.endswith("/") or hidden(relative):
            continue
        kind = format_of(relative.rsplit("/", 1)[-1])
        if kind is None or not selected(entry.path[glob_from:], include, exclude):
            continue
        segments = relative.split("/")
        start = partition_start(segments) if layout != "files" else None
        if start is None:
            yield Candidate(entry.path, kind[0], kind[1], [entry])
            continue
        name = (base + "/".join(segments[:start])).rstrip("/")  # "": partitions at a bucket's root
        folder = open_folders.get(name)
        if folder is None:
            folder = open_folders[name] = _Folder(name)
        folder.parts.append(entry)
        folder.kinds[kind] += 1
        keys = tuple(s.split("=", 1)[0] for s in segments[start:-1] if _PARTITION.match(s))
        folder.keys.setdefault(keys, "/".join(segments[start:]))
    for name in sorted(open_folders):
        yield open_folders[name].close()


def _leave(open_folders: dict[str, _Folder], path: str) -> Iterator[Candidate | Problem]:
    """Close the folders a path-ordered listing has left behind (those ``path`` is not inside)."""
    for name in [n for n in open_folders if not path.startswith(n + "/" if n else "")]:
        yield open_folders.pop(name).close()


def found(
    candidate: Candidate,
    *,
    fingerprint: str,
    info: Any,
    namespace: str,
    uri_root: str,
    path_field: str,
    stamp_field: str,
) -> Found:
    """The dataset a candidate is: ``info`` is what its head showed (catalog.files.FileInfo), or
    None when the fingerprint was known and nothing was read. The URI is ``uri_root`` + the quoted
    name (+ "/" for a partitioned folder); S3 and folders differ only in these arguments."""
    fmt, columns, extra = candidate.format, [], {}
    if info is not None:
        fmt, columns = info.format, info.columns
        if not formats.is_utf8(info.encoding):
            extra["encoding"] = info.encoding
    suffix = "/" if candidate.partitioned else ""
    return Found(
        namespace=namespace,
        name=candidate.name,
        uri=f"{uri_root}{quote(candidate.name)}{suffix}",
        fingerprint=fingerprint,
        format=fmt,
        compression=candidate.compression,
        size_bytes=candidate.size_bytes,
        columns=columns,
        reference=reference(candidate, path_field=path_field, stamp_field=stamp_field) | extra,
    )

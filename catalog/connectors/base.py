"""What every connector answers: the datasets it finds (``Found``), what it could not read
(``Problem``), and ``SourceError`` when the whole source cannot be read (nothing is registered then,
and nothing is marked removed)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class SourceError(Exception):
    """The source as a whole cannot be read: unreachable, refused, misconfigured. The message is
    shown to users: it names what is wrong and never holds a credential."""


@dataclass(frozen=True)
class Found:
    """One dataset as the source holds it now.

    ``namespace`` and ``name`` follow OpenLineage's naming spec (PostgreSQL: ``postgres://host:port``
    and ``database.schema.table``; S3: ``s3://bucket`` and the key or prefix; folders: ``file`` and the
    absolute path), so lineage events about the same data land on the same dataset.
    ``fingerprint`` changes exactly when the data (or its schema) changes: a sha256 hex digest.
    ``reference`` is what a reader needs beyond ``uri`` (stored on the version as is, JSON).
    """

    namespace: str
    name: str
    uri: str
    fingerprint: str
    format: str  # csv | tsv | parquet | jsonl | table
    compression: str = ""
    size_bytes: int = 0
    # [{"name", "type"?, "description"?, "primary_key"?: bool}] in column order
    columns: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    reference: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """One dataset (or object) the scan could not read; the rest goes on."""

    name: str | None
    message: str


class Connector(Protocol):
    source: Any

    def check(self) -> None:
        """Connect and authenticate; raise SourceError saying what is wrong. Writes nothing."""

    def discover(self) -> Iterator[Found | Problem]:
        """Everything the source holds that its include/exclude patterns select, one at a time."""


def selected(name: str, include: list[str] | None, exclude: list[str] | None) -> bool:
    """Glob patterns (fnmatch, case-sensitive): included when no include pattern is given or one
    matches, and no exclude pattern matches."""
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not (exclude and any(fnmatch.fnmatchcase(name, p) for p in exclude))

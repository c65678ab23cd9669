"""A folder under ``DATA_ROOTS`` as a source: the embedded default's (the demo's data is one).

Datasets are named as OpenLineage names local files: namespace ``file``, name = the absolute path
(of the file, or of the partitioned folder); uri ``file:///abs/path`` (``/`` at the end for a
partitioned folder), percent-encoded as catalog.files reads it back. The listing rules are the
object storage connector's (catalog.connectors.listing: formats, Hive partitions, layout, hidden
files); include/exclude globs match the path under the source's folder (``sales/*.csv``).

The walk is depth-first in name order with ``os.scandir``, one folder level held at a time. A
symbolic link is followed only when it leads inside ``DATA_ROOTS`` (a link out is a Problem, not a
way out); a link to a folder inside the source's own folder is not followed (that folder is walked
as itself), and a folder reached twice through links is walked once. Fingerprints come from (path under
the dataset, size, mtime_ns); the format check reads a bounded head like uploads (heads.inspect).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

import catalog.connectors.heads as heads
import catalog.connectors.listing as listing
from catalog import files
from catalog.connectors.base import Found, Problem, SourceError
from catalog.formats import FormatError


class FolderConnector:
    """The datasets in ``source.uri`` (``file:///dir`` inside DATA_ROOTS)."""

    def __init__(self, source: Any, *, known: Mapping[str, str] | None = None) -> None:
        self.source = source
        # {name: fingerprint} the scan already holds: those datasets are not read again.
        self.known: Mapping[str, str] = known or {}

    def root(self) -> Path:
        """The source's folder, resolved, inside DATA_ROOTS and readable; SourceError otherwise."""
        try:
            return files.path_from_file_uri(self.source.uri, folder=True)
        except ValidationError as exc:
            raise SourceError(exc.messages[0]) from None

    def check(self) -> None:
        self.root()

    def discover(self) -> Iterator[Found | Problem]:
        root = self.root()
        base = str(root).rstrip("/") + "/"
        candidates = listing.group(
            self._walk(root),
            base=base,
            layout=getattr(self.source, "layout", "auto") or "auto",
            include=self.source.include or None,
            exclude=self.source.exclude or None,
            glob_from=len(base),
            ordered=True,  # depth-first: every folder's files come together
        )
        for candidate in candidates:
            yield candidate if isinstance(candidate, Problem) else self._found(candidate)

    # -- the walk --------------------------------------------------------------------------------

    def _walk(self, root: Path) -> Iterator[listing.Entry | Problem]:
        seen: set[tuple[int, int]] = set()
        first = _listdir(str(root), seen)
        if isinstance(first, Problem):
            raise SourceError(first.message)
        stack = [iter(first)]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            if entry.name[:1] in (".", "_"):  # hidden or scratch (listing.hidden): not walked into
                continue
            try:
                found = self._visit(entry, seen, root)
            except OSError as exc:
                found = Problem(_printable(entry.path), f"It cannot be read: {exc.strerror}.")
            if isinstance(found, list):
                stack.append(iter(found))
            elif found is not None:
                yield found

    def _visit(self, entry: os.DirEntry, seen: set, root: Path) -> list | listing.Entry | Problem | None:
        """A folder → its entries (to walk); a data file → its Entry; a Problem; None: not data."""
        path = entry.path
        if entry.is_symlink():
            target = _target_in_roots(path)
            if target is None:
                return Problem(
                    _printable(path),
                    "It is a symbolic link that leads outside DATA_ROOTS (or nowhere): not followed.",
                )
            if entry.is_dir() and _within(target, [root]):
                return None  # a link into the source's own folder: that folder is walked as itself
        if entry.is_dir():
            return _listdir(path, seen)
        if not entry.is_file() or listing.format_of(entry.name) is None:
            return None
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return Problem(_printable(path), "The file's name is not valid UTF-8: rename it.")
        stat = entry.stat()
        return listing.Entry(path, stat.st_size, stat.st_mtime_ns)

    # -- one dataset -----------------------------------------------------------------------------

    def _found(self, candidate: listing.Candidate) -> Found | Problem:
        fingerprint = listing.fingerprint(candidate)
        info = None
        if self.known.get(candidate.name) != fingerprint:
            part = candidate.sample()
            try:
                info = _inspect(candidate, part)
            except (FormatError, OSError) as exc:
                message = str(exc) if isinstance(exc, FormatError) else f"It cannot be read: {exc.strerror}."
                where = f"{candidate.relative(part)}: " if candidate.partitioned else ""
                return Problem(candidate.name, where + message)
        return listing.found(
            candidate,
            fingerprint=fingerprint,
            info=info,
            namespace="file",
            uri_root="file://",
            path_field="path",
            stamp_field="mtime_ns",
        )


def _inspect(candidate: listing.Candidate, part: listing.Entry) -> files.FileInfo:
    """The format check on the file as listed: one that changed since is not read as if it were."""
    with open(part.path, "rb") as fh:
        stat = os.fstat(fh.fileno())
        if (stat.st_size, stat.st_mtime_ns) != (part.size, part.stamp):
            raise FormatError("The file changed during the scan; the next scan reads the new one.")
        fd = fh.fileno()
        return heads.inspect(
            lambda offset, length: os.pread(fd, length, offset),
            size=part.size,
            format=candidate.format,
            compression=candidate.compression,
            filename=part.path,
        )


def _listdir(path: str, seen: set[tuple[int, int]]) -> list[os.DirEntry] | Problem:
    """A folder's entries in name order; [] for a folder already walked (a loop of links)."""
    try:
        stat = os.stat(path)
        if (stat.st_dev, stat.st_ino) in seen:
            return []
        seen.add((stat.st_dev, stat.st_ino))
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return Problem(_printable(path), f"The folder cannot be read: {exc.strerror}.")


def _target_in_roots(path: str) -> Path | None:
    """Where a symbolic link leads, when that is inside DATA_ROOTS."""
    try:
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link, or a loop of links
        return None
    return target if _within(target, settings.DATA_ROOTS) else None


def _within(path: Path, folders) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _printable(path: str) -> str:
    """A path as text, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "replace")

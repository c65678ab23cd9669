"""Matching the dataset inputs of an MLflow run (``mlflow.data``: name, digest, source type, source)
to catalogued datasets and versions. Reads only; governance.mlflow_sync records what it finds.

Rules (docs/mlflow.md, "Matching"), first that applies:

1. The source's location, named as OpenLineage names it (``s3://bucket`` + key, ``file`` + absolute
   path, ``postgres://host:port`` + ``database.schema.table``), is a catalogued dataset. Its version:
   the one whose sha256 begins with the input's digest when the pipeline logged (the first 32 to 36
   hex digits of) the file's sha256 as the digest ("checksum"); else the version registered from that very URI; else the version that was
   the latest when the run started ("location, version by time").
2. A version was registered from that very URI (a path inside DATA_ROOTS, under any dataset name).
3. The digest is the start of a sha256 that some version's bytes have ("checksum").

MLflow computes its own digests (pandas: an MD5 over the hashes of the first rows, the row count and
the column names, cut to 8 characters; files: likewise over the data read), never the sha256 of the
file's bytes that a version's checksum is, so only a digest of 32 or more hex digits (MLflow keeps
at most 36 characters: a pipeline logs ``sha256[:36]``) is compared with checksums, as their start.
An input that matches nothing is unknown data, with the reason; it refuses clearance.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

from catalog.selectors import dataset_by_urn, version_current_at, versions_at_uri, versions_with_checksum
from catalog.urns import dataset_urn

# 32 hex digits and more: 128 bits of a sha256, never one of MLflow's own 8-character digests.
SHA256 = re.compile(r"^[0-9a-fA-F]{32,64}$")
MAX_TEXT = 2000  # characters kept of an input's source JSON


def source_uri(source_type: str, source: str) -> str:
    """The location an input's source JSON names ("" when it names none)."""
    try:
        data = json.loads(source) if source else {}
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    for key in ("uri", "url", "path"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def location(uri: str) -> tuple[str, str] | None:
    """(namespace, name) as OpenLineage names the data at ``uri``; None for a location the catalog
    does not name (http, a table of another system, a relative path)."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("s3", "s3a", "s3n") and parsed.netloc and parsed.path.strip("/"):
        return f"s3://{parsed.netloc}", unquote(parsed.path.lstrip("/"))
    if scheme == "file" or (not scheme and uri.startswith("/")):
        path = unquote(parsed.path if scheme else uri)
        return ("file", path) if path.startswith("/") else None
    if scheme in ("postgres", "postgresql") and parsed.hostname:
        name = unquote(parsed.path.strip("/")).replace("/", ".")
        try:
            port = parsed.port or 5432
        except ValueError:
            return None
        return (f"postgres://{parsed.hostname}:{port}", name) if name.count(".") == 2 else None
    return None


def _file_uri(uri: str) -> str:
    """A plain absolute path as the file:// URI a version registered by path keeps."""
    return f"file://{uri}" if uri.startswith("/") else uri


def _by_checksum(versions: list, digest: str):
    if not SHA256.match(digest or ""):
        return None
    return next((v for v in versions if v.checksum.startswith(digest.lower())), None)


def _matched(version, dataset, method: str) -> dict[str, Any]:
    return {
        "urn": dataset.urn,
        "version": version.number if version is not None else None,
        "method": method,
        "reason": "",
        "_dataset": dataset,
        "_version": version,
    }


def _unknown(reason: str) -> dict[str, Any]:
    return {"urn": None, "version": None, "method": "", "reason": reason, "_dataset": None, "_version": None}


BY_TIME = ("location, version by time", "location (the dataset has no version)")


def _by_time(dataset, started: datetime) -> dict[str, Any]:
    """The dataset's version that was the latest when the run started."""
    version = version_current_at(dataset, started)
    return _matched(version, dataset, BY_TIME[0] if version else BY_TIME[1])


def _match_location(uri: str, digest: str, started: datetime) -> dict[str, Any] | None:
    named = location(uri)
    dataset = dataset_by_urn(dataset_urn(*named)) if named else None
    at_uri = versions_at_uri(_file_uri(uri))
    if dataset is not None:
        if SHA256.match(digest or ""):
            same = (
                dataset.versions.filter(checksum__startswith=digest.lower(), deleted_at__isnull=True)
                .order_by("-number")
                .first()
            )
            if same is not None:
                return _matched(same, dataset, "checksum")
        own = [v for v in at_uri if v.dataset_id == dataset.pk]
        if own:
            return _matched(own[0], dataset, "location")
        return _by_time(dataset, started)
    if at_uri:
        return _matched(_by_checksum(at_uri, digest) or at_uri[0], at_uri[0].dataset, "version's source URI")
    return None


def match_input(
    *, source_type: str, source: str, digest: str, started: datetime, memo: dict | None = None
) -> dict[str, Any]:
    """What one input is: {"urn", "version", "method", "reason"} (plus the dataset and version rows
    under private keys for the caller); ``urn`` None for unknown data.

    ``memo``: what earlier inputs of the same sync matched, by (source type, source, digest): a
    thousand runs reading ten datasets cost ten matches, not a thousand. Only a version by time
    depends on the run's start, and is looked up again for each run."""
    key = (source_type, source, digest)
    if memo is not None and key in memo:
        known = memo[key]
        return _by_time(known["_dataset"], started) if known["method"] in BY_TIME else dict(known)
    found = _match_input(source_type=source_type, source=source, digest=digest, started=started)
    if memo is not None:
        memo[key] = found
    return dict(found)


def _match_input(*, source_type: str, source: str, digest: str, started: datetime) -> dict[str, Any]:
    uri = source_uri(source_type, source)
    found = _match_location(uri, digest, started) if uri else None
    if found is None and SHA256.match(digest or ""):
        same = versions_with_checksum(digest)
        if same:
            found = _matched(same[0], same[0].dataset, "checksum")
    if found is not None:
        return found
    if not uri:
        return _unknown(f"The input names no source location (MLflow source type '{source_type or 'none'}').")
    if location(uri) is None:
        return _unknown(f"The catalog names no data at '{uri[:300]}' (an HTTP or unsupported location).")
    return _unknown(f"No catalogued dataset is at '{uri[:300]}' and no version has this digest.")


def match_run_inputs(
    dataset_inputs: list[Any], started: datetime, memo: dict | None = None
) -> list[dict[str, Any]]:
    """Every dataset input of a run (MLflow's DatasetInput entities), matched; in the order logged
    (``memo``: match_input's, kept by the caller for one sync)."""
    out = []
    for di in dataset_inputs:
        ds = di.dataset
        tags = {t.key: t.value for t in (di.tags or [])}
        found = match_input(
            source_type=ds.source_type or "",
            source=ds.source or "",
            digest=ds.digest or "",
            started=started,
            memo=memo,
        )
        out.append(
            {
                "name": ds.name or "",
                "digest": ds.digest or "",
                "source_type": ds.source_type or "",
                "source": (ds.source or "")[:MAX_TEXT],
                "context": tags.get("mlflow.data.context", ""),
                **found,
            }
        )
    return out

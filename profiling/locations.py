"""Where a version's data is read from, as a ``profiling.engine.Location``, and the check that it is
still the data the version describes.

- An uploaded version: the stored file, on this machine's disk (FileSystemStorage) or read in place
  from the bucket of django-storages' S3Storage through ``pyarrow.fs`` (no download); any other
  storage: None, and the runner downloads it to a temporary file (the one case that still copies).
- A version registered by path (``file://`` inside DATA_ROOTS): that file.
- A version by reference (a source's scan registered it; ``fingerprint`` set): an S3 object, the
  parts of a Hive-partitioned prefix or folder, a file of a folder source, or a PostgreSQL table
  (sampled with TABLESAMPLE when the source says so), read with the source's credentials.

This is where the catalog is imported; the engine itself knows nothing of Django.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings

from catalog.connectors import access
from catalog.connectors.base import SourceError
from catalog.connectors.postgres import table_sql
from profiling.engine import Location, Part, ProfileError, Table
from profiling.engine.location import hive_values, local

# LEAD: catalog.connectors.postgres.table_sql (same signature) once pgsrc is on main. The seed
# makes TABLESAMPLE repeatable: the quality check after the profile reads the same sample.
TABLE_SQL = functools.partial(table_sql, seed=0)
S3_REQUEST_TIMEOUT = 60.0  # seconds; the AWS SDK's default (3 s) fails a slow first byte
LIVE = "read as it is now: a table has no fixed bytes, so the profile describes its rows when it was made"


def location_of(version: Any) -> Location | None:
    """Where to read ``version``; None when only a download can reach its bytes."""
    text = {
        "format": version.format,
        "compression": version.compression or "",
        "encoding": version.encoding or "utf-8",
    }
    if version.is_reference:
        try:
            return _reference(version, text)
        except SourceError as exc:
            raise ProfileError(str(exc)) from exc
    path = version.local_path()  # a registered path (checked against DATA_ROOTS) or local storage
    if path:
        return local(path, **text)
    return _uploaded_on_s3(version, text)


# --------------------------------------------------------------------------- references
def _reference(version: Any, text: dict[str, str]) -> Location:
    uri = version.source_uri
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return _folder(version, text)
    source = version.dataset.source
    if source is None:
        raise ProfileError(
            f"The dataset's source is gone, and with it the credentials to read {uri}; "
            "add the source again (or upload the data) to profile it."
        )
    if scheme == "s3":
        return _s3(version, source, text)
    if scheme in ("postgres", "postgresql"):
        return _postgres(version, source)
    raise ProfileError(f"A reference to '{scheme}://' data cannot be read in place.")


def _s3(version: Any, source: Any, text: dict[str, str]) -> Location:
    bucket, key = access.s3_parts(version.source_uri)
    filesystem = access.arrow_s3(source)
    reference = version.reference or {}
    if version.source_uri.endswith("/"):
        parts = tuple(
            _part(f"{bucket}/{_full_key(key, p['key'])}", p, _relative(key, p["key"]))
            for p in reference.get("parts", [])
        )
        return Location(
            path=f"{bucket}/{key}",
            filesystem=filesystem,
            parts=parts,
            partitioning=reference.get("partitioning", ""),
            label=version.source_uri,
            **text,
        )
    size = reference.get("size", version.size_bytes)
    return Location(
        path=f"{bucket}/{key}", filesystem=filesystem, size=size, label=version.source_uri, **text
    )


def _full_key(prefix: str, key: str) -> str:
    """A part's key as the reference gives it, relative to the dataset's prefix or in full."""
    return key if key.startswith(prefix) else prefix + key.lstrip("/")


def _relative(prefix: str, key: str) -> str:
    return key[len(prefix) :] if key.startswith(prefix) else key.lstrip("/")


def _part(path: str, entry: dict[str, Any], relative: str) -> Part:
    size = entry.get("size")
    return Part(path=path, size=int(size) if size is not None else None, values=hive_values(relative))


def _folder(version: Any, text: dict[str, str]) -> Location:
    """A folder source's file or partitioned folder, inside DATA_ROOTS."""
    raw = unquote(urlparse(version.source_uri).path)
    if not version.source_uri.endswith("/"):
        return Location(path=str(_inside_roots(raw)), label=version.source_uri, **text)
    folder = _inside_roots(raw)
    parts = []
    for entry in (version.reference or {}).get("parts", []):
        given = Path(entry["path"])
        path = _inside_roots(str(given if given.is_absolute() else folder / given))
        if folder not in path.parents:
            raise ProfileError(f"The part {entry['path']} is not inside the dataset's folder {folder}.")
        parts.append(_part(str(path), entry, str(path.relative_to(folder))))
    partitioning = (version.reference or {}).get("partitioning", "")
    return Location(
        path=str(folder), parts=tuple(parts), partitioning=partitioning, label=version.source_uri, **text
    )


def _inside_roots(raw: str) -> Path:
    if "\x00" in raw or ".." in Path(raw).parts:
        raise ProfileError(f"The path {raw[:200]} is not a plain absolute path.")
    path = Path(raw).resolve()
    if not any(path == root or root in path.parents for root in settings.DATA_ROOTS):
        raise ProfileError(f"{raw} is outside the folders data may be read from (DATA_ROOTS).")
    return path


def _postgres(version: Any, source: Any) -> Location:
    reference = version.reference or {}
    schema, name = reference.get("schema"), reference.get("table")
    if not schema or not name:
        raise ProfileError(
            "The version's reference names no table (schema and table); scan the source again."
        )
    estimate = reference.get("row_estimate")
    estimate = int(estimate) if isinstance(estimate, int | float) and estimate >= 0 else None
    limit = source.sample_above_rows
    percent, warnings = None, []
    if limit and estimate and estimate > limit:
        if reference.get("kind", "table") == "view":
            warnings.append(
                f"The view {schema}.{name} has about {estimate:,} rows, more than the source's sampling "
                f"threshold ({limit:,}), but a view cannot be sampled (TABLESAMPLE): it was read whole."
            )
        else:
            percent = round(min(100.0, 100.0 * limit / estimate), 6)
            warnings.append(
                f"Profiled on a sample: TABLESAMPLE SYSTEM ({percent:g} %) of about {estimate:,} rows, as the "
                f"source samples tables over {limit:,} rows. Counts describe the sample, not the whole table."
            )
    table = Table(
        dsn=access.postgres_dsn(source),
        schema=schema,
        name=name,
        query=TABLE_SQL,
        sample_percent=percent,
        row_estimate=estimate,
    )
    host, port, database = access.postgres_parts(version.source_uri)
    label = f"postgres://{host}:{port}/{database} {schema}.{name}"
    return Location(format="table", table=table, label=label, warnings=tuple(warnings), notes={"live": LIVE})


# --------------------------------------------------------------------------- uploads on S3
def _uploaded_on_s3(version: Any, text: dict[str, str]) -> Location | None:
    """An upload kept by django-storages' S3Storage, read in place; None for other storages."""
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name

    storage = version.file.storage
    if not isinstance(storage, S3Storage) or not version.file.name:
        return None
    key = storage._normalize_name(clean_name(version.file.name))  # what S3Storage itself requests
    return Location(
        path=f"{storage.bucket_name}/{key}",
        filesystem=storage_filesystem(storage),
        size=version.size_bytes,
        label=f"s3://{storage.bucket_name}/{key}",
        **text,
    )


def storage_filesystem(storage: Any):
    """A ``pyarrow.fs.S3FileSystem`` with S3Storage's bucket endpoint and credentials (its keys, its
    AWS profile or boto3's default chain)."""
    import boto3
    from pyarrow import fs

    session = (
        boto3.Session(profile_name=storage.session_profile)
        if storage.session_profile
        else boto3.Session(
            aws_access_key_id=storage.access_key,
            aws_secret_access_key=storage.secret_key,
            aws_session_token=storage.security_token,
        )
    )
    options: dict[str, Any] = {"connect_timeout": 5, "request_timeout": S3_REQUEST_TIMEOUT}
    credentials = session.get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        options.update(access_key=frozen.access_key, secret_key=frozen.secret_key)
        if frozen.token:
            options["session_token"] = frozen.token
    options["region"] = (
        storage.region_name or session.region_name or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    if storage.endpoint_url:
        parsed = urlparse(storage.endpoint_url)
        options["endpoint_override"] = parsed.netloc or storage.endpoint_url
        options["scheme"] = parsed.scheme or ("https" if storage.use_ssl else "http")
    return fs.S3FileSystem(**options)


# --------------------------------------------------------------------------- still the same data?
def verify_reference(version: Any, location: Location) -> None:
    """Refuse to profile a reference whose data is no longer what the scan registered: an S3
    object's size, ETag (and version id) or a folder file's size and modification time differ from
    the version's reference (the equivalent of a registered path's sha256 check, without reading
    the data twice). A table is read live; the profile says so (``LIVE``)."""
    scheme = urlparse(version.source_uri).scheme
    if location.kind == "table":
        return
    reference = version.reference or {}
    if scheme == "s3":
        _verify_s3(version, location, reference)
    elif scheme == "file":
        _verify_files(version, location, reference)


def _changed(version: Any, what: str) -> ProfileError:
    return ProfileError(
        f"The data at {version.source_uri} changed since the scan that registered version "
        f"{version.number} ({what}); the next scan registers it as a new version."
    )


def _gone(version: Any, what: str = "") -> ProfileError:
    return ProfileError(
        f"The data at {version.source_uri}{what} no longer exists at the source; the next scan marks it removed."
    )


def _compare(version: Any, name: str, expected: dict[str, Any], actual: dict[str, Any]) -> None:
    for field in ("size", "etag", "version_id", "mtime_ns"):
        want = expected.get(field)
        have = actual.get(field)
        if want is None or have is None:
            continue
        if field == "etag":
            want, have = str(want).strip('"'), str(have).strip('"')
        if str(want) != str(have):
            raise _changed(version, f"{name}{field} {have} ≠ {want}")


def _verify_s3(version: Any, location: Location, reference: dict[str, Any]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = access.s3_parts(version.source_uri)
    client = access.boto3_s3(version.dataset.source)
    try:
        if location.parts is None:
            try:
                head = client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise _gone(version) from exc
                raise
            actual = {
                "size": head["ContentLength"],
                "etag": head.get("ETag"),
                "version_id": head.get("VersionId"),
            }
            _compare(version, "", reference, actual)
            return
        listed = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", []):
                listed[item["Key"]] = {"size": item["Size"], "etag": item.get("ETag")}
        for entry in reference.get("parts", []):
            full = _full_key(key, entry["key"])
            if full not in listed:
                raise _changed(version, f"its part {full} is gone")
            _compare(version, f"part {full}: ", entry, listed[full])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProfileError(
            f"The data at {version.source_uri} cannot be checked: {error.get('Code')} {error.get('Message', '')}".strip()
        ) from exc
    except BotoCoreError as exc:
        raise OSError(f"object storage unreachable: {exc}") from exc  # the job tries again


def _verify_files(version: Any, location: Location, reference: dict[str, Any]) -> None:
    entries = (
        [(location.path, reference)]
        if location.parts is None
        else [
            (part.path, entry)
            for part, entry in zip(location.parts, reference.get("parts", []), strict=False)
        ]
    )
    for path, entry in entries:
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            if location.parts is None:
                raise _gone(version) from exc
            raise _changed(version, f"its part {path} is gone") from exc
        name = "" if location.parts is None else f"part {path}: "
        _compare(version, name, entry, {"size": st.st_size, "mtime_ns": st.st_mtime_ns})

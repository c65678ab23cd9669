"""Clients for a source, built from its URI and its secret at the moment they are needed: the
PostgreSQL connection string, a boto3 S3 client (listing) and a pyarrow S3 file system (reading in
place). The profiler (profiling.engine) reads through the same functions, so scans and profiles see
the data with the same credentials."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote, urlparse

from catalog.connectors.base import SourceError
from catalog.connectors.secrets import read_secret


def postgres_parts(uri: str) -> tuple[str, int, str]:
    """``postgres://host:port/database`` → (host, port, database); refused clearly otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.hostname:
        raise SourceError(f"A PostgreSQL source's URI is postgres://host:port/database, not '{uri}'.")
    database = unquote(parsed.path.lstrip("/"))
    if not database or "/" in database:
        raise SourceError("A PostgreSQL source's URI names one database: postgres://host:port/database.")
    try:
        port = parsed.port or 5432
    except ValueError:
        raise SourceError(f"The port in '{uri}' is not a number.") from None
    return parsed.hostname, port, database


def postgres_namespace(uri: str) -> str:
    """OpenLineage's namespace for the server: ``postgres://host:port``."""
    host, port, _ = postgres_parts(uri)
    return f"postgres://{host}:{port}"


def postgres_dsn(source: Any) -> str:
    """A libpq URI for the source's database. The secret holds a whole DSN (URI or key=value form,
    used as is) or only a password (joined to the URI's host, port and database)."""
    host, port, database = postgres_parts(source.uri)
    secret = read_secret(source.secret) if source.secret else ""
    if secret.startswith(("postgres://", "postgresql://")) or "=" in secret:
        return secret
    parsed = urlparse(source.uri)
    user = quote(unquote(parsed.username or "postgres"), safe="")
    auth = f"{user}:{quote(secret, safe='')}@" if secret else f"{user}@"
    return f"postgresql://{auth}{host}:{port}/{quote(database, safe='')}"


def s3_parts(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` → (bucket, prefix); the prefix may be empty."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SourceError(f"An object storage source's URI is s3://bucket/prefix/, not '{uri}'.")
    return parsed.netloc, unquote(parsed.path.lstrip("/"))


def s3_credentials(source: Any) -> dict[str, str]:
    """{"access_key", "secret_key", "session_token"?, "region"?} from the secret: JSON with those keys
    (or AWS's names), or ``ACCESS_KEY:SECRET_KEY``. No secret: boto3's and Arrow's own default chain
    (AWS_* variables, instance roles)."""
    if not source.secret:
        return {}
    raw = read_secret(source.secret)
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError:
            raise SourceError(f"The secret '{source.secret}' is not valid JSON.") from None
        pick = {
            "access_key": ("access_key", "access_key_id", "aws_access_key_id"),
            "secret_key": ("secret_key", "secret_access_key", "aws_secret_access_key"),
            "session_token": ("session_token", "aws_session_token"),
            "region": ("region", "region_name"),
        }
        out = {k: str(data[n]) for k, names in pick.items() for n in names if data.get(n)}
    else:
        key, sep, secret = raw.partition(":")
        out = {"access_key": key, "secret_key": secret} if sep else {}
    if not out.get("access_key") or not out.get("secret_key"):
        raise SourceError(
            f"The secret '{source.secret}' holds no S3 keys: give JSON with access_key_id and "
            "secret_access_key, or ACCESS_KEY:SECRET_KEY."
        )
    return out


def boto3_s3(source: Any):
    """A boto3 S3 client for the source (its endpoint URL for MinIO, Ceph, moto...)."""
    import boto3
    from botocore.config import Config

    creds = s3_credentials(source)
    return boto3.client(
        "s3",
        endpoint_url=source.endpoint_url or None,
        aws_access_key_id=creds.get("access_key"),
        aws_secret_access_key=creds.get("secret_key"),
        aws_session_token=creds.get("session_token"),
        region_name=creds.get("region") or "us-east-1",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def arrow_s3(source: Any):
    """A ``pyarrow.fs.S3FileSystem`` for reading the source's objects in place (no download)."""
    from pyarrow import fs

    creds = s3_credentials(source)
    options: dict[str, Any] = {
        "region": creds.get("region") or "us-east-1",
        "connect_timeout": 5,
        "request_timeout": 60,
    }
    if creds:
        options.update(access_key=creds["access_key"], secret_key=creds["secret_key"])
        if creds.get("session_token"):
            options["session_token"] = creds["session_token"]
    if source.endpoint_url:
        parsed = urlparse(source.endpoint_url)
        options["endpoint_override"] = parsed.netloc or source.endpoint_url
        options["scheme"] = parsed.scheme or "https"
    return fs.S3FileSystem(**options)

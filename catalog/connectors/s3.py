"""Object storage through the S3 API (AWS, MinIO, Ceph, moto...): the datasets under a bucket's
prefix, named as OpenLineage names them (namespace ``s3://bucket``, name = the object key, or the
partitioned folder's path), read where they live.

* **Listing**: ``list_objects_v2`` page by page (1,000 keys a request), or ``list_object_versions``
  (latest versions only) when the bucket is versioned, so that each part's version id pins exactly
  what was fingerprinted. Pages are grouped into datasets as they come (catalog.connectors.listing):
  what is held at any time is the folders being walked through, never the whole listing.
* **Checking**: one bounded head per dataset (catalog.connectors.heads: ranged GETs, pinned to the
  listed ETag or version), a few at a time in threads. A dataset whose fingerprint the scan already
  holds (``known``) is not read at all: an unchanged bucket costs its listing only.
* **Errors**: a bucket that cannot be listed (missing, refused, unreachable, bad keys) raises
  SourceError with a message that names the bucket, the endpoint and the secret's name, never a key;
  an object that cannot be read or is not what its name says is a Problem, and the rest goes on.
* **URIs**: ``s3://bucket/`` + the key percent-encoded (access.s3_parts decodes it), so keys with
  spaces, quotes, ``#``, ``?``, ``%`` or non-ASCII survive the round trip; names are the raw keys.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import catalog.connectors.access as access
import catalog.connectors.heads as heads
import catalog.connectors.listing as listing
from catalog.connectors.base import Found, Problem, SourceError
from catalog.connectors.secrets import redact
from catalog.formats import FormatError

PAGE = 1000
THREADS = 8  # objects whose heads are read at once
WINDOW = 64  # datasets in flight: results come out in listing order

T = TypeVar("T")
R = TypeVar("R")


class S3Connector:
    """The datasets under ``source.uri`` (``s3://bucket/prefix/``) on ``source.endpoint_url`` (AWS
    when empty), with the keys ``source.secret`` names."""

    def __init__(self, source: Any, *, known: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.bucket, self.prefix = access.s3_parts(source.uri)
        # {name: fingerprint} the scan already holds: those datasets are not read again.
        self.known: Mapping[str, str] = known or {}
        self._client: Any = None

    # -- the source as a whole -------------------------------------------------------------------

    def check(self) -> None:
        """List one key: the bucket exists, the endpoint answers, the keys may list the prefix.
        (``head_bucket`` would be as cheap, but a HEAD answer has no body: a bare 403 for missing
        keys, a wrong secret and a denied policy alike, where a listing says which.)"""
        client = self.client()
        try:
            client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except Exception as exc:
            raise self._refusal(exc) from None

    def discover(self) -> Iterator[Found | Problem]:
        candidates = listing.group(
            self._entries(),
            base=self.prefix[: self.prefix.rfind("/") + 1],
            layout=getattr(self.source, "layout", "auto") or "auto",
            include=self.source.include or None,
            exclude=self.source.exclude or None,
            # Directory buckets (S3 Express, names ending --x-s3) do not list keys in order.
            ordered=not self.bucket.endswith("--x-s3"),
        )
        yield from in_threads(self._found, candidates)

    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = access.boto3_s3(self.source)
            except ValueError as exc:  # botocore: an endpoint URL it cannot use
                raise SourceError(f"The endpoint URL '{self._endpoint()}' cannot be used: {exc}") from None
        return self._client

    def _entries(self) -> Iterator[listing.Entry]:
        client = self.client()
        versioned = self._versioned(client)
        if versioned:
            pages = client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": PAGE}
            )
        else:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": PAGE}
            )
        try:
            for page in pages:
                if versioned:
                    for v in page.get("Versions", ()):
                        if v.get("IsLatest"):
                            yield listing.Entry(v["Key"], v["Size"], _etag(v), v.get("VersionId"))
                else:
                    for o in page.get("Contents", ()):
                        yield listing.Entry(o["Key"], o["Size"], _etag(o))
        except SourceError:
            raise
        except Exception as exc:
            raise self._refusal(exc) from None

    def _versioned(self, client: Any) -> bool:
        """Does the bucket keep versions? One request; keys that may not ask list without them."""
        from botocore.exceptions import ClientError

        try:
            status = client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except ClientError as exc:
            if _code(exc) in ("AccessDenied", "403", "NotImplemented", "501"):
                return False
            raise self._refusal(exc) from None
        except Exception as exc:
            raise self._refusal(exc) from None
        return status in ("Enabled", "Suspended")

    # -- one dataset -----------------------------------------------------------------------------

    def _found(self, candidate: listing.Candidate | Problem) -> Found | Problem:
        if isinstance(candidate, Problem):
            return candidate
        fingerprint = listing.fingerprint(candidate)
        info = None
        if self.known.get(candidate.name) != fingerprint:
            part = candidate.sample()
            try:
                info = heads.inspect(
                    partial(self._read, part),
                    size=part.size,
                    format=candidate.format,
                    compression=candidate.compression,
                    filename=part.path,
                )
            except FormatError as exc:
                return Problem(candidate.name, _in_part(candidate, part, str(exc)))
            except _ObjectError as exc:
                return Problem(candidate.name, _in_part(candidate, part, str(exc)))
        return listing.found(
            candidate,
            fingerprint=fingerprint,
            info=info,
            namespace=f"s3://{self.bucket}",
            uri_root=f"s3://{self.bucket}/",
            path_field="key",
            stamp_field="etag",
        )

    def _read(self, part: listing.Entry, offset: int, length: int) -> bytes:
        """A byte range of the object as listed: its version, or its ETag (If-Match), so that an
        object rewritten since the listing is not read as if it were the listed one."""
        from botocore.exceptions import ClientError

        pin = {"VersionId": part.version} if part.version else {"IfMatch": f'"{part.stamp}"'}
        try:
            answer = self.client().get_object(
                Bucket=self.bucket, Key=part.path, Range=f"bytes={offset}-{offset + length - 1}", **pin
            )
            return answer["Body"].read()
        except ClientError as exc:
            raise _ObjectError(_object_message(exc)) from None
        except Exception as exc:
            raise self._refusal(exc) from None

    # -- messages --------------------------------------------------------------------------------

    def _endpoint(self) -> str:
        return redact(self.source.endpoint_url) if self.source.endpoint_url else "AWS S3"

    def _keys(self) -> str:
        return f"the keys in the secret '{self.source.secret}'" if self.source.secret else "the default keys"

    def _refusal(self, exc: Exception) -> SourceError:
        """SourceError for an exception from listing the bucket, naming what is wrong (never a key)."""
        if isinstance(exc, SourceError):
            return exc
        message = _refusal_message(exc, bucket=self.bucket, endpoint=self._endpoint(), keys=self._keys())
        try:
            secrets = access.s3_credentials(self.source).values() if self.source.secret else ()
        except SourceError:
            secrets = ()
        return SourceError(redact(message, *secrets))


class _ObjectError(Exception):
    """One object could not be read (deleted, rewritten or refused since it was listed)."""


def _refusal_message(exc: Exception, *, bucket: str, endpoint: str, keys: str) -> str:
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return (
            "No S3 keys: the source names no secret and none are set for the server "
            "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance role)."
        )
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        return f"The S3 endpoint {endpoint} cannot be reached: {exc}"
    if isinstance(exc, bx.ParamValidationError):
        return f"'{bucket}' cannot be listed: {exc}"
    if not isinstance(exc, bx.ClientError):
        return f"Listing the bucket '{bucket}' failed: {type(exc).__name__}: {exc}"
    code = _code(exc)
    if code in ("NoSuchBucket", "404"):
        return f"The bucket '{bucket}' does not exist on {endpoint}."
    if code == "InvalidAccessKeyId":
        return f"{endpoint} does not know the access key of {keys}."
    if code == "SignatureDoesNotMatch":
        return f"The secret key of {keys} does not match its access key ({endpoint} refused the signature)."
    if code in ("ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
        return f"The session token of {keys} has expired or is not valid."
    if code in ("AccessDenied", "AllAccessDisabled", "403"):
        return f"Listing the bucket '{bucket}' is denied to {keys} (they need s3:ListBucket on it)."
    if code in (
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
        "301",
        "IllegalLocationConstraintException",
    ):
        return (
            f"The bucket '{bucket}' is in another region than the one asked: put \"region\" in the "
            "secret (JSON), or give the region's endpoint URL."
        )
    if code == "InvalidBucketName":
        return f"'{bucket}' is not a valid bucket name."
    return f"Listing the bucket '{bucket}' failed: {code}: {exc.response.get('Error', {}).get('Message', '')}"


def _object_message(exc: Exception) -> str:
    code = _code(exc)
    if code in ("NoSuchKey", "404", "NoSuchVersion"):
        return "The object was deleted during the scan; the next scan will not list it."
    if code in ("PreconditionFailed", "412"):
        return "The object was rewritten during the scan; the next scan reads the new one."
    if code in ("AccessDenied", "403"):
        return "Reading the object is denied (s3:GetObject), so its format cannot be checked."
    if code == "InvalidObjectState":
        return "The object is archived (Glacier, Deep Archive): restore it before it can be read."
    return f"The object cannot be read: {code}: {exc.response.get('Error', {}).get('Message', '')}"  # type: ignore[attr-defined]


def _code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _etag(item: Mapping[str, Any]) -> str:
    return str(item.get("ETag", "")).strip('"')


def _in_part(candidate: listing.Candidate, part: listing.Entry, message: str) -> str:
    return f"{candidate.relative(part)}: {message}" if candidate.partitioned else message


def in_threads(
    fn: Callable[[T], R], items: Iterable[T], *, threads: int = THREADS, window: int = WINDOW
) -> Iterator[R]:
    """``map(fn, items)`` with ``threads`` calls at once and at most ``window`` results waiting,
    in the order of ``items``. An exception from ``fn`` comes out where its result would have."""
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3-head")
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

"""An S3 endpoint that speaks the real protocol over HTTP, for tests: moto in server mode.

Registered by the root ``conftest.py`` (``pytest_plugins``), so any test in the repository can ask for:

* ``s3_endpoint`` (session) -- an ``S3Endpoint`` on ``S3_ENDPOINT_URL`` when the environment names
  one (``.ci/run`` starts one for the PostgreSQL + Redis pass; if it does not answer, the tests that
  use it fail rather than skip), otherwise a
  ``python -m moto.server`` subprocess on a free loopback port, stopped at the end of the session.
  moto accepts any keys there: ``endpoint.source_env(monkeypatch)`` sets dummy ones.
* ``s3_strict_endpoint`` (module) -- a private moto server that checks keys and IAM policies:
  ``reader`` may do anything, ``nobody`` nothing; unknown keys are refused (InvalidAccessKeyId).

Buckets are made with unique names (``make_bucket``), so tests sharing one server never meet.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

DUMMY_KEYS = ("testing-access-key", "testing-secret-key")
# The environment variable sources name as their secret in tests (ACCESS_KEY:SECRET_KEY).
SECRET_ENV = "GOUVERNAIL_TEST_S3_KEYS"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, timeout: float = 1.0) -> bool:
    """Does a moto server answer at ``url``?"""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=timeout):  # noqa: S310 - loopback URL
            return True
    except OSError:
        return False


def start_moto(port: int | None = None, timeout: float = 30) -> tuple[subprocess.Popen, str]:
    """``python -m moto.server`` on 127.0.0.1 (a free port unless given) → (process, endpoint URL)."""
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        # Its own settings: IAM checks off until a test turns them on (s3_strict_endpoint).
        env={k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"},
    )
    deadline = time.monotonic() + timeout
    while not answers(url, timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"moto server did not start on {url} (exit code {process.returncode})")
        time.sleep(0.1)
    return process, url


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class S3Endpoint:
    """A live S3 endpoint and helpers to fill it with boto3, as a pipeline would."""

    url: str
    keys: tuple[str, str] = DUMMY_KEYS
    _client: object | None = field(default=None, repr=False)

    def client(self, keys: tuple[str, str] | None = None, service: str = "s3"):
        import boto3
        from botocore.config import Config

        if keys is None and service == "s3" and self._client is not None:
            return self._client
        access, secret = keys or self.keys
        client = boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(max_pool_connections=16, retries={"max_attempts": 2}),
        )
        if keys is None and service == "s3":
            self._client = client
        return client

    def make_bucket(
        self, objects: Mapping[str, bytes] | None = None, *, prefix: str = "test", versioned: bool = False
    ) -> str:
        """A new bucket with a unique name, holding ``objects`` ({key: bytes}); → its name."""
        bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=bucket)
        if versioned:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.put(bucket, objects or {})
        return bucket

    def put(self, bucket: str, objects: Mapping[str, bytes], *, threads: int = 8) -> None:
        """Put many objects at once (moto takes a few hundred puts per second; threads help)."""
        client = self.client()
        items = list(objects.items())
        if len(items) < 20:
            for key, body in items:
                client.put_object(Bucket=bucket, Key=key, Body=body)
            return
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), items))

    def delete(self, bucket: str, key: str) -> None:
        self.client().delete_object(Bucket=bucket, Key=key)

    def source_env(self, monkeypatch, keys: tuple[str, str] | None = None) -> str:
        """Set the secret a source names (SECRET_ENV) to ``keys``; → the secret's name."""
        access, secret = keys or self.keys
        monkeypatch.setenv(SECRET_ENV, f"{access}:{secret}")
        return SECRET_ENV


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """The session's S3 endpoint: ``S3_ENDPOINT_URL`` when it answers, else a private moto server."""
    url = os.environ.get("S3_ENDPOINT_URL", "").rstrip("/")
    if url:
        if not answers(url, timeout=5):
            # Named on purpose (CI starts one): a dead endpoint fails the tests rather than hides.
            pytest.fail(f"S3_ENDPOINT_URL={url} does not answer as a moto server.", pytrace=False)
        yield S3Endpoint(url)
        return
    process, url = start_moto()
    try:
        yield S3Endpoint(url)
    finally:
        stop(process)


@dataclass
class StrictEndpoint(S3Endpoint):
    """A moto server that checks signatures and IAM policies (users ``reader`` and ``nobody``)."""

    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    bucket: str = ""  # holds data/a.csv


@pytest.fixture(scope="module")
def s3_strict_endpoint() -> Iterator[StrictEndpoint]:
    """A private moto server with IAM checks on: ``users["reader"]`` may do anything on S3,
    ``users["nobody"]`` nothing. Buckets are made before the checks start (``make_bucket`` then
    would refuse the dummy keys): ``endpoint.bucket`` holds ``data/a.csv``."""
    process, url = start_moto()
    try:
        endpoint = StrictEndpoint(url)
        iam = endpoint.client(service="iam")
        allow_all = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        for user in ("reader", "nobody"):
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            endpoint.users[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        iam.put_user_policy(UserName="reader", PolicyName="all-s3", PolicyDocument=json.dumps(allow_all))
        endpoint.bucket = endpoint.make_bucket({"data/a.csv": b"a,b\n1,2\n"}, prefix="strict")
        endpoint.keys = endpoint.users["reader"]
        endpoint._client = None
        # From now on every request is authenticated and authorised (moto's reset-auth endpoint).
        request = urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback URL
        yield endpoint
    finally:
        stop(process)

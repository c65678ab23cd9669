"""An S3 endpoint over real HTTP for profiling's tests: moto in server mode, in a thread of the test
process, on a free port (boto3 and pyarrow talk to it as to AWS).

LEAD: a stand-in until tests/s3_server.py (branch s3src) and its ``s3_endpoint`` fixture are on
main; then profiling/tests/conftest.py can drop its own ``s3_endpoint`` and this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

KEYS = ("testing", "testing")


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=KEYS[0],
            aws_secret_access_key=KEYS[1],
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"gv-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(url=f"http://{host}:{port}")
    finally:
        server.stop()

"""Files in a form Gouvernail does not read are refused at upload with a message that says why."""

import bz2
import gzip
import io
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.models import DatasetVersion

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'[{"a": 1, "b": 2}, {"a": 3, "b": 4}]\n', "JSON array"),
        (b"id;name;amount\n1;foo;3,5\n2;bar;4,25\n", "';'"),
        # QA G17: each was "a binary file ... NUL bytes", or ragged rows for an unclosed quote.
        ("a,b\n1,2\n".encode("utf-16"), "UTF-16"),
        (bz2.compress(b"a,b\n1,2\n"), "bzip2"),
        (b'a,b\n"unclosed,2\n3,4\n5,6\n', "A quote opened on line 2 is not closed"),
    ],
)
def test_unsupported_layouts_are_refused_clearly(owner, api_client_for, content, says):
    client = api_client_for(owner)
    ds = client.post("/api/v1/datasets/", {"namespace": "s3://lake", "name": "odd"}, format="json").json()
    upload = io.BytesIO(content)
    upload.name = "data.csv"
    r = client.post(f"/api/v1/datasets/{ds['id']}/versions/", {"file": upload}, format="multipart")
    assert r.status_code == 400 and says in r.json()["detail"]
    assert not DatasetVersion.objects.exists()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("data.csv", "a,b\n1,2\n")
    return out.getvalue()


def _gzipped_parquet() -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2]}), out)
    return gzip.compress(out.getvalue(), mtime=0)


@pytest.mark.parametrize(
    ("make", "says"), [(_zip, "zip archive"), (_gzipped_parquet, "Parquet file inside gzip")]
)
def test_archives_are_named_for_what_they_are(owner, api_client_for, make, says):
    test_unsupported_layouts_are_refused_clearly(owner, api_client_for, make(), says)

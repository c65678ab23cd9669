"""A dataset's columns: the list is paged and costs the same per column however wide the dataset,
and no dataset holds more than GOUVERNAIL_MAX_COLUMNS columns (uploads, registered files, profiles,
schemas), refused with a message that names the limit.

One GET of the columns of a 2,000-column dataset used to take +357 MB: the list was not paged and
joined the dataset row, with its search text (which grows with the columns), into every column row.
"""

import io
import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import columns
from catalog.models import Column, Dataset, DatasetVersion
from catalog.tests.conftest import files_under

pytestmark = pytest.mark.django_db

LIMIT = 50


@pytest.fixture
def narrow(settings):
    settings.GOUVERNAIL_MAX_COLUMNS = LIMIT


def wide_dataset(dataset, width: int, search_text_bytes: int = 0) -> Dataset:
    """The dataset with ``width`` columns (and, as a real wide dataset has, a long search text)."""
    Column.objects.bulk_create(
        [Column(dataset=dataset, name=f"column_{i:05d}", position=i, type="string") for i in range(width)]
    )
    Dataset.objects.filter(pk=dataset.pk).update(search_text="word " * (search_text_bytes // 5))
    return dataset


def csv_of_width(width: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(width))
    return f"{header}\n{','.join('1' for _ in range(width))}\n".encode()


def upload(client, dataset, content: bytes, name: str):
    fh = io.BytesIO(content)
    fh.name = name
    return client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh}, format="multipart")


# ---------------------------------------------------------------------------------------------
# The list


def test_the_columns_list_is_paged_as_every_list(api_client_for, outsider, dataset):
    wide_dataset(dataset, 1_200)
    client = api_client_for(outsider)
    page = client.get(f"/api/v1/datasets/{dataset.pk}/columns/").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 1_200 and len(page["results"]) == 50 and page["previous"] is None
    assert page["results"][0]["name"] == "column_00000"
    biggest = client.get(f"/api/v1/datasets/{dataset.pk}/columns/?page_size=100000&page=3").json()
    assert len(biggest["results"]) == 200  # pages of 500 at most
    assert biggest["results"][0]["name"] == "column_01000" and biggest["next"] is None


def select_list(sql: str) -> str:
    return sql.split(" FROM ")[0]


def _column_page(client, dataset) -> tuple[list[str], int]:
    """(the SQL of one page of 500 columns, the peak memory it took in bytes)."""
    tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/datasets/{dataset.pk}/columns/?page_size=500")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200 and len(response.json()["results"]) == 500
    return [q["sql"] for q in queries.captured_queries], peak


def test_a_page_of_columns_costs_the_same_whatever_the_dataset_width(
    api_client_for, outsider, owner, dataset
):
    from catalog import services

    client = api_client_for(outsider)
    small = wide_dataset(dataset, 500, search_text_bytes=4_000)
    other = services.create_dataset(actor=owner, namespace="s3://lake", name="wide")
    wide = wide_dataset(other, 4_000, search_text_bytes=400_000)
    client.get(f"/api/v1/datasets/{small.pk}/columns/")  # warm up (sessions, caches)

    small_sql, small_peak = _column_page(client, small)
    wide_sql, wide_peak = _column_page(client, wide)
    # The same statements, whatever the width: the dataset once, the count, one page of columns
    # with the columns' own fields only (never the dataset row, nor its search text, per column).
    assert len(wide_sql) == len(small_sql)
    assert [select_list(s) for s in wide_sql] == [select_list(s) for s in small_sql]
    assert not [s for s in wide_sql if "search_text" in s]
    page_sql = [s for s in wide_sql if "catalog_column" in s and "LIMIT" in s]
    assert len(page_sql) == 1 and "catalog_dataset" not in page_sql[0].split("WHERE")[0]
    # A 400 KB search text on a 4,000-column dataset costs nothing per column of the page.
    assert wide_peak < small_peak + 2_000_000, (small_peak, wide_peak)


def test_the_dataset_detail_embeds_its_columns_without_copying_the_dataset(api_client_for, outsider, dataset):
    wide_dataset(dataset, 1_000, search_text_bytes=200_000)
    with CaptureQueriesContext(connection) as queries:
        detail = api_client_for(outsider).get(f"/api/v1/datasets/{dataset.pk}/").json()
    assert len(detail["columns"]) == 1_000
    assert not [q["sql"] for q in queries.captured_queries if "search_text" in q["sql"]]


def test_a_column_is_still_documented_through_the_list_endpoint(api_client_for, steward, dataset):
    wide_dataset(dataset, 3)
    client = api_client_for(steward)
    r = client.patch(
        f"/api/v1/datasets/{dataset.pk}/columns/column_00001/", {"description": "Cents"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["description"] == "Cents"
    assert Column.objects.get(dataset=dataset, name="column_00001").description == "Cents"


# ---------------------------------------------------------------------------------------------
# The cap: files


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("wide.csv", csv_of_width(LIMIT + 1)),
        ("wide.tsv", csv_of_width(LIMIT + 1).replace(b",", b"\t")),
        ("wide.jsonl", (json.dumps({f"k{i}": i for i in range(LIMIT + 1)}) + "\n").encode()),
    ],
)
def test_an_upload_wider_than_the_limit_is_refused_and_nothing_is_kept(
    narrow, api_client_for, owner, dataset, media_root, upload_tmp, name, content
):
    r = upload(api_client_for(owner), dataset, content, name)
    assert r.status_code == 400, r.content
    assert "GOUVERNAIL_MAX_COLUMNS" in r.json()["detail"] and f"{LIMIT + 1} columns" in r.json()["detail"]
    assert "file" in r.json()["errors"]
    assert DatasetVersion.objects.count() == 0 and Column.objects.count() == 0
    assert files_under(media_root) == [] and files_under(upload_tmp) == []


def test_a_parquet_file_counts_its_nested_fields(narrow, api_client_for, owner, dataset, media_root):
    nested = pa.table({"id": [1], "record": [{f"f{i}": i for i in range(LIMIT)}]})  # 51 leaf columns
    buf = io.BytesIO()
    pq.write_table(nested, buf)
    r = upload(api_client_for(owner), dataset, buf.getvalue(), "nested.parquet")
    assert r.status_code == 400 and "GOUVERNAIL_MAX_COLUMNS" in r.json()["detail"]
    assert DatasetVersion.objects.count() == 0


def test_a_registered_file_wider_than_the_limit_is_refused(narrow, api_client_for, owner, dataset, data_root):
    path = data_root / "wide.csv"
    path.write_bytes(csv_of_width(LIMIT + 1))
    r = api_client_for(owner).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"uri": path.as_uri()}, format="json"
    )
    assert r.status_code == 400 and "GOUVERNAIL_MAX_COLUMNS" in r.json()["detail"]
    assert DatasetVersion.objects.count() == 0 and Column.objects.count() == 0


def test_a_file_at_the_limit_is_taken(narrow, api_client_for, owner, dataset, media_root):
    assert upload(api_client_for(owner), dataset, csv_of_width(LIMIT), "ok.csv").status_code == 201
    assert dataset.columns.count() == LIMIT


def test_a_profile_wider_than_the_limit_fails_with_the_reason(
    narrow, api_client_for, owner, dataset, media_root, django_capture_on_commit_callbacks
):
    """Nested JSON fields are columns once flattened: the upload sees 2 keys, the profile 52."""
    from profiling.models import ProfileRun

    line = json.dumps({"id": 1, "record": {f"f{i}": i for i in range(LIMIT + 1)}})
    with django_capture_on_commit_callbacks(execute=True):
        r = upload(api_client_for(owner), dataset, (line + "\n").encode(), "nested.jsonl")
    assert r.status_code == 201, r.content
    run = ProfileRun.objects.get(version__dataset=dataset)
    assert run.status == "failed"
    assert "GOUVERNAIL_MAX_COLUMNS" in run.error and f"{LIMIT + 2} columns" in run.error
    assert dataset.columns.count() == 2  # id and record, as the upload saw them


# ---------------------------------------------------------------------------------------------
# The cap: what set_columns_from_schema stores


def test_a_schema_wider_than_the_limit_is_refused_and_nothing_is_stored(narrow, dataset):
    with pytest.raises(ValidationError) as refused:
        columns.set_columns_from_schema(
            dataset=dataset, columns=[{"name": f"c{i}"} for i in range(LIMIT + 1)]
        )
    assert "GOUVERNAIL_MAX_COLUMNS" in str(refused.value)
    assert dataset.columns.count() == 0
    # Repeated names count once.
    columns.set_columns_from_schema(
        dataset=dataset, columns=[{"name": f"c{i % LIMIT}"} for i in range(2 * LIMIT)]
    )
    assert dataset.columns.count() == LIMIT


def test_columns_gone_from_the_data_never_take_a_dataset_past_the_limit(narrow, dataset, steward):
    columns.set_columns_from_schema(dataset=dataset, columns=[{"name": f"old{i}"} for i in range(LIMIT)])
    documented = dataset.columns.get(name="old7")
    columns.update_column(actor=steward, column=documented, description="Kept: a steward wrote this.")
    columns.set_columns_from_schema(dataset=dataset, columns=[{"name": f"new{i}"} for i in range(LIMIT - 10)])
    names = set(dataset.columns.values_list("name", flat=True))
    assert len(names) == LIMIT
    assert {f"new{i}" for i in range(LIMIT - 10)} <= names
    assert "old7" in names  # what stewards wrote is kept
    assert dataset.columns.filter(present=False).count() == 10

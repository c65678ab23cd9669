"""A big version profiled in parts on several tasks (profiling.part_jobs), then merged once: the
same profile as one task, parts claimed under leases, a failed part failing the run, duplicates
doing nothing. Tasks run inline (eager); PROFILING_PART_BYTES is small so that a few MB split."""

import io
import math
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from profiling import jobs, part_jobs, runner
from profiling.models import ProfilePart, ProfileRun
from profiling.tests.factories import credit_csv

pytestmark = pytest.mark.django_db

ROWS = 40_000


@pytest.fixture
def small_parts(settings):
    settings.PROFILING_PART_BYTES = 64 * 1024
    return settings


def _one_task(settings, owner, add_version, content, filename):
    """The same data profiled as one task, in a dataset of its own (a version equal to another
    one of its dataset is that version)."""
    settings.PROFILING_PART_BYTES = 0
    other = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="credit/one-task")
    version = add_version(other, content, filename)
    settings.PROFILING_PART_BYTES = 64 * 1024
    assert not ProfilePart.objects.filter(run__version=version).exists()
    return ProfileRun.objects.get(version=version)


def _assert_same_profile(parts_run, one_run):
    assert parts_run.row_count == one_run.row_count == ROWS
    assert [c["name"] for c in parts_run.columns] == [c["name"] for c in one_run.columns]
    for a, b in zip(parts_run.columns, one_run.columns, strict=True):
        assert a["type"] == b["type"], a["name"]
        assert a.get("null_count") == b.get("null_count"), a["name"]
        if isinstance(b.get("mean"), float):
            assert math.isclose(a["mean"], b["mean"], rel_tol=0, abs_tol=1e-9), a["name"]
        assert a.get("top_values") == b.get("top_values"), a["name"]
    assert parts_run.pii.keys() == one_run.pii.keys()
    assert parts_run.quality["success"] == one_run.quality["success"]
    assert [r["success"] for r in parts_run.quality["results"]] == [
        r["success"] for r in one_run.quality["results"]
    ]


def _parquet(rows: int = ROWS) -> bytes:
    import csv

    reader = csv.DictReader(io.StringIO(credit_csv(rows)))
    records = list(reader)
    table = pa.table(
        {
            "id": [int(r["id"]) for r in records],
            "age": [int(r["age"]) if int(r["id"]) % 7 else None for r in records],
            "income": [float(r["income"]) for r in records],
            "region": [r["region"] for r in records],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=4000)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("filename", "make"), [("data.csv", lambda: credit_csv(ROWS)), ("data.parquet", _parquet)]
)
def test_a_big_version_profiled_in_parts_equals_one_task(
    small_parts, dataset, owner, add_version, filename, make
):
    content = make()
    assert len(content) > 4 * 64 * 1024
    one = _one_task(small_parts, owner, add_version, content, "one-" + filename)

    version = add_version(dataset, content, filename)

    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error
    assert run.progress == 1.0
    parts = list(ProfilePart.objects.filter(run=run))
    assert len(parts) > 1 and {p.status for p in parts} == {"succeeded"}
    assert all(p.attempts == 1 and p.state is None for p in parts)  # states dropped after the merge
    assert run.method["parts"] == len(parts)
    _assert_same_profile(run, one)


def test_a_failed_part_fails_the_run_with_its_reason(small_parts, dataset, add_version, monkeypatch):
    # Registration reads the whole file, and a registered file's sha256 is checked before the parts
    # are made, so unreadable bytes cannot reach a part here: the middle part's read fails instead.
    import profiling.engine as engine

    real = engine.profile_part
    calls = []

    def profile_part(spec, cells, **kw):
        calls.append(cells)
        if len(calls) == 2:
            raise engine.ProfileError("CSV parse error: Row #30001: Expected 7 columns, got 10")
        return real(spec, cells, **kw)

    monkeypatch.setattr(engine, "profile_part", profile_part)
    version = add_version(dataset, credit_csv(ROWS))

    run = ProfileRun.objects.get(version=version)
    assert run.status == "failed"
    assert run.error == "CSV parse error: Row #30001: Expected 7 columns, got 10"
    failed = ProfilePart.objects.filter(run=run, status="failed")
    assert failed.count() == 1 and failed.get().error == run.error
    # The parts after it stop at their claim: the run is no longer running.
    assert len(calls) == 2
    assert not ProfilePart.objects.filter(run=run, status="succeeded").exclude(index=0).exists()
    version.refresh_from_db()
    assert version.profile_status == "failed"


def _register_unprofiled(dataset, owner, data_root, content, django_capture_on_commit_callbacks):
    path = data_root / "big.csv"
    path.write_text(content)
    with django_capture_on_commit_callbacks(execute=False):
        version, _ = catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
        jobs.queue_profile(version=version)  # what the held version_stored hook does
    return version


def test_duplicate_part_deliveries_are_no_ops_and_the_merge_runs_once(
    small_parts, dataset, owner, data_root, django_capture_on_commit_callbacks, monkeypatch
):
    version = _register_unprofiled(
        dataset, owner, data_root, credit_csv(ROWS), django_capture_on_commit_callbacks
    )
    run = ProfileRun.objects.get(version=version)
    with django_capture_on_commit_callbacks(execute=False) as queued:  # the parts' messages, held
        assert (
            runner.execute_profile_run(run_id=run.pk, heartbeat=False, split=part_jobs.plan_parts).state
            == "parts"
        )
    parts = list(ProfilePart.objects.filter(run=run))
    assert len(parts) > 2 and len(queued) >= len(parts)
    # The run's own message again: its parts decide, it is not taken over.
    assert (
        runner.execute_profile_run(run_id=run.pk, heartbeat=False, split=part_jobs.plan_parts).state
        == "parts"
    )

    merges = []
    real = part_jobs._merged
    monkeypatch.setattr(part_jobs, "_merged", lambda *a, **k: merges.append(1) or real(*a, **k))

    assert part_jobs.execute_part(part_id=parts[0].pk, heartbeat=False).state == "succeeded"
    assert part_jobs.execute_part(part_id=parts[0].pk, heartbeat=False).state == "done-before"
    run.refresh_from_db()
    assert run.status == "running" and 0 < run.progress < 1
    for part in parts[1:]:
        part_jobs.execute_part(part_id=part.pk, heartbeat=False)
    for part in parts:
        assert part_jobs.execute_part(part_id=part.pk, heartbeat=False).state == "done-before"

    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.row_count == ROWS and run.progress == 1.0
    assert merges == [1]
    assert all(p.attempts == 1 for p in ProfilePart.objects.filter(run=run))


def test_small_versions_stay_one_task(small_parts, dataset, add_version):
    version = add_version(dataset, credit_csv(200))
    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded" and run.method["parts"] == 1
    assert not ProfilePart.objects.filter(run=run).exists()


def test_a_part_needing_a_wider_type_falls_back_to_one_task(small_parts, dataset, add_version, caplog):
    # Types are inferred from the first 4 MiB block: "age" is an integer there, text at the end.
    rows = 100_000
    text = credit_csv(rows)
    assert len(text) > 4 * 1024 * 1024 + 64 * 1024
    head, last = text.rstrip("\n").rsplit("\n", 1)
    fields = last.split(",")
    fields[1] = "unknown"
    with caplog.at_level("INFO", logger="profiling.part_jobs"):
        version = add_version(dataset, head + "\n" + ",".join(fields) + "\n")
    assert "a part needs a wider type" in caplog.text

    run = ProfileRun.objects.get(version=version)
    assert run.status == "succeeded", run.error
    assert run.row_count == rows
    assert not ProfilePart.objects.filter(run=run).exists()  # the parts were dropped
    age = next(c for c in run.columns if c["name"] == "age")
    assert age["type"] != "integer"


SUITE = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 10**9}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 18, "max_value": 60},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "region", "value_set": ["north", "east"]},
    },
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email", "regex": "^user1"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "income"}},
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "income", "min_value": 0, "max_value": 10},
    },
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 70}},
]


def _results(run) -> list[dict]:
    # What the API shows of each expectation's result, without the engine's own notes.
    return [{k: v for k, v in r.items() if k not in ("method", "engine")} for r in run.quality["results"]]


def test_a_stored_suite_is_evaluated_natively_in_the_parts_with_the_one_pass_results(
    small_parts, dataset, owner, add_version
):
    from profiling import suites

    content = credit_csv(ROWS)
    suites.save_suite(actor=owner, dataset=dataset, expectations=SUITE)
    other = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="credit/one-suite")
    suites.save_suite(actor=owner, dataset=other, expectations=SUITE)
    small_parts.PROFILING_PART_BYTES = 0
    one = ProfileRun.objects.get(version=add_version(other, content, "one.csv"))
    small_parts.PROFILING_PART_BYTES = 64 * 1024

    run = ProfileRun.objects.get(version=add_version(dataset, content, "data.csv"))

    assert run.status == "succeeded", run.error
    assert run.method["parts"] > 2
    assert run.method["quality"]["mode"] == one.method["quality"]["mode"] == "native"
    assert run.method["quality"]["native"] == len(SUITE)
    # Unexpected counts, percentages and the partial lists (first failing values in row order)
    # are the one pass's, which are GX's own (profiling/tests/test_native_quality.py).
    assert _results(run) == _results(one)
    failing = {r["expectation"]: r for r in run.quality["results"] if not r["success"]}
    assert {"expect_column_values_to_be_between", "expect_column_values_to_be_in_set"} <= set(failing)
    assert not ProfilePart.objects.filter(run=run).exclude(quality_state=None).exists()  # dropped


def test_parts_read_for_another_suite_leave_the_merge_to_gx(small_parts, dataset, owner, add_version):
    from profiling import native_codec
    from profiling.native_expectations import NativeEvaluator

    batch = pa.RecordBatch.from_pydict({"age": [20, None, 70], "region": ["north", "south", "north"]})
    first, second = NativeEvaluator(SUITE[1:3]), NativeEvaluator(SUITE[1:2])
    for ev in (first, second):
        ev.consume(batch)
    merged = native_codec.evaluator_from_bytes(native_codec.evaluator_to_bytes(first))
    merged.merge(native_codec.evaluator_from_bytes(native_codec.evaluator_to_bytes(second)))
    assert merged.failed == "the parts were evaluated against different suites"
    assert merged.results() == {} and set(merged.declined) == {0, 1}


def test_part_states_are_stored_compressed_and_old_ones_read_as_they_are(settings, dataset, add_version):
    from profiling import part_blobs

    settings.PROFILING_PART_BYTES = 0
    run = ProfileRun.objects.get(version=add_version(dataset, credit_csv(50)))
    part = ProfilePart.objects.create(run=run, index=0, spec="{}", run_token="t")
    state = bytes(1_000_000) + b"counts"  # a count-min table is mostly zeros
    part_blobs.write(part.pk, state=state)
    stored = bytes(ProfilePart.objects.get(pk=part.pk).state)
    assert len(stored) < 10_000 and stored.startswith(part_blobs.PACKED)
    assert bytes(part_blobs.read(part.pk, "state")) == state
    ProfilePart.objects.filter(pk=part.pk).update(state=b"GVST raw")  # written before the change
    assert bytes(part_blobs.read(part.pk, "state")) == b"GVST raw"


def test_part_states_go_through_the_database_byte_for_byte_in_slices(
    settings, dataset, add_version, monkeypatch
):
    # profiling.part_blobs: a binary parameter on PostgreSQL (Django's text would hold the state
    # escaped, 8 times its size), read back a slice at a time; the ORM on SQLite.
    from profiling import part_blobs

    settings.PROFILING_PART_BYTES = 0
    run = ProfileRun.objects.get(version=add_version(dataset, credit_csv(50)))
    part = ProfilePart.objects.create(run=run, index=0, spec="{}", run_token="t")
    monkeypatch.setattr(part_blobs, "SLICE", 1000)
    # Incompressible: stored (compressed) it still takes 10 slices and a bit.
    state = random.Random(7).randbytes(10_000) + bytes(range(256)) + b"\x00end"
    part_blobs.write(part.pk, state=state, quality_state=b"")
    assert bytes(part_blobs.read(part.pk, "state")) == state
    assert bytes(part_blobs.read(part.pk, "quality_state")) == b""
    stored_quality = bytes(ProfilePart.objects.get(pk=part.pk).quality_state)
    part_blobs.write(part.pk, state=None)
    assert part_blobs.read(part.pk, "state") is None
    assert bytes(ProfilePart.objects.get(pk=part.pk).quality_state) == stored_quality  # left alone
    assert bytes(part_blobs.read(part.pk, "quality_state")) == b""
    with pytest.raises(ProfilePart.DoesNotExist):
        part_blobs.read(part.pk + 1000, "state")
    with pytest.raises(ValueError):
        part_blobs.read(part.pk, "spec")

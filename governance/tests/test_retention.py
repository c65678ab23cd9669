"""Retention (issue 18, part 5): lineage events past their age are archived or dropped once folded
and every graph answer stays the same; superseded profiles and old deliveries are pruned; with no
setting, nothing is pruned."""

import gzip
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog import services as catalog_services
from catalog import versions as catalog_versions
from governance.retention import prune_all
from lineage import ingest
from lineage.models import EventState, LineageEvent
from lineage.tests.events import ds, facet, run_event
from profiling.models import ProfileRun

pytestmark = pytest.mark.django_db

GRAPH_QUERIES = [
    ("/api/v1/lineage", {"nodeId": "dataset:s3://lake:clean", "depth": 5}),
    ("/api/v1/lineage", {"nodeId": "job:pipelines:train", "depth": 5}),
    ("/api/v1/column-lineage", {"nodeId": "dataset:s3://lake:clean"}),
    ("/api/v1/lineage/impact", {"nodeId": "dataset:s3://lake:raw"}),
    ("/api/v1/lineage/path", {"from": "dataset:s3://lake:raw", "to": "dataset:s3://lake:train"}),
]


def _pipeline() -> None:
    column = facet(
        fields={"id": {"inputFields": [{"namespace": "s3://lake", "name": "raw", "field": "raw_id"}]}}
    )
    for body in (
        run_event("clean", event_type="START", run_id="0190a0e0-0000-7000-8000-000000000001",
                  inputs=[ds("s3://lake", "raw")]),
        run_event("clean", run_id="0190a0e0-0000-7000-8000-000000000001", inputs=[ds("s3://lake", "raw")],
                  outputs=[ds("s3://lake", "clean", columnLineage=column)]),
        run_event("train", inputs=[ds("s3://lake", "clean")], outputs=[ds("s3://lake", "train")]),
    ):  # fmt: skip
        ingest.ingest_event(body=body)


def _answers(client) -> list:
    out = []
    for path, params in GRAPH_QUERIES:
        r = client.get(path, params)
        assert r.status_code == 200, (path, r.content)
        out.append(r.json())
    return out


def test_pruning_folded_lineage_events_leaves_every_graph_answer_identical(
    owner, api_client_for, settings, tmp_path
):
    client = api_client_for(owner)
    _pipeline()
    before = _answers(client)
    LineageEvent.objects.update(received_at=timezone.now() - timedelta(days=40))
    bodies = sorted(
        json.dumps(b, sort_keys=True) for b in LineageEvent.objects.values_list("body", flat=True)
    )

    assert prune_all()["lineage_events"] == 0  # off by default: nothing pruned
    settings.LINEAGE_EVENT_RETENTION_DAYS = 30
    settings.LINEAGE_EVENT_ARCHIVE_DIR = str(tmp_path / "archive")
    settings.RETENTION_BATCH = 2  # several transactions
    assert prune_all()["lineage_events"] == 3

    assert not LineageEvent.objects.exists()
    assert _answers(client) == before
    archived = []
    for path in (tmp_path / "archive").iterdir():
        with gzip.open(path, "rt") as fh:
            archived += [json.dumps(json.loads(line), sort_keys=True) for line in fh]
    assert sorted(archived) == bodies


def test_recent_pending_and_failed_events_are_kept(settings):
    _pipeline()
    LineageEvent.objects.filter(pk=LineageEvent.objects.order_by("pk").first().pk).update(
        received_at=timezone.now() - timedelta(days=40), state=EventState.PENDING
    )
    LineageEvent.objects.filter(pk=LineageEvent.objects.order_by("pk")[1].pk).update(
        received_at=timezone.now() - timedelta(days=40), state=EventState.FAILED
    )
    settings.LINEAGE_EVENT_RETENTION_DAYS = 30
    assert prune_all()["lineage_events"] == 0
    assert LineageEvent.objects.count() == 3


def test_superseded_profiles_are_pruned_and_those_still_read_are_kept(
    owner, data_root, settings, django_capture_on_commit_callbacks
):
    dataset = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name="pruned/runs")
    for i in range(1, 5):
        path = data_root / f"v{i}.csv"
        path.write_text("a,b\n" + "".join(f"{j},{j * i}\n" for j in range(10)))
        with django_capture_on_commit_callbacks(execute=True):
            catalog_versions.add_version_from_uri(actor=owner, dataset=dataset, uri=path.as_uri())
    assert ProfileRun.objects.filter(dataset=dataset, status="succeeded").count() == 4
    ProfileRun.objects.filter(dataset=dataset).update(finished_at=timezone.now() - timedelta(days=100))
    settings.PROFILE_RUN_RETENTION_DAYS = 90

    call_command("prune_retention")

    # v1: the suite was learned from it; v3, v4: the latest and the one its drift compares with.
    assert sorted(ProfileRun.objects.filter(dataset=dataset).values_list("version_number", flat=True)) == [
        1,
        3,
        4,
    ]
    assert dataset.versions.get(number=2).profile_status == "skipped"

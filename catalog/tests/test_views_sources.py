"""The sources' web pages, server side: what the owner, a steward, an outsider and staff see and may
do; the forms' errors beside their fields; Scan now, the scan's live progress and its history; a
dataset's page saying where it comes from. A folder source under DATA_ROOTS, scanned for real
(catalog.connectors.folder) where a test needs what a scan finds."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from catalog import scans, sources
from catalog.models import Dataset, ScanStatus, Source, SourceScan

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lake(data_root):
    folder = data_root / "lake"
    (folder / "events" / "date=2026-12-01").mkdir(parents=True)
    (folder / "events" / "date=2026-12-01" / "part-0.csv").write_text("user,amount\nann,3\nbob,4\n")
    (folder / "customers.csv").write_text("id,email\n1,a@example.org\n")
    return folder


@pytest.fixture
def source(staff, owner, steward, lake):
    return sources.create_source(
        actor=staff,
        name="lake",
        kind="folder",
        uri=lake.as_uri(),
        secret="LAKE_TOKEN",
        owner=owner.username,
        stewards=[steward.username],
        schedule="0 3 * * *",
    )


def scanned(source, actor) -> SourceScan:
    """Scan ``source`` now, in this process (what the worker does)."""
    scan = scans.request_scan(actor=actor, source=source)
    scans.run_scan(scan.pk)
    scan.refresh_from_db()
    return scan


def html(response) -> str:
    return response.content.decode()


# -- the list ------------------------------------------------------------------------------------


def test_sources_page_lists_sources_for_every_signed_in_user(web, outsider, source):
    response = web(outsider).get(reverse("catalog:sources"))
    assert response.status_code == 200
    page = html(response)
    assert f'href="{reverse("catalog:sources")}"' in page  # the nav link
    assert "lake" in page and source.uri in page and "Folder under DATA_ROOTS" in page
    assert "At 03:00 (UTC)" in page and "never scanned" in page
    assert "Add a source" not in page  # an outsider may not add one


def test_sources_page_needs_sign_in(client, source):
    for url in (reverse("catalog:sources"), reverse("catalog:source", args=[source.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_sources_list_counts_datasets_and_shows_the_last_scan(
    web, owner, staff, source, django_assert_max_num_queries
):
    scan = scanned(source, owner)
    assert scan.status == ScanStatus.SUCCEEDED, scan.errors
    for i in range(5):
        sources.create_source(actor=staff, name=f"other {i}", kind="folder", uri=source.uri + f"?{i}")
    client = web(owner)
    with django_assert_max_num_queries(8):  # one query for all sources, whatever their number
        response = client.get(reverse("catalog:sources"))
    row = re.search(r"<tr>\s*<th scope=\"row\"><a[^>]*>lake</a>.*?</tr>", html(response), re.S).group(0)
    assert re.search(r'class="num">2\b', row)
    assert "Succeeded" in row


# -- adding a source -----------------------------------------------------------------------------


def add_form(lake, **changes) -> dict:
    data = {
        "name": "Lake",
        "kind": "folder",
        "uri": lake.as_uri(),
        "secret": "",
        "endpoint_url": "",
        "include": "*.csv\n\n  events/**  \n",
        "exclude": "",
        "layout": "auto",
        "schedule": "*/30 * * * *",
        "profile": "on",
        "sample_above_rows": "",
        "owner": "",
        "stewards": "sam_steward",
        "sensitivity": "confidential",
    }
    data.update(changes)
    return data


def test_only_who_may_add_sees_and_uses_the_form(web, outsider, lake):
    client = web(outsider)
    assert client.get(reverse("catalog:source-create")).status_code == 403
    assert client.post(reverse("catalog:source-create"), add_form(lake)).status_code == 403
    assert not Source.objects.exists()


def test_a_user_with_the_permission_adds_a_source(web, make_user, steward, lake):
    adder = make_user("ada_adder")
    adder.user_permissions.add(Permission.objects.get(codename="add_source"))
    client = web(adder)
    assert "Add a source" in html(client.get(reverse("catalog:sources")))
    response = client.post(reverse("catalog:source-create"), add_form(lake))
    source = Source.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("catalog:source", args=[source.pk])
    assert source.owner == adder  # empty owner: who adds it
    assert source.include == ["*.csv", "events/**"]
    assert source.schedule == "*/30 * * * *" and source.profile is True
    assert list(source.stewards.all()) == [steward]
    assert PeriodicTask.objects.filter(pk=source.periodic_task_id).exists()


def test_add_form_shows_the_services_errors_beside_the_fields(web, staff, lake, tmp_path):
    client = web(staff)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    cases = {
        "schedule": ({"schedule": "61 * * * *"}, "is not a valid cron field"),
        "uri": ({"uri": outside.as_uri()}, "outside the folders data may be registered from"),
        "stewards": ({"stewards": "nobody_here"}, "Unknown user: nobody_here."),
        "name": ({"name": ""}, "This field is required."),
    }
    for field, (change, message) in cases.items():
        response = client.post(reverse("catalog:source-create"), add_form(lake, **change))
        assert response.status_code == 400, field
        assert message in " ".join(response.context["form"].errors[field]), field
        assert message in html(response).replace("&#x27;", "'")
    assert not Source.objects.exists()


def test_a_taken_name_is_an_error_on_the_name(web, staff, source, lake):
    response = web(staff).post(reverse("catalog:source-create"), add_form(lake, name="lake"))
    assert response.status_code == 400
    assert "exists already" in " ".join(response.context["form"].errors["name"])
    assert Source.objects.count() == 1


def test_credentials_are_refused_and_not_sent_back(web, staff, lake):
    client = web(staff)
    response = client.post(
        reverse("catalog:source-create"), add_form(lake, secret="postgres://bob:hunter2@db/sales")
    )
    assert response.status_code == 400
    assert "not the credentials themselves" in " ".join(response.context["form"].errors["secret"])
    assert "hunter2" not in html(response)
    response = client.post(
        reverse("catalog:source-create"),
        add_form(lake, kind="postgres", uri="postgres://bob:hunter2@db:5432/sales"),
    )
    assert response.status_code == 400
    assert "Leave the password out" in " ".join(response.context["form"].errors["uri"])
    assert "hunter2" not in html(response)
    assert not Source.objects.exists()


def test_schedule_hint(web, outsider):
    client = web(outsider)
    url = reverse("catalog:source-schedule-hint")
    assert "At 06:00, Monday through Friday (UTC)" in html(client.get(url, {"schedule": "0 6 * * 1-5"}))
    assert "On demand only" in html(client.get(url, {"schedule": ""}))
    bad = html(client.get(url, {"schedule": "every day"}))
    assert "Give 5 cron fields" in bad and 'class="error"' in bad


# -- a source's page -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "steward", "staff"])
def test_managers_see_the_controls_and_the_secret_name(role, request, web, source):
    page = html(web(request.getfixturevalue(role)).get(reverse("catalog:source", args=[source.pk])))
    for control in ("Edit settings", "Test connection", "Scan now", "LAKE_TOKEN"):
        assert control in page, control


def test_an_outsider_sees_the_source_but_no_control(web, outsider, source):
    client = web(outsider)
    response = client.get(reverse("catalog:source", args=[source.pk]))
    assert response.status_code == 200
    page = html(response)
    assert source.uri in page and "At 03:00 (UTC)" in page and "olivia_owner" in page
    for hidden in ("Edit settings", "Test connection", "Scan now", "LAKE_TOKEN"):
        assert hidden not in page, hidden
    assert client.post(reverse("catalog:source-test", args=[source.pk])).status_code == 403
    assert client.post(reverse("catalog:source-scan-now", args=[source.pk])).status_code == 403
    assert client.get(reverse("catalog:source-edit", args=[source.pk])).status_code == 403
    assert client.post(reverse("catalog:source-delete", args=[source.pk])).status_code == 403
    assert not SourceScan.objects.exists() and Source.objects.filter(pk=source.pk).exists()


def test_unknown_source_and_scan_are_404(web, outsider, source):
    client = web(outsider)
    assert client.get(reverse("catalog:source", args=[source.pk + 100])).status_code == 404
    assert client.get(reverse("catalog:source-scan", args=[source.pk, 999])).status_code == 404


def test_test_connection_lists_what_a_scan_would_register_and_writes_nothing(web, steward, source, lake):
    client = web(steward)
    response = client.post(reverse("catalog:source-test", args=[source.pk]), **HTMX)
    assert response.status_code == 200
    page = html(response)
    assert "Connected." in page
    assert str(lake / "customers.csv") in page and str(lake / "events") in page
    assert not Dataset.objects.exists() and not SourceScan.objects.exists()
    # Without htmx: the whole page, with the answer in it.
    page = html(client.post(reverse("catalog:source-test", args=[source.pk])))
    assert "<h1" in page and "Connected." in page


def test_test_connection_says_what_is_wrong(web, owner, source, lake):
    import shutil

    shutil.rmtree(lake)
    response = web(owner).post(reverse("catalog:source-test", args=[source.pk]), **HTMX)
    assert response.status_code == 200
    assert "The connection failed:" in html(response)
    assert not Dataset.objects.exists()


# -- scanning ------------------------------------------------------------------------------------


def test_scan_now_queues_one_scan(web, steward, source):
    client = web(steward)
    response = client.post(reverse("catalog:source-scan-now", args=[source.pk]))
    assert response.status_code == 302
    scan = SourceScan.objects.get()
    assert (scan.source, scan.requested_by, scan.status) == (source, steward, ScanStatus.PENDING)
    # Asking again while it waits answers the same scan.
    response = client.post(reverse("catalog:source-scan-now", args=[source.pk]), follow=True)
    assert SourceScan.objects.count() == 1
    assert "already waiting or running" in html(response)


def test_scan_now_from_htmx_answers_the_live_progress(web, owner, source):
    response = web(owner).post(reverse("catalog:source-scan-now", args=[source.pk]), **HTMX)
    scan = SourceScan.objects.get()
    page = html(response)
    poll = reverse("catalog:source-scan", args=[source.pk, scan.pk]) + "?polling=1"
    assert f'hx-get="{poll}"' in page and 'hx-trigger="every 1s"' in page
    assert "waiting for a worker" in page and "HX-Trigger" not in response


def test_scan_progress_stops_polling_when_finished_and_tells_the_page(web, outsider, source, owner):
    scan = scans.request_scan(actor=owner, source=source)
    client = web(outsider)  # everyone may watch a scan
    url = reverse("catalog:source-scan", args=[source.pk, scan.pk])
    running = client.get(url, {"polling": "1"})
    assert 'hx-trigger="every 1s"' in html(running) and "HX-Trigger" not in running
    scans.run_scan(scan.pk)
    done = client.get(url, {"polling": "1"})
    assert done["HX-Trigger"] == "scan-finished"
    page = html(done)
    assert "every 1s" not in page and "Succeeded" in page
    counts = dict(re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", page))
    assert counts == {
        "Found": "2",
        "Registered": "2",
        "Changed": "0",
        "Unchanged": "0",
        "Removed": "0",
        "Errors": "0",
    }
    # The history and the datasets refresh on that event; the page already shows them.
    history = html(client.get(reverse("catalog:source-scans", args=[source.pk])))
    assert f'<th scope="row">{scan.pk}</th>' in history and "olivia_owner" in history
    datasets = html(client.get(reverse("catalog:source-datasets", args=[source.pk]), **HTMX))
    assert "customers.csv" in datasets and 'id="source-dataset-count" hx-swap-oob="true"' in datasets


def test_a_poll_of_a_deleted_scan_stops(web, owner, source):
    scan = scans.request_scan(actor=owner, source=source)
    url = reverse("catalog:source-scan", args=[source.pk, scan.pk])
    sources.delete_source(actor=owner, source=source)
    client = web(owner)
    response = client.get(url, {"polling": "1"}, **HTMX)
    assert response.status_code == 286  # htmx stops polling on it
    assert "has been deleted" in html(response)
    assert client.get(url).status_code == 404


def test_scan_errors_are_listed_with_names_and_escaped(web, outsider, source):
    SourceScan.objects.create(
        source=source,
        status=ScanStatus.PARTIAL,
        found=3,
        registered=2,
        errors=[
            {"name": "/lake/<b>bad</b>.csv", "message": "Not CSV: <script>alert(1)</script>"},
            {"message": "Listing stopped early"},
        ],
    )
    page = html(web(outsider).get(reverse("catalog:source", args=[source.pk])))
    assert "Partly succeeded" in page and "2 errors" in page
    assert "&lt;b&gt;bad&lt;/b&gt;.csv" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<b>bad" not in page
    assert "Listing stopped early" in page


def test_user_text_is_escaped(web, staff, outsider, lake):
    sources.create_source(actor=staff, name='<img src=x onerror="boom">', kind="folder", uri=lake.as_uri())
    for url in (reverse("catalog:sources"), reverse("catalog:source", args=[Source.objects.get().pk])):
        page = html(web(outsider).get(url))
        assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;boom&quot;&gt;" in page


# -- changing and deleting -----------------------------------------------------------------------


def settings_form(source, **changes) -> dict:
    data = {
        "secret": source.secret,
        "endpoint_url": "",
        "include": "*.csv",
        "exclude": "tmp/*",
        "layout": "files",
        "schedule": "15 2 * * 1",
        "sample_above_rows": "",
        "stewards": "sam_steward",
        "sensitivity": "internal",
    }
    data.update(changes)
    return data


def test_a_steward_changes_the_schedule_but_not_the_owner(web, steward, source):
    client = web(steward)
    url = reverse("catalog:source-edit", args=[source.pk])
    form = client.get(url).context["form"]
    assert "owner" not in form.fields  # handing it over is the owner's decision
    response = client.post(url, settings_form(source))
    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.schedule, source.include, source.exclude, source.layout) == (
        "15 2 * * 1",
        ["*.csv"],
        ["tmp/*"],
        "files",
    )
    assert source.profile is False  # the checkbox left unticked
    assert source.periodic_task.crontab.minute == "15"


def test_the_owner_hands_the_source_over(web, owner, outsider, source):
    response = web(owner).post(
        reverse("catalog:source-edit", args=[source.pk]), settings_form(source, owner=outsider.username)
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.owner == outsider


def test_settings_errors_are_shown_and_nothing_changes(web, owner, source):
    response = web(owner).post(
        reverse("catalog:source-edit", args=[source.pk]),
        settings_form(source, schedule="0 25 * * *", endpoint_url="ftp://x"),
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "is not a valid cron field" in " ".join(errors["schedule"])
    source.refresh_from_db()
    assert source.schedule == "0 3 * * *" and source.include == []


def test_only_the_owner_or_staff_delete_and_the_datasets_stay(web, owner, steward, source):
    scanned(source, owner)
    assert web(steward).get(reverse("catalog:source-delete", args=[source.pk])).status_code == 403
    client = web(owner)
    assert "Delete the source" in html(client.get(reverse("catalog:source-delete", args=[source.pk])))
    response = client.post(reverse("catalog:source-delete", args=[source.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("catalog:sources")
    assert not Source.objects.exists() and Dataset.objects.count() == 2


# -- a dataset's page ------------------------------------------------------------------------------


def test_a_dataset_page_says_where_it_comes_from(web, outsider, owner, source, lake):
    scanned(source, owner)
    dataset = Dataset.objects.get(name=str(lake / "customers.csv"))
    version = dataset.versions.get()
    page = html(web(outsider).get(reverse("catalog:dataset", args=[dataset.pk])))
    assert f'<a href="{reverse("catalog:source", args=[source.pk])}">lake</a>' in page
    assert "Folder under DATA_ROOTS" in page and version.source_uri in page
    assert "Last scanned" in page and "found by scanning a source" in page
    assert "by reference" in page and version.fingerprint[:12] in page
    assert "removed at source" not in page


def test_a_dataset_gone_at_the_source_is_marked(web, outsider, owner, source, lake):
    scanned(source, owner)
    (lake / "customers.csv").unlink()
    assert scanned(source, owner).removed == 1
    dataset = Dataset.objects.get(name=str(lake / "customers.csv"))
    client = web(outsider)
    assert "removed at source" in html(client.get(reverse("catalog:dataset", args=[dataset.pk])))
    listing = html(client.get(reverse("catalog:source", args=[source.pk])))
    row = re.search(r"<tr class=\"removed\">.*?</tr>", listing, re.S).group(0)
    assert "customers.csv" in row and "removed at source" in row


def test_a_dataset_registered_by_hand_has_no_source_rows(web, owner):
    from catalog import services

    dataset = services.create_dataset(actor=owner, namespace="s3://lake", name="by/hand")
    page = html(web(owner).get(reverse("catalog:dataset", args=[dataset.pk])))
    assert "Last scanned" not in page and "by reference" not in page


def test_pages_of_each_kind(web, staff, outsider):
    warehouse = sources.create_source(
        actor=staff,
        name="warehouse",
        kind="postgres",
        uri="postgres://db.internal:5432/sales",
        secret="WAREHOUSE_DSN",
        include=["public.*"],
        sample_above_rows=1_000_000,
    )
    bucket = sources.create_source(
        actor=staff, name="bucket", kind="s3", uri="s3://lake/raw/", endpoint_url="http://minio:9000"
    )
    client = web(outsider)
    listing = html(client.get(reverse("catalog:sources")))
    assert "PostgreSQL" in listing and "Object storage (S3 API)" in listing and "On demand only" in listing
    page = html(client.get(reverse("catalog:source", args=[warehouse.pk])))
    assert "1,000,000 rows" in page and "public.*" in page and "Layout" not in page
    assert "WAREHOUSE_DSN" not in page
    page = html(client.get(reverse("catalog:source", args=[bucket.pk])))
    assert "http://minio:9000" in page and "Layout" in page

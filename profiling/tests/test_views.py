"""Profiling's web pages, server side: the profile panel, live status, re-run permissions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog import services as catalog_services
from catalog import versions as catalog_versions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The search page keeps facet counts for 30 s; tests must not see another test's."""
    from django.core.cache import cache

    cache.clear()


CSV = "age,sex,income,hired,email\n" + "".join(
    f"{20 + i % 40},{'F' if i % 3 else 'M'},{1000 + i * 7},{1 if i % 4 else 0},p{i}@example.org\n"
    for i in range(120)
)


@pytest.fixture
def dataset(owner, steward, django_capture_on_commit_callbacks):
    ds = catalog_services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="hr/hiring",
        stewards=[steward.username],
        sensitivity="confidential",
        sensitive_columns=["sex"],
        label_column="hired",
        positive_label=1,
    )
    upload = SimpleUploadedFile("hiring.csv", CSV.encode(), content_type="text/csv")
    # Profiling is queued on commit; run it (eager Celery) inside the test's transaction.
    with django_capture_on_commit_callbacks(execute=True):
        catalog_versions.add_version_from_upload(actor=owner, dataset=ds, upload=upload)
    return ds


def test_panel_draws_histograms_quality_and_bias(web, outsider, steward, dataset):
    response = web(steward).get(reverse("profiling:panel", args=[dataset.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["done"], response.context["profile"]
    assert '<svg class="chart"' in html
    assert "Histogram in" in html
    assert "Positive rate by group" in html
    assert "<html" not in html  # a partial

    # Without clearance (the dataset is confidential): the differentially private release only
    # (docs/privacy.md), none of the exact figures.
    html = web(outsider).get(reverse("profiling:panel", args=[dataset.pk])).content.decode()
    assert "Differentially private release" in html
    assert "Histogram in" not in html and "Positive rate by group" not in html


def test_profile_page_works_without_javascript(web, outsider, dataset):
    response = web(outsider).get(reverse("profiling:page", args=[dataset.pk]))
    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert "Profile of version 1" in response.content.decode()


def test_status_tells_the_page_when_done(web, outsider, dataset):
    client = web(outsider)
    first = client.get(reverse("profiling:status", args=[dataset.pk]))
    assert "HX-Trigger" not in first
    polled = client.get(reverse("profiling:status", args=[dataset.pk]), {"polling": "1"})
    assert polled["HX-Trigger"] == "profile-ready"
    assert "is ready" in polled.content.decode()


def test_rerun_only_for_those_who_may(web, owner, steward, outsider, dataset):
    url = reverse("profiling:rerun", args=[dataset.pk, 1])
    assert web(outsider).post(url).status_code == 403
    panel = web(outsider).get(reverse("profiling:panel", args=[dataset.pk])).content.decode()
    assert url not in panel
    for user in (owner, steward):
        client = web(user)
        assert url in client.get(reverse("profiling:panel", args=[dataset.pk])).content.decode()
        assert client.post(url).status_code == 302


def test_panel_without_versions(web, outsider, owner):
    ds = catalog_services.create_dataset(actor=owner, namespace="ns", name="empty")
    response = web(outsider).get(reverse("profiling:panel", args=[ds.pk]))
    assert "No version yet" in response.content.decode()
    assert web(outsider).get(reverse("profiling:panel", args=[999999])).status_code == 404


def test_chart_text_is_escaped():
    from profiling.templatetags.charts import top_values_svg

    svg = str(top_values_svg([{"value": "<script>x</script>", "count": 3}]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_search_has_a_quality_facet(web, outsider, steward, dataset, owner):
    catalog_services.create_dataset(actor=owner, namespace="ns", name="never_profiled")
    client = web(steward)
    response = client.get(reverse("catalog:search"))
    facets = {f["param"]: f for f in response.context["facets"]}
    assert facets["quality"]["values"] == [{"value": "passing", "count": 1}]
    narrowed = client.get(reverse("catalog:search"), {"quality": "passing"})
    assert [d.name for d in narrowed.context["results"]] == ["hr/hiring"]
    assert client.get(reverse("catalog:search"), {"quality": "failing"}).context["results"] == []
    # The dataset is confidential: whether it passes its suite is not an outsider's to learn.
    theirs = web(outsider)
    facets = {f["param"]: f for f in theirs.get(reverse("catalog:search")).context["facets"]}
    assert facets["quality"]["values"] == []
    assert theirs.get(reverse("catalog:search"), {"quality": "passing"}).context["results"] == []


def _profiled(owner, name: str, body: str, django_capture_on_commit_callbacks, **extra):
    ds = catalog_services.create_dataset(actor=owner, namespace="s3://lake", name=name, **extra)
    upload = SimpleUploadedFile(f"{name.split('/')[-1]}.csv", body.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        catalog_versions.add_version_from_upload(actor=owner, dataset=ds, upload=upload)
    return ds


def test_bias_without_label_column_says_only_representation_is_shown(
    web, outsider, owner, django_capture_on_commit_callbacks
):
    ds = _profiled(
        owner,
        "hr/applicants",
        CSV,
        django_capture_on_commit_callbacks,
        sensitive_columns=["sex"],
    )
    html = web(outsider).get(reverse("profiling:panel", args=[ds.pk])).content.decode()
    assert "No label column is set: only representation is shown" in html
    assert "None" not in html.split("<h3>Bias</h3>")[1].split("</figure>")[0]


def test_profile_of_zero_rows_says_no_values(web, outsider, owner, django_capture_on_commit_callbacks):
    ds = _profiled(owner, "hr/nobody", "age,sex\n", django_capture_on_commit_callbacks)
    html = web(outsider).get(reverse("profiling:panel", args=[ds.pk])).content.decode()
    assert ">age <" in html or "age <span" in html
    assert "no values" in html
    assert ">% null" not in html and "\n% null" not in html and " % null" not in html


def test_profile_header_date_has_a_space_between_day_and_time(web, outsider, dataset):
    import re

    html = web(outsider).get(reverse("profiling:panel", args=[dataset.pk])).content.decode()
    assert re.search(r"finished \d{4}-\d\d-\d\d \d\d:\d\d", html)


def test_group_rates_labels_fit_inside_the_chart():
    """Long group names and the '… of rows' text on the right stay inside the SVG's width."""
    import re

    from profiling.templatetags.charts import CHAR_W, group_rates_svg

    name = "Native Hawaiian/Pacific"  # 23 characters, kept whole by _fmt
    svg = str(
        group_rates_svg(
            {
                "groups": {
                    name: {"positive_rate": 1.0, "count": 5, "share": 1.0},
                    "F": {"positive_rate": None, "count": 0, "share": 0.0},
                }
            }
        )
    )
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
    for m in re.finditer(r'<text x="([\d.]+)"[^>]*?( text-anchor="end")?>([^<]*)</text>', svg):
        x, anchored_end, text = float(m.group(1)), bool(m.group(2)), m.group(3).replace("&amp;", "&")
        start, end = (x - CHAR_W * len(text), x) if anchored_end else (x, x + CHAR_W * len(text))
        assert start >= 0 and end <= width, (text, start, end, width)


def test_figures_in_the_thousands_are_not_in_scientific_notation():
    """QA F12.9: a year column's mean read '2.01e+03', its histogram axis '2.01e+03 … 2.01e+03'."""
    from profiling.templatetags.charts import fmt

    assert fmt(2008.3) == "2008"
    assert fmt(2007) == "2007"
    assert fmt(181.25) == "181.2"
    assert fmt(0.000123) == "0.000123"
    assert fmt(45300.0) == "45.3k"

"""The catalog's web pages, server side: what each role sees, what the server refuses."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from catalog import columns, services, versions
from catalog.models import Column, Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The search page keeps facet counts for 30 s; tests must not see another test's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def dataset(owner, steward):
    ds = services.create_dataset(
        actor=owner,
        namespace="s3://lake",
        name="sales/orders",
        title="Orders",
        description="All **orders** <script>alert(1)</script>",
        stewards=[steward.username],
        tags=["gold", "sales"],
        domain="sales",
        sensitivity="confidential",
    )
    columns.set_columns_from_schema(
        dataset=ds, columns=[{"name": "email", "type": "string"}, {"name": "amount", "type": "float"}]
    )
    return ds


def test_pages_need_sign_in(client, dataset):
    for url in [reverse("home"), reverse("catalog:search"), reverse("catalog:dataset", args=[dataset.pk])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_login_page_and_sign_in(client, owner):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": owner.username, "password": "pw-" + owner.username})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert b"Sign out" in home.content


def test_sign_out_is_a_post(web, owner):
    client = web(owner)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_search_highlights_and_facets(web, outsider, dataset, owner):
    services.create_dataset(
        actor=owner, namespace="s3://lake", name="hr/people", domain="hr", sensitivity="restricted"
    )
    client = web(outsider)
    response = client.get(reverse("catalog:search"), {"q": "orders"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<mark>Orders</mark>" in html
    assert "hr/people" not in html
    facets = {f["param"]: f for f in response.context["facets"]}
    assert {"value": "sales", "count": 1} in facets["domain"]["values"]
    assert {"value": "gold", "count": 1} in facets["tag"]["values"]
    # Narrowing by a facet.
    response = client.get(reverse("catalog:search"), {"sensitivity": "restricted"})
    assert [d.name for d in response.context["results"]] == ["hr/people"]


def test_search_escapes_user_text(web, owner):
    services.create_dataset(actor=owner, namespace="ns", name="x<b>y", title="<img src=x onerror=alert(1)>")
    response = web(owner).get(reverse("catalog:search"), {"q": "img"})
    html = response.content.decode()
    assert "<img src=x" not in html
    assert "&lt;<mark>img</mark> src=x" in html


def test_search_pages(web, owner):
    for i in range(25):
        Dataset.objects.create(namespace="ns", name=f"t{i:02d}", owner=owner)
    client = web(owner)
    first = client.get(reverse("catalog:search"))
    assert len(first.context["results"]) == 20
    second = client.get(reverse("catalog:search"), {"page": 2})
    assert len(second.context["results"]) == 5
    assert b'rel="prev"' in second.content


def test_dataset_page_sanitises_markdown(web, outsider, dataset):
    response = web(outsider).get(reverse("catalog:dataset", args=[dataset.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>orders</strong>" in html
    assert "<script>alert(1)</script>" not in html


def test_controls_shown_only_to_those_who_may_use_them(web, owner, steward, outsider, dataset):
    url = reverse("catalog:dataset", args=[dataset.pk])
    edit = reverse("catalog:dataset-edit", args=[dataset.pk])
    for user in (owner, steward):
        html = web(user).get(url).content.decode()
        assert edit in html
        assert 'id="upload-form"' in html
        assert "Edit column email" in html
    html = web(outsider).get(url).content.decode()
    assert edit not in html
    assert 'id="upload-form"' not in html
    assert "Edit column email" not in html


def test_outsider_is_refused_by_the_server(web, outsider, dataset):
    client = web(outsider)
    column = dataset.columns.get(name="email")
    assert client.get(reverse("catalog:dataset-edit", args=[dataset.pk])).status_code == 403
    assert (
        client.post(reverse("catalog:dataset-edit", args=[dataset.pk]), {"sensitivity": "public"}).status_code
        == 403
    )
    assert (
        client.post(
            reverse("catalog:column-edit", args=[dataset.pk, column.pk]), {f"col{column.pk}-description": "x"}
        ).status_code
        == 403
    )
    upload = SimpleUploadedFile("a.csv", b"a,b\n1,2\n", content_type="text/csv")
    assert (
        client.post(reverse("catalog:version-upload", args=[dataset.pk]), {"file": upload}).status_code == 403
    )
    dataset.refresh_from_db()
    assert dataset.sensitivity == "confidential"
    assert dataset.versions.count() == 0


def test_steward_edits_metadata(web, steward, dataset):
    client = web(steward)
    url = reverse("catalog:dataset-edit", args=[dataset.pk])
    data = {
        "title": "Orders v2",
        "description": "# Hello",
        "domain": "sales",
        "tags": "gold, new",
        "sensitivity": dataset.sensitivity,
        "stewards": steward.username,
        "sensitive_columns": "",
        "label_column": "",
        "positive_label": "",
    }
    preview = client.post(url, {**data, "preview": "1"})
    assert preview.status_code == 200
    assert "<h1>Hello</h1>" in preview.content.decode()
    dataset.refresh_from_db()
    assert dataset.title == "Orders"
    response = client.post(url, data)
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.title == "Orders v2"
    assert sorted(dataset.tags.values_list("name", flat=True)) == ["gold", "new"]


def test_edit_shows_service_errors(web, owner, dataset):
    url = reverse("catalog:dataset-edit", args=[dataset.pk])
    response = web(owner).post(url, {"sensitivity": "internal", "stewards": "nobody_here"})
    assert response.status_code == 400
    assert "Unknown user: nobody_here" in response.content.decode()


def test_register_dataset(web, steward):
    client = web(steward)
    response = client.post(
        reverse("catalog:dataset-create"),
        {
            "namespace": "postgres://db:5432",
            "name": "public.customers",
            "sensitivity": "restricted",
            "tags": "crm",
            "positive_label": "1",
        },
    )
    assert response.status_code == 302
    ds = Dataset.objects.get(name="public.customers")
    assert ds.owner == steward
    assert ds.positive_label == 1
    again = client.post(
        reverse("catalog:dataset-create"),
        {"namespace": "postgres://db:5432", "name": "public.customers", "sensitivity": "internal"},
    )
    assert again.status_code == 400
    assert "already exists" in again.content.decode()


def test_markdown_preview_sanitises(web, outsider):
    response = web(outsider).post(
        reverse("catalog:markdown-preview"), {"description": "*hi* <script>x</script>"}
    )
    assert (
        response.content.decode().strip() == "<p><em>hi</em> x</p>"
        or "<script>" not in response.content.decode()
    )


def test_column_edit_in_place(web, steward, dataset):
    client = web(steward)
    column = dataset.columns.get(name="email")
    url = reverse("catalog:column-edit", args=[dataset.pk, column.pk])
    form = client.get(url, HTTP_HX_REQUEST="true")
    assert form.status_code == 200
    assert f'id="col-{column.pk}"' in form.content.decode()
    assert "<html" not in form.content.decode()
    response = client.post(
        url,
        {
            f"col{column.pk}-description": "Customer e-mail",
            f"col{column.pk}-tags": "contact",
            f"col{column.pk}-is_pii": "on",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Customer e-mail" in response.content.decode()
    column = Column.objects.get(pk=column.pk)
    assert column.description == "Customer e-mail"
    assert column.is_pii and column.tags == ["contact"]
    # Without JavaScript: a page of its own and a redirect back.
    assert "<html" in client.get(url).content.decode()
    assert client.post(url, {f"col{column.pk}-description": "x"}).status_code == 302


def test_upload_without_javascript(web, owner, dataset):
    client = web(owner)
    upload = SimpleUploadedFile("orders.csv", b"email,amount\na@example.org,3.5\n", content_type="text/csv")
    response = client.post(
        reverse("catalog:version-upload", args=[dataset.pk]), {"file": upload}, follow=True
    )
    assert response.status_code == 200
    assert dataset.versions.count() == 1
    assert "Stored as version 1" in response.content.decode()
    bad = SimpleUploadedFile("bad.csv", b"", content_type="text/csv")
    response = client.post(reverse("catalog:version-upload", args=[dataset.pk]), {"file": bad}, follow=True)
    assert dataset.versions.count() == 1
    assert "refused" in response.content.decode() or "Choose a file" in response.content.decode()


def test_partials(web, outsider, dataset):
    client = web(outsider)
    assert b"email" in client.get(reverse("catalog:columns", args=[dataset.pk])).content
    assert b"No version yet" in client.get(reverse("catalog:versions", args=[dataset.pk])).content
    assert client.get(reverse("catalog:dataset", args=[999999])).status_code == 404


def test_stale_counts_never_hide_results(web, owner):
    client = web(owner)
    Dataset.objects.create(namespace="ns", name="first", owner=owner)
    assert client.get(reverse("catalog:search")).context["page"].count == 1
    for i in range(3):
        Dataset.objects.create(namespace="ns", name=f"later{i}", owner=owner)
    response = client.get(reverse("catalog:search"))  # the count is cached; the results are not
    assert len(response.context["results"]) == 4


def test_versions_partial_updates_the_overview(web, owner, dataset):
    upload = SimpleUploadedFile("orders.csv", b"email,amount\na@example.org,3.5\n", content_type="text/csv")
    versions.add_version_from_upload(actor=owner, dataset=dataset, upload=upload)
    html = (
        web(owner)
        .get(reverse("catalog:versions", args=[dataset.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert '<dd id="latest-version" hx-swap-oob="true">1</dd>' in html


def test_search_pages_in_rank_order(web, owner):
    for i in range(24):
        services.create_dataset(actor=owner, namespace="ns", name=f"orders_archive_{i:02d}")
    services.create_dataset(actor=owner, namespace="ns", name="orders")
    client = web(owner)
    first = client.get(reverse("catalog:search"), {"q": "orders"})
    assert first.context["page"].count == 25
    assert first.context["results"][0].name == "orders"  # the exact name first
    second = client.get(reverse("catalog:search"), {"q": "orders", "page": 2})
    names = [d.name for d in first.context["results"]] + [d.name for d in second.context["results"]]
    assert len(names) == 25 and len(set(names)) == 25


def _edit_data(dataset, **changes) -> dict:
    data = {
        "title": dataset.title,
        "description": dataset.description,
        "domain": dataset.domain,
        "tags": "gold, sales",
        "sensitivity": dataset.sensitivity,
        "stewards": ", ".join(u.username for u in dataset.stewards.all()),
        "sensitive_columns": "",
        "label_column": "",
        "positive_label": "",
    }
    return {**data, **changes}


def test_steward_is_offered_only_stricter_sensitivities_and_no_owner(web, steward, dataset):
    url = reverse("catalog:dataset-edit", args=[dataset.pk])
    html = web(steward).get(url).content.decode()
    assert 'value="confidential"' in html
    assert 'value="restricted"' in html
    assert 'value="public"' not in html
    assert 'value="internal"' not in html
    assert "Only the owner or staff may lower it." in html
    assert 'name="owner"' not in html
    # Posted anyway (crafted form): refused, nothing written.
    response = web(steward).post(url, _edit_data(dataset, sensitivity="public"))
    assert response.status_code in (400, 403)
    dataset.refresh_from_db()
    assert dataset.sensitivity == "confidential"
    # Raising it is the steward's right.
    assert web(steward).post(url, _edit_data(dataset, sensitivity="restricted")).status_code == 302
    dataset.refresh_from_db()
    assert dataset.sensitivity == "restricted"


def test_steward_lowering_sensitivity_is_refused_by_the_service(steward, dataset):
    """Behind the form: the service itself answers NotAllowed (the view turns it into 403)."""
    from config.errors import NotAllowed

    with pytest.raises(NotAllowed):
        services.update_dataset(actor=steward, dataset=dataset, via="ui", sensitivity="public")
    with pytest.raises(NotAllowed):
        services.update_dataset(actor=steward, dataset=dataset, via="ui", owner=steward.username)


def test_owner_may_lower_sensitivity(web, owner, dataset):
    url = reverse("catalog:dataset-edit", args=[dataset.pk])
    html = web(owner).get(url).content.decode()
    assert 'value="public"' in html
    assert web(owner).post(url, _edit_data(dataset, sensitivity="public")).status_code == 302
    dataset.refresh_from_db()
    assert dataset.sensitivity == "public"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the narrow search table is PostgreSQL's")
def test_search_with_many_matches_shows_results_first_and_fetches_its_facets(
    web, owner, steward, monkeypatch
):
    from catalog import search_page

    monkeypatch.setattr(search_page, "FACETS_INLINE_MAX", 2)
    for i in range(3):
        services.create_dataset(
            actor=owner, namespace="ns", name=f"orders_{i}", tags=["gold"], domain="sales"
        )
    services.create_dataset(actor=steward, namespace="ns", name="orders_by_steward")
    client = web(owner)
    page = client.get(reverse("catalog:search"), {"q": "orders", "sensitivity": "internal"})
    assert page.context["facets"] is None and page.context["page"].count == 4
    assert len(page.context["results"]) == 4
    html = page.content.decode()
    assert 'hx-get="/datasets/facets/?q=orders&amp;sensitivity=internal"' in html
    assert "?q=orders&amp;sensitivity=internal&amp;facets=all" in html  # without JavaScript
    sidebar = client.get(reverse("catalog:search-facets"), {"q": "orders", "sensitivity": "internal"})
    facets = {f["param"]: f for f in sidebar.context["facets"]}
    assert facets["owner"]["values"] == [
        {"value": owner.username, "count": 3},
        {"value": steward.username, "count": 1},
    ]
    assert facets["tag"]["values"] == [{"value": "gold", "count": 3}]
    assert facets["sensitivity"]["active"] == "internal"
    # Its links narrow the page they are shown in.
    assert '<a href="?q=orders&amp;sensitivity=internal&amp;domain=sales"' in sidebar.content.decode()
    # Counted once, the next page of the same search shows them at once; so does ?facets=all.
    assert client.get(
        reverse("catalog:search"), {"q": "orders", "sensitivity": "internal", "page": 1}
    ).context["facets"]
    fresh = web(steward).get(reverse("catalog:search"), {"q": "orders", "facets": "all"})
    assert {f["param"]: f for f in fresh.context["facets"]}["domain"]["values"] == [
        {"value": "sales", "count": 3}
    ]
    # A search with few matches counts them within the page.
    small = web(steward).get(reverse("catalog:search"), {"q": "orders_by_steward"})
    assert small.context["facets"] is not None and small.context["page"].count == 1


@pytest.mark.parametrize(
    "params", [{"q": "ord\x00ers"}, {"owner": "\x00"}, {"q": "orders", "tag": "go\x00ld"}]
)
def test_search_page_and_its_sidebar_take_a_nul_without_failing(web, owner, dataset, params):
    client = web(owner)
    page = client.get(reverse("catalog:search"), params)
    assert page.status_code == 200
    assert client.get(reverse("catalog:search-facets"), params).status_code == 200
    if params.get("q") == "ord\x00ers":
        assert [d.name for d in page.context["results"]] == ["sales/orders"]


def test_search_page_says_when_it_corrected_the_words(web, owner, dataset):
    client = web(owner)
    page = client.get(reverse("catalog:search"), {"q": "ordres"})
    assert [d.name for d in page.context["results"]] == ["sales/orders"]
    assert page.context["page"].corrected == "orders"
    assert "matching “orders” (no dataset holds “ordres” as written)" in page.content.decode()
    assert client.get(reverse("catalog:search"), {"q": "orders"}).context["page"].corrected == ""


def test_search_page_for_a_pasted_urn_shows_it_first_without_a_correction(web, owner, dataset):
    page = web(owner).get(reverse("catalog:search"), {"q": "dataset:s3://lake:sales/orders"})
    assert page.context["results"][0].name == "sales/orders" and page.context["page"].corrected == ""

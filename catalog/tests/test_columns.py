"""catalog.columns: the schema as inferred or reported, PII findings and stewards' notes."""

import pytest
from django.core.exceptions import ValidationError

from catalog import columns, services
from config.errors import NotAllowed

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(owner, steward):
    return services.create_dataset(
        actor=owner, namespace="s3://lake", name="orders", stewards=[steward.username]
    )


def test_columns_from_schema_keep_stewards_notes(dataset, steward):
    columns.set_columns_from_schema(
        dataset=dataset, columns=[{"name": "id", "type": "int64"}, {"name": "email", "type": "string"}]
    )
    col = dataset.columns.get(name="email")
    columns.update_column(actor=steward, column=col, description="Contact", is_pii=True)
    columns.set_columns_from_schema(
        dataset=dataset,
        columns=[
            {"name": "email", "type": "string", "description": "from the schema"},
            {"name": "ts", "type": "timestamp"},
        ],
    )
    cols = {c.name: c for c in dataset.columns.all()}
    assert cols["email"].description == "Contact" and cols["email"].is_pii and cols["email"].position == 0
    assert cols["id"].present is False and cols["ts"].present is True


def test_a_schema_writes_only_what_changed(dataset):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    header = [{"name": "id"}, {"name": "email"}, {"name": "tags"}]
    columns.set_columns_from_schema(dataset=dataset, columns=header)
    with CaptureQueriesContext(connection) as same:
        columns.set_columns_from_schema(dataset=dataset, columns=header)
    assert not [q for q in same.captured_queries if 'UPDATE "catalog_column"' in q["sql"]]
    typed = [{"name": "id", "type": "integer"}, {"name": "email", "type": "string"}, {"name": "tags"}]
    with CaptureQueriesContext(connection) as typing:
        columns.set_columns_from_schema(dataset=dataset, columns=typed)
    updates = [q["sql"] for q in typing.captured_queries if 'UPDATE "catalog_column"' in q["sql"]]
    assert len(updates) == 1 and 'SET "type" = ' in updates[0] and '"position"' not in updates[0]
    cols = {c.name: (c.position, c.type, c.present) for c in dataset.columns.all()}
    assert cols == {"id": (0, "integer", True), "email": (1, "string", True), "tags": (2, "", True)}
    columns.set_columns_from_schema(dataset=dataset, columns=[typed[1], typed[0]])
    cols = {c.name: (c.position, c.type, c.present) for c in dataset.columns.all()}
    assert cols == {"email": (0, "string", True), "id": (1, "integer", True), "tags": (2, "", False)}


def test_pii_findings_never_clear_a_stewards_flag(dataset, steward):
    columns.set_columns_from_schema(dataset=dataset, columns=[{"name": "a"}, {"name": "b"}])
    columns.update_column(actor=steward, column=dataset.columns.get(name="a"), is_pii=True)
    columns.mark_columns_pii(dataset=dataset, findings={"a": [], "b": ["email", "email"]})
    cols = {c.name: c for c in dataset.columns.all()}
    assert cols["a"].is_pii and cols["a"].pii_kinds == []
    assert cols["b"].is_pii and cols["b"].pii_kinds == ["email"]


def test_update_column_refuses_outsider_and_bad_fields(dataset, outsider, owner):
    columns.set_columns_from_schema(dataset=dataset, columns=[{"name": "a"}])
    col = dataset.columns.get()
    with pytest.raises(NotAllowed):
        columns.update_column(actor=outsider, column=col, description="x")
    with pytest.raises(ValidationError):
        columns.update_column(actor=owner, column=col, type="int")

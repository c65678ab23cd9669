"""Catalog API shapes. Serializers validate the shape of input; services decide and write."""

from collections import defaultdict
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from rest_framework import serializers

from catalog.models import Column, Dataset, DatasetVersion, Sensitivity


class NameListField(serializers.ListField):
    """A list of names in and out; reads a related manager as the sorted names of its rows."""

    def __init__(self, attr: str, **kwargs):
        self.attr = attr
        kwargs.setdefault("child", serializers.CharField(max_length=150))
        super().__init__(**kwargs)

    def to_representation(self, data):
        if hasattr(data, "all"):
            return sorted(getattr(obj, self.attr) for obj in data.all())
        return super().to_representation(data)


class DatasetSerializer(serializers.ModelSerializer):
    urn = serializers.CharField(read_only=True)
    # The source whose scans keep the dataset (its id), and whether the last scan no longer found it.
    source = serializers.IntegerField(source="source_id", read_only=True, allow_null=True)
    owner = serializers.CharField(source="owner.username", required=False, allow_null=True)
    # Offered the dataset by its owner, not owner until they accept (catalog.ownership).
    pending_owner = serializers.CharField(source="pending_owner.username", read_only=True, allow_null=True)
    stewards = NameListField("username", required=False)
    # Teams (group names): a member of the owner group acts as owner, of a steward group as steward.
    owner_group = serializers.CharField(
        source="owner_group.name", required=False, allow_null=True, allow_blank=True, max_length=150
    )
    steward_groups = NameListField("name", required=False)
    tags = NameListField("name", required=False)
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)
    sensitive_columns = serializers.ListField(child=serializers.CharField(), required=False)
    positive_label = serializers.JSONField(required=False, allow_null=True)
    latest_version = serializers.SerializerMethodField()
    hidden = serializers.BooleanField(
        required=False,
        help_text="Its existence is hidden from all but its owner, stewards, their groups, staff and approved "
        "requesters (docs/governance.md). Set by the owner, a steward or staff; a namespace rule hides it too.",
    )

    class Meta:
        model = Dataset
        fields = [
            "id",
            "urn",
            "namespace",
            "name",
            "title",
            "description",
            "owner",
            "pending_owner",
            "stewards",
            "owner_group",
            "steward_groups",
            "domain",
            "tags",
            "sensitivity",
            "sensitive_columns",
            "label_column",
            "positive_label",
            "origin",
            "created_at",
            "updated_at",
            "latest_version",
            "source",
            "removed_at_source",
            "hidden",
        ]
        read_only_fields = [
            "id", "urn", "pending_owner", "origin", "created_at", "updated_at", "latest_version",
            "source", "removed_at_source",
        ]  # fmt: skip
        # Uniqueness is the service's to check, so that a duplicate answers 409 rather than 400.
        validators: list = []
        extra_kwargs = {
            # Not trimmed: the service refuses surrounding white space and control characters
            # clearly instead of silently storing a different name than the one sent.
            "namespace": {"validators": [], "trim_whitespace": False},
            "name": {"validators": [], "trim_whitespace": False},
            "title": {"required": False},
            "description": {"required": False},
            "domain": {"required": False},
            "label_column": {"required": False},
        }

    def get_latest_version(self, obj: Dataset) -> int | None:
        if hasattr(obj, "latest_version_number"):
            return obj.latest_version_number
        latest = obj.latest_version
        return latest.number if latest else None

    def service_data(self) -> dict:
        """The validated input as keyword arguments for catalog services."""
        data = dict(self.validated_data)
        if "owner" in data:
            data["owner"] = (data["owner"] or {}).get("username")
        if "owner_group" in data:
            data["owner_group"] = (data["owner_group"] or {}).get("name") or None
        return data


_ROW_FIELDS = [
    "id", "namespace", "name", "title", "description", "owner__username", "domain", "sensitivity",
    "sensitive_columns", "label_column", "positive_label", "origin", "created_at", "updated_at",
    "pending_owner__username", "source_id", "removed_at_source", "hidden", "owner_group__name",
]  # fmt: skip


def _team_rows(ids: list[int]) -> dict[int, list[str]]:
    """{dataset id: its steward groups' names}."""
    teams: dict[int, list[str]] = defaultdict(list)
    through = Dataset.steward_groups.through
    for ds_id, name in through.objects.filter(dataset_id__in=ids).values_list("dataset_id", "group__name"):
        teams[ds_id].append(name)
    return teams


def _orm_rows(queryset: QuerySet[Dataset], ids: list[int]) -> tuple[dict, dict, dict]:
    rows = {
        r["id"]: r
        for r in queryset.select_related(None)
        .prefetch_related(None)
        .filter(pk__in=ids)
        .values(*_ROW_FIELDS, "latest_version_number")
    }
    people: dict[int, list[str]] = defaultdict(list)
    for ds_id, username in Dataset.stewards.through.objects.filter(dataset_id__in=ids).values_list(
        "dataset_id", "user__username"
    ):
        people[ds_id].append(username)
    labels: dict[int, list[str]] = defaultdict(list)
    for ds_id, tag in Dataset.tags.through.objects.filter(dataset_id__in=ids).values_list(
        "dataset_id", "tag__name"
    ):
        labels[ds_id].append(tag)
    return rows, people, labels


# The same rows in one statement (PostgreSQL): stewards and tags as arrays beside each dataset. The
# ORM's three queries cost more to compile than to run.
@cache
def _pg_rows_sql() -> str:
    user = get_user_model()._meta
    tables = {
        "dataset": Dataset._meta.db_table,
        "version": DatasetVersion._meta.db_table,
        "stewards": Dataset.stewards.through._meta.db_table,
        "tags": Dataset.tags.through._meta.db_table,
        "tag": Dataset.tags.field.related_model._meta.db_table,
        "user": user.db_table,
        "username": user.get_field(get_user_model().USERNAME_FIELD).column,
        "group": Dataset.owner_group.field.related_model._meta.db_table,
        "team": Dataset.steward_groups.through._meta.db_table,
    }
    return """
SELECT d.id, d.namespace, d.name, d.title, d.description, u.{username}, d.domain, d.sensitivity,
       d.sensitive_columns, d.label_column, d.positive_label, d.origin, d.created_at, d.updated_at,
       pu.{username}, d.source_id, d.removed_at_source, d.hidden,
       (SELECT g.name FROM {group} g WHERE g.id = d.owner_group_id),
       (SELECT v.number FROM {version} v WHERE v.dataset_id = d.id AND v.deleted_at IS NULL
        ORDER BY v.number DESC LIMIT 1),
       ARRAY(SELECT su.{username} FROM {stewards} s JOIN {user} su ON su.id = s.user_id
             WHERE s.dataset_id = d.id),
       ARRAY(SELECT t.name FROM {tags} dt JOIN {tag} t ON t.id = dt.tag_id WHERE dt.dataset_id = d.id),
       ARRAY(SELECT sg.name FROM {team} dg JOIN {group} sg ON sg.id = dg.group_id WHERE dg.dataset_id = d.id)
FROM {dataset} d LEFT JOIN {user} u ON u.id = d.owner_id LEFT JOIN {user} pu ON pu.id = d.pending_owner_id
WHERE d.id = ANY(%s)
""".format(**tables)  # noqa: S608 -- table and column names from the models


def _pg_rows(ids: list[int]) -> tuple[dict, dict, dict]:
    json_fields = [Dataset._meta.get_field(f) for f in ("sensitive_columns", "positive_label")]
    rows, people, labels = {}, {}, {}
    with connection.cursor() as cursor:
        cursor.execute(_pg_rows_sql(), [ids])
        for values in cursor.fetchall():
            n = len(_ROW_FIELDS) + 1  # the fields, then the latest version's number
            r = dict(zip([*_ROW_FIELDS, "latest_version_number"], values[:n], strict=True))
            for f in json_fields:  # decoded as the ORM decodes them
                r[f.name] = f.from_db_value(r[f.name], None, connection)
            rows[r["id"]] = r
            people[r["id"]], labels[r["id"]] = values[n], values[n + 1]
            r["steward_groups"] = values[n + 2]
    return rows, people, labels


def dataset_list_rows(
    queryset: QuerySet[Dataset], ids: list[int], *, ids_visible: bool = False
) -> list[dict]:
    """DatasetSerializer's output for these datasets of ``queryset`` (``catalog.selectors.dataset_list``:
    it carries ``latest_version_number``), in this order, from three plain queries (one statement on
    PostgreSQL when the queryset has no condition of its own).

    A list page through the ORM and DRF builds dozens of model instances and related managers per
    dataset, which cost more Python time than all of the page's SQL. Rows here come from
    ``values()``; a test holds the two outputs equal. ``ids_visible``: the ids were chosen from
    ``queryset`` already (the list's page), so its only condition, who may see what, is met.
    """
    if not ids:
        return []
    if connection.vendor == "postgresql" and (ids_visible or not queryset.query.where):
        rows, people, labels = _pg_rows(ids)
    else:
        rows, people, labels = _orm_rows(queryset, ids)
        for pk, names in _team_rows(ids).items():
            if pk in rows:
                rows[pk]["steward_groups"] = names
    when = serializers.DateTimeField().to_representation
    out = []
    for pk in ids:
        r = rows.get(pk)
        if r is None:
            continue
        out.append(
            {
                "id": pk,
                "urn": f"dataset:{r['namespace']}:{r['name']}",
                "namespace": r["namespace"],
                "name": r["name"],
                "title": r["title"],
                "description": r["description"],
                "owner": r["owner__username"],
                "pending_owner": r["pending_owner__username"],
                "stewards": sorted(people.get(pk, [])),
                "owner_group": r["owner_group__name"],
                "steward_groups": sorted(r.get("steward_groups") or []),
                "domain": r["domain"],
                "tags": sorted(labels.get(pk, [])),
                "sensitivity": r["sensitivity"],
                "sensitive_columns": r["sensitive_columns"],
                "label_column": r["label_column"],
                "positive_label": r["positive_label"],
                "origin": r["origin"],
                "created_at": when(r["created_at"]),
                "updated_at": when(r["updated_at"]),
                "latest_version": r["latest_version_number"],
                "source": r["source_id"],
                "removed_at_source": r["removed_at_source"],
                "hidden": r["hidden"],
            }
        )
    return out


class DatasetUpdateSerializer(DatasetSerializer):
    class Meta(DatasetSerializer.Meta):
        read_only_fields = [*DatasetSerializer.Meta.read_only_fields, "namespace", "name"]


class ColumnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Column
        fields = ["name", "position", "type", "description", "tags", "is_pii", "pii_kinds", "present"]
        read_only_fields = ["name", "position", "type", "pii_kinds", "present"]


class DatasetDetailSerializer(DatasetSerializer):
    columns = ColumnSerializer(many=True, read_only=True)
    description_html = serializers.SerializerMethodField()

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "columns", "description_html"]

    def get_description_html(self, obj: Dataset) -> str:
        from catalog.markdown import render_markdown

        return render_markdown(obj.description)


class VersionSerializer(serializers.ModelSerializer):
    dataset = serializers.IntegerField(source="dataset_id", read_only=True)
    uri = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "dataset",
            "number",
            "checksum",
            "size_bytes",
            "format",
            "compression",
            "encoding",
            "notes",
            "original_name",
            "uri",
            "fingerprint",  # a reference's (source scans); "" for a stored copy or a registered path
            "created_at",
            "profile_status",
            "deleted_at",  # a tombstone: the data and all derived from it are gone; the row stays
        ]
        read_only_fields = fields

    def get_uri(self, obj: DatasetVersion) -> str:
        return obj.source_uri or (f"storage:{obj.file.name}" if obj.file else "")


class VersionCreateSerializer(serializers.Serializer):
    """Either a multipart ``file`` or JSON ``{"uri": "file:///..."}``."""

    file = serializers.FileField(required=False, allow_empty_file=True)
    uri = serializers.CharField(required=False, max_length=4000)

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("uri")):
            raise serializers.ValidationError(
                {"file": ["Send exactly one of a multipart 'file' or a JSON 'uri' (file:///...)."]}
            )
        return attrs


class ErrorSerializer(serializers.Serializer):
    """Every refusal (API.md): a summary and the messages per field."""

    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

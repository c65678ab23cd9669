"""Every write to a dataset's own record: register, change, delete, and register on first mention
(one by one or in bulk, as lineage names datasets). Other apps call these; they never write catalog
rows themselves. A dataset's versions are written by catalog.versions, its columns by catalog.columns.

Signals go out once the change is committed, robustly (``on_commit(..., robust=True)``): a
subscriber that fails then (a cache or broker that is down) is logged, never turned into an error
for a write that already happened, which its client would send again.
"""

import unicodedata
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from catalog import signals
from catalog.hidden_namespaces import hidden_namespaces_among
from catalog.models import Dataset, Origin, RetiredDataset, Sensitivity, Tag
from catalog.permissions import can_change_dataset, can_delete_dataset, is_owner
from catalog.search_index import index_dataset, index_new_datasets, unindex_dataset
from catalog.search_text import PARTS, search_parts
from catalog.teams import groups_named, owner_group_named, team_snapshot
from catalog.urns import dataset_lookup_q, dataset_urn
from config.errors import Conflict, NotAllowed

User = get_user_model()

MAX_IDENT = 255
EDITABLE_FIELDS = (
    "title",
    "description",
    "owner",
    "stewards",
    "owner_group",
    "steward_groups",
    "domain",
    "tags",
    "sensitivity",
    "sensitive_columns",
    "label_column",
    "positive_label",
    "hidden",
)


# ---------------------------------------------------------------------------------------------
# Validation helpers


def _check_identifier(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: ["This field is required and may not be blank."]})
    if len(value) > MAX_IDENT:
        raise ValidationError({field: [f"At most {MAX_IDENT} characters (got {len(value)})."]})
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValidationError({field: ["Control characters (newlines, tabs, NUL...) are not allowed."]})
    if value != value.strip():
        # " orders" and "orders" would look the same in every list yet be two datasets.
        raise ValidationError({field: ["May not start or end with white space."]})
    return value


def users_named(field: str, usernames: Iterable[str]) -> list:
    """The users with these usernames, in order; ValidationError on ``field`` naming the unknown ones."""
    names = list(dict.fromkeys(usernames))
    found = {u.username: u for u in User.objects.filter(username__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValidationError({field: [f"Unknown user: {', '.join(unknown)}."]})
    return [found[n] for n in names]


def _tags(values: Iterable[str]) -> list[Tag]:
    out = []
    for raw in values:
        name = str(raw).strip().lower()
        if not name:
            continue
        if len(name) > 100 or any(unicodedata.category(ch) == "Cc" for ch in name):
            raise ValidationError({"tags": [f"Invalid tag '{raw[:50]}': at most 100 printable characters."]})
        out.append(Tag.objects.get_or_create(name=name)[0])
    return out


def _snapshot(dataset: Dataset) -> dict[str, Any]:
    """The fields whose changes are audited, in plain JSON values."""
    return {
        "title": dataset.title,
        "description": dataset.description,
        "owner": dataset.owner.username if dataset.owner_id else None,
        "pending_owner": dataset.pending_owner.username if dataset.pending_owner_id else None,
        "stewards": sorted(dataset.stewards.values_list("username", flat=True)) if dataset.pk else [],
        **team_snapshot(dataset),
        "domain": dataset.domain,
        "tags": sorted(dataset.tags.values_list("name", flat=True)) if dataset.pk else [],
        "sensitivity": dataset.sensitivity,
        "sensitive_columns": list(dataset.sensitive_columns or []),
        "label_column": dataset.label_column,
        "positive_label": dataset.positive_label,
        "hidden": dataset.hidden,
    }


def _apply(dataset: Dataset, data: dict[str, Any], actor=None) -> dict[str, list]:
    """Validate and set plain fields → {many-to-many field: rows} to set after save (absent: unchanged)."""
    related: dict[str, list] = {}
    for key, value in data.items():
        if key not in EDITABLE_FIELDS:
            raise ValidationError({key: ["This field cannot be set."]})
        if key == "owner":
            dataset.owner = users_named("owner", [value])[0] if value else None
        elif key == "stewards":
            related["stewards"] = users_named("stewards", value or [])
        elif key == "owner_group":
            dataset.owner_group = owner_group_named(actor, value, current_id=dataset.owner_group_id)
        elif key == "steward_groups":
            related["steward_groups"] = groups_named("steward_groups", value or [])
        elif key == "tags":
            related["tags"] = _tags(value or [])
        elif key == "sensitivity":
            if value not in Sensitivity.values:
                raise ValidationError({"sensitivity": [f"Must be one of {', '.join(Sensitivity.values)}."]})
            dataset.sensitivity = value
        elif key == "sensitive_columns":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ValidationError({"sensitive_columns": ["A list of column names."]})
            dataset.sensitive_columns = list(dict.fromkeys(value))
        elif key == "title":
            if value and len(value) > 255:
                raise ValidationError({"title": ["At most 255 characters."]})
            dataset.title = value or ""
        elif key == "hidden":
            if not isinstance(value, bool):
                raise ValidationError({"hidden": ["true or false."]})
            if not value and hidden_namespaces_among([dataset.namespace]):
                raise ValidationError(
                    {
                        "hidden": [
                            f"Every dataset of the namespace {dataset.namespace} is hidden by staff's rule."
                        ]
                    }
                )
            dataset.hidden = value
        elif key in ("domain", "label_column"):
            if value and (len(value) > (100 if key == "domain" else 255)):
                raise ValidationError({key: ["Too long."]})
            setattr(dataset, key, value or "")
        elif key == "positive_label":
            # Compared with label cells: a scalar, never an object or a list.
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ValidationError({"positive_label": ["A single value (text, number or boolean)."]})
            dataset.positive_label = value
        else:
            setattr(dataset, key, value if value is not None else "")
    return related


def _set_related(dataset: Dataset, related: dict[str, list]) -> None:
    for field, rows in related.items():
        getattr(dataset, field).set(rows)


def _diff(before: dict, after: dict) -> dict[str, list]:
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


# ---------------------------------------------------------------------------------------------
# Datasets


@transaction.atomic
def create_dataset(
    *, actor, namespace: str, name: str, via: str = "api", origin: str = Origin.REGISTERED, **data: Any
) -> Dataset:
    """Register a dataset. The owner defaults to the actor."""
    _check_identifier("namespace", namespace)
    _check_identifier("name", name)
    # Colons may stand in namespaces and names, so another split can spell the same URN
    # (file:///tmp + a:b versus file:///tmp:a + b). A URN must name exactly one dataset; this one
    # lookup finds the same namespace + name too.
    urn = dataset_urn(namespace, name)
    clash = Dataset.objects.filter(dataset_lookup_q(urn)).first()
    if clash is not None and (clash.namespace, clash.name) == (namespace, name):
        raise Conflict(
            f"A dataset {namespace} / {name} already exists.",
            {"name": ["A dataset with this namespace and name already exists."]},
        )
    if clash is not None:
        raise Conflict(
            f"The URN {urn} already names the dataset {clash.namespace} / {clash.name}.",
            {"name": [f"This namespace and name spell the URN of an existing dataset ({urn})."]},
        )
    retired = _check_return_of_retired(actor, namespace, name, data)
    dataset = Dataset(namespace=namespace, name=name, origin=origin)
    offered = _offer_instead(actor, data, current_owner_id=None)
    if "owner" not in data and actor is not None and actor.is_authenticated:
        dataset.owner = actor
    related = _apply(dataset, data, actor)
    if hidden_namespaces_among([namespace]):
        dataset.hidden = True  # a namespace rule hides what is registered into it (catalog.hidden_namespaces)
    dataset.pending_owner = offered
    if retired is not None and actor is None and "owner" not in data:
        # Named again by the system (lineage): it comes back owned as it left.
        dataset.owner_id, kept = _keepers_still_here(retired)
        related.setdefault("stewards", kept)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError as exc:  # lost a race with another creator
        raise Conflict(f"A dataset {namespace} / {name} already exists.") from exc
    _set_related(dataset, related)
    index_dataset(dataset)
    # A dataset registered visible says nothing new about hiding (hidden: false is every dataset's default).
    changes = {
        k: [None, v]
        for k, v in _snapshot(dataset).items()
        if v not in (None, "", []) and not (k == "hidden" and v is False)
    }
    transaction.on_commit(
        lambda: signals.dataset_created.send(
            sender=Dataset, dataset=dataset, actor=actor, changes=changes, via=via
        ),
        robust=True,
    )
    return dataset


SENSITIVITY_RANK = {value: rank for rank, value in enumerate(Sensitivity.values)}


def _check_return_of_retired(actor, namespace: str, name: str, data: dict[str, Any]) -> RetiredDataset | None:
    """A deleted dataset's name is still its last owner's and stewards': anyone else registering it
    again would become the owner of what lineage, models and the audit still know under that name
    (409); staff may. It comes back at least as sensitive as it left, unless staff or its last owner
    say otherwise: lineage may still show it upstream of other data, and registering it again as
    public would clear all of that. Without a sensitivity given, it comes back as it left.
    The system (``actor`` None: lineage naming it again) may always → the retired row, if any."""
    retired = RetiredDataset.objects.filter(namespace=namespace, name=name).first()
    if retired is None:
        return None
    urn = dataset_urn(namespace, name)
    keepers = {retired.owner_id, *(retired.steward_ids or [])}
    if actor is not None and not actor.is_staff and actor.pk not in keepers:
        raise Conflict(
            f"{urn} was deleted from the catalog: only its last owner, one of its stewards or staff may "
            "register it again.",
            {
                "name": [
                    "The name of a deleted dataset: only its last owner, a steward or staff may reuse it."
                ]
            },
        )
    wanted = data.get("sensitivity")
    if wanted is None:
        data["sensitivity"] = retired.sensitivity
        return retired
    lower = SENSITIVITY_RANK.get(wanted, 0) < SENSITIVITY_RANK.get(retired.sensitivity, 0)
    privileged = actor is not None and (actor.is_staff or actor.pk == retired.owner_id)
    if lower and not privileged:
        raise NotAllowed(
            f"{urn} was {retired.sensitivity} when it was deleted: only staff or "
            f"its last owner may register it again as {wanted}."
        )
    return retired


def _keepers_still_here(retired: RetiredDataset) -> tuple[int | None, list]:
    """(owner id, stewards) of a deleted dataset that are still users: what it comes back with."""
    ids = {retired.owner_id, *(retired.steward_ids or [])} - {None}
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    owner_id = retired.owner_id if retired.owner_id in users else None
    return owner_id, [users[i] for i in (retired.steward_ids or []) if i in users]


def _offer_instead(actor, data: dict[str, Any], *, current_owner_id: int | None):
    """Naming someone else as owner is an offer they accept (catalog.ownership), unless staff name
    them: a user must not be made answerable for data without their consent. Takes "owner" out of
    ``data`` when it becomes an offer → the user offered, or None (the change applies at once)."""
    value = data.get("owner")
    if not value or actor is None or not actor.is_authenticated or actor.is_staff:
        return None
    named = users_named("owner", [value])[0]
    if named.pk in (actor.pk, current_owner_id):
        return None
    del data["owner"]
    return named


def _check_owner_only_changes(actor, dataset: Dataset, data: dict[str, Any]) -> None:
    """Handing a dataset to another owner, or lowering its sensitivity, is the owner's (or staff's)
    decision: a steward who could do either alone would void the two-person rule for restricted data."""
    if actor.is_staff or is_owner(actor, dataset):
        return
    current_owner = dataset.owner.username if dataset.owner_id else None
    if "owner" in data and data["owner"] != current_owner:
        raise NotAllowed("Only the dataset's owner or staff may hand it to another owner.")
    current_group = dataset.owner_group.name if dataset.owner_group_id else None
    if "owner_group" in data and (data["owner_group"] or None) != current_group:
        raise NotAllowed("Only the dataset's owner or staff may hand it to another owner group.")
    wanted = data.get("sensitivity")
    if wanted in SENSITIVITY_RANK and SENSITIVITY_RANK[wanted] < SENSITIVITY_RANK[dataset.sensitivity]:
        raise NotAllowed(
            f"Only the dataset's owner or staff may lower its sensitivity ({dataset.sensitivity} → {wanted}); "
            "stewards may raise it."
        )


@transaction.atomic
def update_dataset(*, actor, dataset: Dataset, via: str = "api", check: bool = True, **data: Any) -> Dataset:
    """Change a dataset's metadata. Only the owner, a steward or staff may (unless check=False,
    for system writes such as lineage facets)."""
    if check and not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may change it.")
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if check:
        _check_owner_only_changes(actor, dataset, data)
    offered = _offer_instead(actor, data, current_owner_id=dataset.owner_id) if check else None
    before = _snapshot(dataset)
    owner_before = dataset.owner_id
    related = _apply(dataset, data, actor if check else None)
    if offered is not None:
        dataset.pending_owner = offered
    elif dataset.owner_id != owner_before or dataset.pending_owner_id == dataset.owner_id:
        dataset.pending_owner = None  # handed over at once: an open offer is moot
    dataset.save()
    _set_related(dataset, related)
    index_dataset(dataset)
    changes = _diff(before, _snapshot(dataset))
    if changes:
        transaction.on_commit(
            lambda: signals.dataset_changed.send(
                sender=Dataset, dataset=dataset, actor=actor, changes=changes, via=via
            ),
            robust=True,
        )
    return dataset


@transaction.atomic
def delete_dataset(*, actor, dataset: Dataset, via: str = "api") -> None:
    """Delete a dataset, its columns and versions (and their stored files, once committed)."""
    if not can_delete_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner or staff may delete it.")
    snapshot = _snapshot(dataset)
    stored = [v.file.name for v in dataset.versions.all() if v.file]
    steward_ids = list(dataset.stewards.values_list("pk", flat=True))
    pk = dataset.pk
    try:
        with transaction.atomic():
            dataset.delete()
            RetiredDataset.objects.update_or_create(
                namespace=dataset.namespace,
                name=dataset.name,
                defaults={
                    "sensitivity": dataset.sensitivity,
                    "owner_id": dataset.owner_id,
                    "steward_ids": steward_ids,
                },
            )
    except ProtectedError as exc:
        # Another app's rows (a model trained on it, an access request...) still point at it.
        raise Conflict(
            f"{dataset.urn} is still referred to by {len(exc.protected_objects)} other record(s) "
            "and cannot be deleted.",
        ) from exc
    unindex_dataset(pk)
    dataset.pk = pk

    def after() -> None:
        for name in stored:
            default_storage.delete(name)
        signals.dataset_deleted.send(
            sender=Dataset,
            dataset=dataset,
            actor=actor,
            changes={k: [v, None] for k, v in snapshot.items()},
            via=via,
        )

    transaction.on_commit(after, robust=True)


def ensure_dataset(*, namespace: str, name: str, actor=None, via: str = "lineage") -> tuple[Dataset, bool]:
    """The dataset namespace + name, registered (as found through lineage) when unknown.

    Safe under concurrency: two events naming the same new dataset create it once.
    """
    existing = Dataset.objects.filter(namespace=namespace, name=name).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return create_dataset(
                actor=None, namespace=namespace, name=name, via=via, origin=Origin.LINEAGE
            ), True
    except Conflict:
        return Dataset.objects.get(namespace=namespace, name=name), False


# ---------------------------------------------------------------------------------------------
# Many datasets at once (lineage events naming thousands of tables)


def _insert_new_datasets(rows: list[Dataset]) -> list[tuple[int, str, str]]:
    """INSERT the rows, skipping (namespace, name) pairs that exist → (id, namespace, name) of those
    this call inserted. One statement per batch; RETURNING tells exactly which rows are ours, so a
    concurrent registration of the same dataset is announced once (bulk_create with
    ignore_conflicts sets no ids and cannot tell)."""
    fields = [f for f in Dataset._meta.concrete_fields if not f.primary_key and f.column != "search_vector"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    batch = max(1, connection.ops.bulk_batch_size(fields, rows) if rows else 1)
    inserted: list[tuple[int, str, str]] = []
    with connection.cursor() as cursor:
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            params: list[Any] = []
            for obj in chunk:
                params += [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
            one = "(" + ", ".join(["%s"] * len(fields)) + ")"
            cursor.execute(
                f"INSERT INTO {Dataset._meta.db_table} ({columns}) VALUES "  # noqa: S608 -- model metadata only
                + ", ".join([one] * len(chunk))
                + " ON CONFLICT (namespace, name) DO NOTHING RETURNING id, namespace, name",
                params,
            )
            inserted += cursor.fetchall()
    return inserted


def _urn_splits(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """{pair: every other (namespace, name) split of its colons}: the pairs that would spell the same
    URN (see ``create_dataset``)."""
    splits_of: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for pair in pairs:
        body = f"{pair[0]}:{pair[1]}"
        splits_of[pair] = [
            (body[:i], body[i + 1 :])
            for i, ch in enumerate(body)
            if ch == ":" and body[:i] and body[i + 1 :] and (body[:i], body[i + 1 :]) != pair
        ]
    return splits_of


def _new_dataset_rows(missing: list[tuple[str, str]]) -> list[Dataset]:
    """Unsaved rows for the pairs not registered yet, leaving out a pair whose URN an existing
    dataset or an earlier new pair already spells."""
    # URN clashes: another split of a new pair's colons that names an existing dataset.
    splits_of = _urn_splits(missing)
    taken = set(_datasets_by_pairs([s for splits in splits_of.values() for s in splits]))
    seen_urns: set[str] = set()
    new_rows = []
    # A deleted dataset named again by lineage comes back as sensitive as it left, and its owner's.
    retired = {(r.namespace, r.name): r for r in _retired_among(missing)}
    hidden = hidden_namespaces_among(ns for ns, _ in missing)
    for ns, name in missing:
        urn = dataset_urn(ns, name)
        if urn in seen_urns or any(s in taken for s in splits_of[(ns, name)]):
            continue
        seen_urns.add(urn)
        row = Dataset(namespace=ns, name=name, origin=Origin.LINEAGE, hidden=ns in hidden)
        if (ns, name) in retired:
            row.sensitivity = retired[(ns, name)].sensitivity
            row.owner_id = _keepers_still_here(retired[(ns, name)])[0]
        row.search_text = "\n".join([name, ns, *(v for v in _search_parts_of(ns, name) if v)])
        new_rows.append(row)
    return new_rows


def _announce_created(created: list[Dataset], *, actor, via: str) -> None:
    """``dataset_created`` for each dataset registered in bulk, once the registration commits."""
    announced = []
    for dataset in created:
        changes = {
            k: [None, v]
            for k, v in {
                "owner": dataset.owner.get_username() if dataset.owner_id else None,
                "sensitivity": dataset.sensitivity,
                "sensitive_columns": list(dataset.sensitive_columns or []),
            }.items()
            if v not in (None, "", [])
        }
        announced.append((dataset, changes))

    def announce() -> None:
        # One transaction around every receiver's writes: governance audits each dataset, and one
        # commit for all of them instead of one per dataset is most of the time saved here.
        with transaction.atomic():
            for dataset, changes in announced:
                signals.dataset_created.send(
                    sender=Dataset, dataset=dataset, actor=actor, changes=changes, via=via
                )

    if announced:
        transaction.on_commit(announce, robust=True)


@transaction.atomic
def ensure_datasets(
    pairs: list[tuple[str, str]], *, via: str = "lineage", actor=None
) -> dict[tuple[str, str], Dataset]:
    """Every dataset of (namespace, name) ``pairs``, registering the unknown ones (as found through
    lineage) in bulk → {(namespace, name): dataset}.

    The bulk twin of ``ensure_dataset`` for events that name thousands of datasets: one select for
    the known ones, one insert per batch for the rest, the search index filled in bulk, and the
    ``dataset_created`` signal sent (after commit) for each dataset this call registered, naming
    ``actor`` (who posted the event that named them) as the one who registered it.

    Invalid identifiers raise ValidationError. A new pair whose URN would equal the URN of an
    existing dataset (another split of the same colons, see ``create_dataset``), or of an earlier
    new pair, is left out of the answer: a URN names one dataset.
    """
    wanted = list(dict.fromkeys(pairs))
    for ns, name in wanted:
        _check_identifier("namespace", ns)
        _check_identifier("name", name)
    found = _datasets_by_pairs(wanted)
    missing = [p for p in wanted if p not in found]
    if not missing:
        return found
    inserted = _insert_new_datasets(_new_dataset_rows(missing))
    found = {**found, **_datasets_by_pairs([(ns, name) for _i, ns, name in inserted] + missing)}
    created = [found[(ns, name)] for _i, ns, name in inserted if (ns, name) in found]
    _restore_stewards(created)
    index_new_datasets(created)
    _announce_created(created, actor=actor, via=via)
    return {p: found[p] for p in wanted if p in found}


def _retired_among(pairs: list[tuple[str, str]]) -> list[RetiredDataset]:
    wanted = set(pairs)
    found = RetiredDataset.objects.filter(
        namespace__in={ns for ns, _ in wanted}, name__in={n for _, n in wanted}
    )
    return [r for r in found if (r.namespace, r.name) in wanted]


def _restore_stewards(created: list[Dataset]) -> None:
    """Deleted datasets that lineage registered again get their stewards back (owners are in the row)."""
    retired = [r for r in _retired_among([(d.namespace, d.name) for d in created]) if r.steward_ids]
    by_pair = {(d.namespace, d.name): d for d in created}
    through = Dataset.stewards.through
    links = [
        through(dataset_id=by_pair[(r.namespace, r.name)].pk, user_id=u.pk)
        for r in retired
        for u in _keepers_still_here(r)[1]
    ]
    through.objects.bulk_create(links, ignore_conflicts=True)


def _search_parts_of(namespace: str, name: str) -> list[str]:
    parts = search_parts(namespace=namespace, name=name)
    return [parts[p] for p in PARTS]


def _datasets_by_pairs(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Dataset]:
    """{(namespace, name): dataset} of the pairs that exist, a few queries for any number of pairs."""
    out: dict[tuple[str, str], Dataset] = {}
    wanted = set(pairs)
    by_ns: dict[str, list[str]] = {}
    for ns, name in wanted:
        by_ns.setdefault(ns, []).append(name)
    for ns, names in by_ns.items():
        for i in range(0, len(names), 900):
            for d in Dataset.objects.filter(namespace=ns, name__in=names[i : i + 900]):
                out[(d.namespace, d.name)] = d
    return {p: d for p, d in out.items() if p in wanted}

"""Registered models and their versions: registering a trained version (through the API or found in an
OpenLineage event) with its training data and the clearance answer at that moment, and editing its card.

A model trained without clearance is registered all the same, and shows as not cleared everywhere.
Versions found together (a page of an MLflow sync) are registered by ``register_model_versions``, of
which ``register_model_version`` is the form for one: the rules live once, in the batch form.
"""

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from catalog.permissions import group_ids
from catalog.selectors import datasets_by_ids, versions_of
from catalog.teams import groups_named, owner_group_named
from catalog.urns import split_version
from config.errors import Conflict, NotAllowed
from governance import audit, clearance, events
from governance.models import ModelVersion, Purpose, RegisteredModel, TrainingInput, Via
from governance.selectors import MAX_DATASETS_PER_QUERY, resolve_urn_lists
from lineage.fold import catch_up
from lineage.selectors import node_by_key
from lineage.training import TrainingRun, record_training_runs

MAX_CARD_TEXT = 50_000  # characters of Markdown in a card's intended use or its caveats


class Input(NamedTuple):
    """One dataset a model version was trained on."""

    dataset: Any
    version: Any  # the DatasetVersion, or None when the dataset had no version yet
    number: int | None  # the version number as asked ("@<n>"), or None


@dataclass
class Registration:
    """One trained model version to register (``register_model_versions``): ``trained_on`` is a list
    of dataset URNs (optionally ending @<version>); ``principal`` the person whose clearance is
    recorded (default: the actor); ``unknown`` the inputs that name no catalogued data
    ({"name", "reason"}): they refuse clearance, and with them ``trained_on`` may be empty."""

    namespace: Any
    name: Any
    version: Any
    trained_on: Any
    run_id: Any = ""
    principal: Any = None
    unknown: list[dict] | None = None


def _split_refs(refs: Any, *, may_be_empty: bool) -> list[tuple[str, int | None]]:
    """(URN, version number or None) of each distinct reference, or a ValidationError for the list."""
    if may_be_empty and refs == []:
        return []
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise ValidationError(
            {"trained_on": ["A non-empty list of dataset URNs (optionally ending @<version>)."]}
        )
    if len(refs) > MAX_DATASETS_PER_QUERY:
        raise ValidationError({"trained_on": [f"At most {MAX_DATASETS_PER_QUERY} datasets."]})
    return [split_version(r) for r in dict.fromkeys(refs)]


def _training_inputs_each(lists: list[tuple[Any, bool]]) -> list[list[Input] | ValidationError]:
    """The inputs of each (references, may be empty) → its Input list, or the ValidationError that
    refuses it; the datasets of all the lists in one query, their numbered versions in another."""
    splits: dict[int, list[tuple[str, int | None]]] = {}
    out: list[Any] = [None] * len(lists)
    for k, (refs, may_be_empty) in enumerate(lists):
        try:
            splits[k] = _split_refs(refs, may_be_empty=may_be_empty)
        except ValidationError as exc:
            out[k] = exc
    urn_lists = [list(dict.fromkeys(u for u, _ in sp)) for sp in splits.values()]
    found = dict(zip(splits, resolve_urn_lists(urn_lists, field="trained_on"), strict=True))
    # Without "@<version>" the model saw the latest version at this moment: record which one, so the
    # card still says what was trained on once newer versions arrive. A dataset with no version yet
    # stays null.
    versions = versions_of(
        (found[k][urn], number)
        for k, sp in splits.items()
        if isinstance(found[k], dict)
        for urn, number in sp
    )
    for k, sp in splits.items():
        datasets = found[k]
        if isinstance(datasets, ValidationError):
            out[k] = datasets
            continue
        inputs = [Input(datasets[u], versions.get((datasets[u].pk, n)), n) for u, n in sp]
        missing = [
            f"{u}@{n}" for (u, n), i in zip(sp, inputs, strict=True) if n is not None and i.version is None
        ]
        out[k] = (
            ValidationError({"trained_on": [f"Unknown dataset version: {', '.join(missing)}."]})
            if missing
            else inputs
        )
    return out


def _check_identifier(field: str, value: Any, limit: int = 255) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: ["This field is required and may not be blank."]})
    if len(value) > limit or any(ord(ch) < 32 for ch in value):
        raise ValidationError({field: [f"At most {limit} printable characters."]})
    return value


def _check_fields(namespace: Any, name: Any, version: Any, run_id: Any) -> str:
    """Refuse malformed identifiers → the version as text."""
    _check_identifier("namespace", namespace)
    _check_identifier("name", name)
    _check_identifier("version", str(version) if isinstance(version, int) else version, 100)
    if not isinstance(run_id, str) or len(run_id) > 100:
        raise ValidationError({"run_id": ["At most 100 characters."]})
    return str(version)


def _locked_models(keys: set[tuple[str, str]]) -> dict[tuple[str, str], RegisteredModel]:
    """The models of these (namespace, name) that exist, locked, in one query."""
    if not keys:
        return {}
    cond = Q()
    for namespace, name in keys:
        cond |= Q(namespace=namespace, name=name)
    rows = RegisteredModel.objects.select_for_update().filter(cond).order_by("pk")
    return {(m.namespace, m.name): m for m in rows}


def _check_model(model: RegisteredModel, version: str, *, actor, principal, taken: set) -> None:
    """Refuse another owner's model (403) and a version it already has (409)."""
    authenticated = actor is not None and actor.is_authenticated
    if (
        model.owner_id
        and authenticated
        and not (actor.is_staff or is_model_owner(actor, model) or is_model_owner(principal, model))
    ):
        raise NotAllowed(
            f"Only the owner of model {model.namespace}/{model.name} or staff may register versions of it."
        )
    if (model.pk, version) in taken:
        raise Conflict(
            f"Model {model.namespace}/{model.name} already has a version {version}.",
            {"version": ["already registered"]},
        )


def _taken(models, versions) -> set[tuple[int, str]]:
    """(model id, version) of those of these versions that these models have already."""
    ids = [m.pk for m in models]
    if not ids:
        return set()
    rows = ModelVersion.objects.filter(model_id__in=ids, version__in=set(versions))
    return set(rows.values_list("model_id", "version"))


class _Clearances:
    """The clearance at registration of each version of one batch: one catch-up of the lineage graph
    for the batch, one answer per principal and set of datasets (versions trained on the same data
    for the same principal share it, as they would share the graph)."""

    def __init__(self) -> None:
        self.behind: int | None = None
        self.answers: dict[tuple, dict[str, Any] | ValidationError] = {}

    def at_registration(self, principal, inputs: list[Input], unknown: list[dict]) -> dict[str, Any]:
        """The principal's clearance for training on the inputs, on a lineage graph that holds every
        event posted before now (waiting up to CLEARANCE_LINEAGE_WAIT_SECONDS, as the clearance
        endpoint).

        Unknown data (an input that names no catalogued dataset, e.g. an MLflow run's) refuses it:
        nobody can say what it was or whether it was allowed."""
        if inputs:
            urns = list(dict.fromkeys(i.dataset.urn for i in inputs))
            key = (getattr(principal, "pk", None), tuple(urns))
            if key not in self.answers:
                if self.behind is None:
                    self.behind = catch_up(seconds=settings.CLEARANCE_LINEAGE_WAIT_SECONDS)
                try:
                    self.answers[key] = clearance.evaluate(
                        principal=principal, urns=urns, purpose=Purpose.TRAINING, lineage_behind=self.behind
                    )
                except ValidationError as exc:
                    self.answers[key] = exc
            found = self.answers[key]
            if isinstance(found, ValidationError):
                raise found
            answer = copy.deepcopy(found)
        else:
            username = principal.get_username() if principal is not None else None
            answer = {"allowed": True, "principal": username, "purpose": Purpose.TRAINING, "datasets": []}
        if unknown:
            answer["allowed"] = False
            answer["unknown_data"] = [
                {"name": u.get("name", ""), "reason": f"Unknown data: {u.get('reason', '')}"} for u in unknown
            ]
        return answer


def _audit_entry(mv: ModelVersion, inputs: list[Input], actor, via: str, answer: dict) -> audit.Entry:
    return audit.Entry(
        actor=actor,
        via=via,
        action="model.registered",
        object_type="model",
        object_id=mv.pk,
        object_urns=[i.dataset.urn for i in inputs],
        before=None,
        after={
            "model": f"{mv.model.namespace}/{mv.model.name}",
            "version": mv.version,
            "run_id": mv.run_id,
            "trained_on": [
                f"{i.dataset.urn}@{i.version.number}" if i.version else i.dataset.urn for i in inputs
            ],
            "cleared": answer["allowed"],
            "clearance": answer,
        },
    )


@transaction.atomic
def register_model_version(
    *,
    actor,
    namespace: str,
    name: str,
    version: str,
    trained_on: list[str],
    run_id: str = "",
    via: str = Via.API,
    record_lineage: bool = True,
    principal=None,
    unknown: list[dict] | None = None,
) -> ModelVersion:
    """Register a trained model version, its training data, and the clearance answer at this moment.

    The clearance is computed for the principal (default: the actor) and purpose ``training``; a
    model trained without clearance is registered all the same, and shows as not cleared everywhere.
    ``unknown``: inputs that name no catalogued data ({"name", "reason"}); they refuse clearance, and
    with them ``trained_on`` may be empty.
    """
    registration = Registration(namespace, name, version, trained_on, run_id, principal, unknown)
    [outcome] = register_model_versions([registration], actor=actor, via=via, record_lineage=record_lineage)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass
class _Planned:
    """A registration that passed every check, before it is written."""

    model: RegisteredModel
    version: str
    registration: Registration
    inputs: list[Input]
    answer: dict[str, Any]
    card: tuple[str, str]  # intended use and caveats, carried over from the model's previous version


@transaction.atomic
def register_model_versions(
    registrations: list[Registration],
    *,
    actor,
    via: str = Via.API,
    record_lineage: bool = True,
    owner_first: bool = False,
) -> list[ModelVersion | ValidationError | Conflict | NotAllowed]:
    """Register model versions as ``register_model_version`` does each, in this order → for each, its
    ModelVersion, or the error that refused it (ValidationError, NotAllowed, Conflict: nothing of
    it is stored). The versions that pass are written together: one query per kind of row, their
    training runs recorded in lineage at once, one audit append and one outbox message.

    ``owner_first``: the clearance recorded is the model's owner's when the model has one, else the
    registration's principal (a sync that finds versions made by others, e.g. in MLflow).
    A database error raises, and nothing of the batch is stored."""
    authenticated = actor is not None and actor.is_authenticated
    outcomes: list[Any] = [None] * len(registrations)
    versions: dict[int, str] = {}
    for k, r in enumerate(registrations):
        try:
            versions[k] = _check_fields(r.namespace, r.name, r.version, r.run_id)
        except ValidationError as exc:
            outcomes[k] = exc
    wanted = [(registrations[k].trained_on, bool(registrations[k].unknown)) for k in versions]
    inputs_of = dict(zip(versions, _training_inputs_each(wanted), strict=True))
    models = _locked_models({(registrations[k].namespace, registrations[k].name) for k in versions})
    taken = _taken(models.values(), versions.values())
    cards: dict[int, tuple[str, str]] = {}
    clearances = _Clearances()

    def principal_for(r: Registration, model: RegisteredModel | None, version: str):
        principal = r.principal
        if model is not None:
            if owner_first and model.owner_id:
                principal = model.owner
            _check_model(model, version, actor=actor, principal=principal, taken=taken)
        return actor if principal is None and authenticated else principal

    planned: dict[int, _Planned] = {}
    for k, version in versions.items():
        r = registrations[k]
        try:
            inputs = inputs_of[k]
            if isinstance(inputs, ValidationError):
                raise inputs
            model = models.get((r.namespace, r.name))
            principal = principal_for(r, model, version)
            answer = clearances.at_registration(principal, inputs, list(r.unknown or []))
            if model is None:
                # A pipeline registering for a person: the person owns the model (and edits its card).
                first_owner = r.principal if r.principal is not None else (actor if authenticated else None)
                model, created = RegisteredModel.objects.select_for_update().get_or_create(
                    namespace=r.namespace, name=r.name, defaults={"owner": first_owner}
                )
                models[(r.namespace, r.name)] = model
                if created:
                    cards[model.pk] = ("", "")
                else:  # made by someone else since this batch looked: checked as any other
                    taken |= _taken([model], [version])
                    principal = principal_for(r, model, version)
                    answer = clearances.at_registration(principal, inputs, list(r.unknown or []))
        except (ValidationError, Conflict, NotAllowed) as exc:
            outcomes[k] = exc
            continue
        if model.pk not in cards:
            previous = model.versions.order_by("-created_at", "-id").values_list("intended_use", "caveats")
            cards[model.pk] = previous.first() or ("", "")
        planned[k] = _Planned(model, version, r, inputs, answer, cards[model.pk])
        taken.add((model.pk, version))
    for k, mv in _write(planned, actor=actor, via=via, record_lineage=record_lineage).items():
        outcomes[k] = mv
    return outcomes


def _write(planned: dict[int, _Planned], *, actor, via: str, record_lineage: bool) -> dict[int, ModelVersion]:
    """Store the planned versions: their training runs in lineage, the versions, their inputs, their
    audit records and events → {index: ModelVersion}."""
    if not planned:
        return {}
    authenticated = actor is not None and actor.is_authenticated
    nodes: dict[int, str] = {}
    if record_lineage:
        trained = {k: p for k, p in planned.items() if p.inputs}
        runs = [
            TrainingRun(
                model_namespace=p.model.namespace,
                model_name=p.model.name,
                model_version=p.version,
                inputs=[(i.dataset, i.version) for i in p.inputs],
                run_id=p.registration.run_id or None,
            )
            for p in trained.values()
        ]
        nodes = dict(zip(trained, record_training_runs(runs, actor=actor), strict=True))
    mvs = {
        k: ModelVersion(
            model=p.model,
            version=p.version,
            run_id=p.registration.run_id,
            lineage_node=nodes.get(k) or "",
            registered_by=actor if authenticated else None,
            via=via,
            cleared=p.answer["allowed"],
            clearance=p.answer,
            intended_use=p.card[0],
            caveats=p.card[1],
        )
        for k, p in planned.items()
    }
    ModelVersion.objects.bulk_create(mvs.values())
    inputs = {
        k: [
            TrainingInput(
                model_version=mvs[k],
                dataset=i.dataset,
                dataset_version=i.version,
                dataset_urn=i.dataset.urn,
                version_number=i.version.number if i.version else None,
            )
            for i in p.inputs
        ]
        for k, p in planned.items()
    }
    TrainingInput.objects.bulk_create([row for rows in inputs.values() for row in rows])
    audit.record_many([_audit_entry(mvs[k], p.inputs, actor, via, p.answer) for k, p in planned.items()])
    events.record_many(
        [
            events.Occurrence(
                "model.registered",
                events.model_registered_data(mvs[k], inputs[k]),
                datasets=[i.dataset for i in p.inputs],
                namespaces=[p.model.namespace],
                subject=f"model:{mvs[k].pk}",
            )
            for k, p in planned.items()
        ]
    )
    return mvs


def is_model_owner(user, model: RegisteredModel) -> bool:
    """The model's owner, or a member of its owner group."""
    if user is None or not user.is_authenticated:
        return False
    if model.owner_id is not None and model.owner_id == user.pk:
        return True
    return model.owner_group_id is not None and model.owner_group_id in group_ids(user)


def is_model_steward(user, model: RegisteredModel) -> bool:
    """A member of one of the model's steward groups."""
    mine = group_ids(user)
    return bool(mine) and model.pk is not None and model.steward_groups.filter(pk__in=mine).exists()


def model_acting_groups(user, model: RegisteredModel) -> dict[str, str]:
    """{role: group name} of the roles the user holds on the model only through a group (the audit's)."""
    out: dict[str, str] = {}
    mine = group_ids(user)
    if not mine or model.owner_id == getattr(user, "pk", None):
        return out
    if model.owner_group_id in mine:
        out["owner"] = model.owner_group.name
    elif group := model.steward_groups.filter(pk__in=mine).order_by("name").first():
        out["steward"] = group.name
    return out


def can_edit_model(actor, mv: ModelVersion) -> bool:
    """The model's owner (a member of its owner group included), a member of a steward group, or staff
    edit its card."""
    if actor is None or not actor.is_authenticated:
        return False
    return actor.is_staff or is_model_owner(actor, mv.model) or is_model_steward(actor, mv.model)


def _model_teams(actor, model: RegisteredModel, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply owner_group / steward_groups of ``changes`` to the model (only its owner or staff may
    name its teams) → the audit's before and after of what changed."""
    wanted = {k: changes.pop(k) for k in ("owner_group", "steward_groups") if k in changes}
    if not wanted:
        return {}
    if not (actor.is_staff or is_model_owner(actor, model)):
        raise NotAllowed("Only the model's owner or staff may name its owner group and steward groups.")
    before = _teams_of(model)
    if "owner_group" in wanted:
        model.owner_group = owner_group_named(actor, wanted["owner_group"], current_id=model.owner_group_id)
        model.save(update_fields=["owner_group"])
    if "steward_groups" in wanted:
        model.steward_groups.set(groups_named("steward_groups", wanted["steward_groups"] or []))
    after = _teams_of(model)
    return {"before": before, "after": after} if after != before else {}


def _teams_of(model: RegisteredModel) -> dict[str, Any]:
    return {
        "owner_group": model.owner_group.name if model.owner_group_id else None,
        "steward_groups": sorted(model.steward_groups.values_list("name", flat=True)),
    }


@transaction.atomic
def update_model_version(
    *, actor, model_version: ModelVersion, via: str = Via.API, **changes: Any
) -> ModelVersion:
    """The model's owner, steward groups (or staff) edit the card's intended use and caveats
    (Markdown); its owner (or staff) names the model's owner group and steward groups."""
    if not can_edit_model(actor, model_version):
        raise NotAllowed("Only the model's owner, its steward groups or staff may edit its card.")
    mv = ModelVersion.objects.select_for_update().select_related("model").get(pk=model_version.pk)
    teams = _model_teams(actor, mv.model, changes)
    if teams:
        audit.record(
            actor=actor,
            via=via,
            action="model.teams_changed",
            object_type="model",
            object_id=mv.pk,
            object_urns=[],
            before=teams["before"],
            after={**teams["after"], **_as_group(actor, mv.model)},
        )
    before = {"intended_use": mv.intended_use, "caveats": mv.caveats}
    for key, value in changes.items():
        if key not in ("intended_use", "caveats"):
            raise ValidationError({key: ["This field cannot be set."]})
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > MAX_CARD_TEXT:
            raise ValidationError({key: [f"Markdown text of at most {MAX_CARD_TEXT} characters."]})
        setattr(mv, key, value)
    mv.save()
    after = {"intended_use": mv.intended_use, "caveats": mv.caveats}
    if after != before:
        audit.record(
            actor=actor,
            via=via,
            action="model.card_edited",
            object_type="model",
            object_id=mv.pk,
            object_urns=list(mv.inputs.values_list("dataset_urn", flat=True)),
            before=before,
            after={**after, **_as_group(actor, mv.model)},
        )
    return mv


def _as_group(actor, model: RegisteredModel) -> dict[str, Any]:
    through = model_acting_groups(actor, model)
    return {"as_group": through} if through else {}


# ---------------------------------------------------------------------------------------------
# Models found in OpenLineage events


def _lineage_model_owner(namespace: str, name: str, actor):
    """Who owns a model first seen in an OpenLineage event: the first known user named by the
    model's ownership facet (the producer's statement of who owns it), else the user who posted
    the event, else nobody (then only staff edit its card)."""
    node = node_by_key(f"model:{namespace}:{name}")
    names = [n for n in (getattr(node, "owners", None) or []) if isinstance(n, str)]
    if names:
        users = {
            u.get_username(): u for u in get_user_model().objects.filter(username__in=names, is_active=True)
        }
        named = next((users[n] for n in names if n in users), None)
        if named is not None:
            return named
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor
    return None


def register_model_from_lineage(
    *,
    namespace: str,
    name: str,
    version: str | None,
    run_id: str,
    inputs: Iterable[tuple[int, int | None]],
    actor=None,
) -> ModelVersion | None:
    """A MODEL output found in an OpenLineage event: register it (lineage already holds the node)."""
    pairs = list(inputs)
    datasets = datasets_by_ids(pk for pk, _ in pairs)
    refs = [f"{datasets[pk].urn}@{num}" if num else datasets[pk].urn for pk, num in pairs if pk in datasets]
    version = str(version or run_id or "1")[:100]
    model = RegisteredModel.objects.filter(namespace=namespace, name=name).first()
    if model is not None and model.versions.filter(version=version).exists():
        return None  # the same run reported twice (START and COMPLETE): registered once
    if not refs:
        return None
    # The clearance recorded is the model owner's: the existing owner, or for a new model the one
    # _lineage_model_owner finds (who becomes its owner and may edit its card).
    owner = model.owner if model is not None and model.owner_id else None
    if model is None:
        owner = _lineage_model_owner(namespace, name, actor)
    mv = register_model_version(
        actor=None,
        principal=owner,
        namespace=namespace,
        name=name,
        version=version,
        trained_on=refs,
        run_id=run_id[:100] if run_id else "",
        via=Via.LINEAGE,
        record_lineage=False,
    )
    mv.lineage_node = f"model:{namespace}:{name}"
    mv.save(update_fields=["lineage_node"])
    return mv

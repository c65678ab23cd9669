"""The release gate: may a model version be deployed, and why (not)?

A version is cleared for deployment when
  * it was cleared for training when it was registered, and its training data is still cleared for
    the person it was trained for (governance.clearance, purpose ``training``: an approval revoked
    or expired since, a dataset made stricter, data deleted from the catalog all refuse);
  * its model's ModelPolicy holds on the latest succeeded evaluation of each evaluation dataset:
    the equalized-odds difference of every sensitive column under the cap, the overall accuracy
    over the floor, and, when required, at least one evaluation on data it was not trained on.

Every refusal names the evaluation, the column, the groups and the metric it rests on. Evaluations
are written by governance.evaluations (Fairlearn); the gate only reads them. Setting a model's
policy is the one write here (``set_model_policy``): its owner or staff, audited.

Models are named ``model:<namespace>:<name>`` (RegisteredModel.__str__), a version by ``@<version>``
at the end; without it, the latest version registered.
"""

import math
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from catalog.urns import candidate_splits
from config.errors import NotAllowed
from governance import audit, clearance, registry, selectors
from governance.models import ModelEvaluation, ModelPolicy, ModelVersion, Purpose, RegisteredModel, Via

DEPLOYMENT = "deployment"
MODEL_PREFIX = "model:"
MAX_MODELS_PER_QUERY = 20
# namespace (255) + name (255) + version (100) and the separators, with room to spare.
MAX_URN_LENGTH = 700
FIELDS = ("max_equalized_odds_difference", "min_accuracy", "require_independent_evaluation")
# A comma followed by the next URN's prefix; any other comma belongs to a name.
_LIST_SEPARATOR = re.compile(r",(?=\s*model:)")
_URN_HELP = "expected model:<namespace>:<name>, optionally ending @<version>"


# ---------------------------------------------------------------------------------------------
# The policy: reading it, setting it


def _checked(key: str, value: Any) -> Any:
    """A policy field's new value, or a ValidationError naming the field."""
    if key in ("max_equalized_odds_difference", "min_accuracy"):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            raise ValidationError({key: ["A number between 0 and 1, or null."]})
        return None if value is None else float(value)
    if key == "require_independent_evaluation":
        if not isinstance(value, bool):
            raise ValidationError({key: ["true or false."]})
        return value
    raise ValidationError({key: ["This field cannot be set."]})


def policy_values(policy: ModelPolicy | None) -> dict[str, Any]:
    """The policy's conditions as plain values (every one off while nobody has set a policy)."""
    if policy is None:
        return {
            "max_equalized_odds_difference": None,
            "min_accuracy": None,
            "require_independent_evaluation": False,
        }
    return {f: getattr(policy, f) for f in FIELDS}


def has_conditions(values: dict[str, Any]) -> bool:
    return any(values[f] not in (None, False) for f in FIELDS)


@transaction.atomic
def set_model_policy(
    *, actor, model_version: ModelVersion, via: str = Via.API, **changes: Any
) -> ModelPolicy:
    """The model's owner (or staff) sets the release policy of the model ``model_version`` belongs to
    (it binds every version). Fields left out keep their value; each change is audited."""
    if not registry.can_edit_model(actor, model_version):
        raise NotAllowed("Only the model's owner or staff may set its release policy.")
    checked = {key: _checked(key, value) for key, value in changes.items()}
    model = RegisteredModel.objects.select_for_update().get(pk=model_version.model_id)
    policy, _ = ModelPolicy.objects.get_or_create(model=model)
    before = policy_values(policy)
    for key, value in checked.items():
        setattr(policy, key, value)
    policy.updated_by = actor
    policy.save()
    after = policy_values(policy)
    if after != before:
        audit.record(
            actor=actor,
            via=via,
            action="model_policy.changed",
            object_type="model",
            object_id=model_version.pk,
            object_urns=[str(model)],
            before=before,
            after=after,
        )
    return policy


# ---------------------------------------------------------------------------------------------
# Model URNs


def parse_model_list(raw: str | list[str] | None) -> list[str]:
    """The ``models`` parameter as URNs, deduplicated, order kept (repeated, or one comma-separated
    list split only at commas that start another ``model:`` URN)."""
    if raw is None:
        raise ValidationError({"models": [f"Give one or more model URNs ({_URN_HELP})."]})
    parts = raw if isinstance(raw, list) else [raw]
    if len(parts) > 1:
        urns = [u.strip() for u in parts if u.strip()]
    else:
        urns = [u.strip() for u in _LIST_SEPARATOR.split(parts[0]) if u.strip()]
    urns = list(dict.fromkeys(urns))
    if not urns:
        raise ValidationError({"models": [f"Give one or more model URNs ({_URN_HELP})."]})
    if len(urns) > MAX_MODELS_PER_QUERY:
        raise ValidationError(
            {"models": [f"At most {MAX_MODELS_PER_QUERY} models per question (got {len(urns)})."]}
        )
    return urns


def _readings(urn: str) -> list[tuple[str, str, str | None]]:
    """Every (namespace, name, version or None) the URN could mean: ``@<version>`` read as a version
    first, then as part of the name; the namespace split as dataset URNs split (catalog.urns)."""
    if (
        not isinstance(urn, str)
        or not urn.startswith(MODEL_PREFIX)
        or len(urn) > MAX_URN_LENGTH
        or any(ord(ch) < 32 for ch in urn)  # PostgreSQL refuses NUL in text: never send it
    ):
        return []
    body = urn[len(MODEL_PREFIX) :]
    heads: list[tuple[str, str | None]] = []
    if "@" in body:
        head, _, version = body.rpartition("@")
        if head and version:
            heads.append((head, version))
    heads.append((body, None))
    out = []
    for head, version in heads:
        try:
            splits = candidate_splits(f"dataset:{head}")
        except ValidationError:
            continue
        out.extend((ns, name, version) for ns, name in splits if len(ns) <= 255 and len(name) <= 255)
    return out


def resolve_models(urns: list[str]) -> dict[str, ModelVersion]:
    """{urn: the model version it names} for every URN, or a ValidationError naming the malformed
    and unknown ones (a model without that version, or without any version, is unknown)."""
    readings = {urn: _readings(urn) for urn in urns}
    malformed = [u for u, r in readings.items() if not r]
    found, unknown = {}, []
    for urn, rs in readings.items():
        # One query per URN (at most MAX_MODELS_PER_QUERY): its readings stay well under the
        # databases' limits on parameters, however many colons it holds.
        wanted = Q(pk__in=[])
        for ns, name, _ in rs:
            wanted |= Q(namespace=ns, name=name)
        models = {(m.namespace, m.name): m for m in RegisteredModel.objects.filter(wanted)} if rs else {}
        mv = next((v for v in (_version(models.get((ns, n)), ver) for ns, n, ver in rs) if v), None)
        if mv is not None:
            found[urn] = mv
        elif rs:
            unknown.append(urn)
    errors = []
    if malformed:
        errors.append(f"Not a model URN ({_URN_HELP}): {', '.join(malformed)}.")
    if unknown:
        errors.append(f"Unknown model or model version: {', '.join(unknown)}.")
    if errors:
        raise ValidationError({"models": errors})
    return found


def _version(model: RegisteredModel | None, version: str | None) -> ModelVersion | None:
    if model is None:
        return None
    versions = ModelVersion.objects.select_related("model").filter(model=model)
    if version is not None:
        return versions.filter(version=version).first()
    return versions.order_by("-created_at", "-id").first()


def model_urn(mv: ModelVersion) -> str:
    return f"{mv.model}@{mv.version}"


# ---------------------------------------------------------------------------------------------
# The answer


def evaluate_deployment(*, principal, urns: list[str], lineage_behind: int = 0) -> dict[str, Any]:
    """The deployment clearance of the models the URNs name, shaped as ``GET /api/v1/clearance``:
    ``datasets`` holds each version's training data (with the ``model`` it belongs to) and
    ``models`` one entry per version with its reasons. Unknown or malformed URNs: ValidationError."""
    return deployment_answer(
        principal=principal, versions=resolve_models(urns), lineage_behind=lineage_behind
    )


def deployment_answer(
    *, principal, versions: dict[str, ModelVersion], lineage_behind: int = 0
) -> dict[str, Any]:
    """The deployment clearance of these {urn: model version}, as evaluate_deployment gives it."""
    models, datasets = [], []
    for urn, mv in versions.items():
        entry, data = release_check(model_version=mv, urn=urn, lineage_behind=lineage_behind)
        models.append(entry)
        datasets.extend(data)
    return {
        "allowed": all(m["allowed"] for m in models),
        "principal": principal.get_username() if principal is not None else None,
        "purpose": DEPLOYMENT,
        "datasets": datasets,
        "models": models,
    }


def release_check(
    *, model_version: ModelVersion, urn: str | None = None, lineage_behind: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One version's release check → (its entry under ``models``, its training data's entries)."""
    mv = model_version
    trainer = _trainer(mv)
    data_ok, data, reasons = _training_data(mv, trainer, lineage_behind)
    policy = selectors.model_policy_of(mv)
    values = policy_values(policy)
    evaluations = selectors.latest_evaluations(mv)
    policy_ok, why = policy_reasons(values, evaluations, mv)
    entry = {
        "urn": urn or model_urn(mv),
        "id": mv.pk,
        "version": mv.version,
        "allowed": data_ok and policy_ok,
        "reasons": reasons + why,
        "trained_for": trainer.get_username() if trainer is not None else None,
        "policy": values if policy is not None else None,
        "evaluations": [e.pk for e in evaluations],
    }
    return entry, data


def _trainer(mv: ModelVersion):
    """The person the version was trained for: the principal its registration clearance names (a
    pipeline account registers for a person), else who registered it; None when they are gone."""
    name = (mv.clearance or {}).get("principal")
    if name:
        return get_user_model().objects.filter(username=name, is_active=True).first()
    return mv.registered_by


def _training_data(mv: ModelVersion, trainer, lineage_behind: int) -> tuple[bool, list[dict], list[str]]:
    """Is the training data cleared, then and now → (ok, the datasets' entries, the model's reasons)."""
    who = (
        trainer.get_username()
        if trainer is not None
        else "nobody (no active user is named as the one it was trained for)"
    )
    reasons: list[str] = []
    ok = True
    if not mv.cleared:
        ok = False
        reasons.append("training data: not cleared for training when the version was registered")
    inputs = list(mv.inputs.select_related("dataset"))
    for gone in (i for i in inputs if i.dataset is None):
        ok = False
        reasons.append(f"training data: {gone} was deleted from the catalog: its clearance cannot be checked")
    urns = list(dict.fromkeys(i.dataset.urn for i in inputs if i.dataset is not None))
    entries: list[dict] = []
    if urns:
        answer = clearance.evaluate(
            principal=trainer, urns=urns, purpose=Purpose.TRAINING, lineage_behind=lineage_behind
        )
        entries = [{**d, "model": model_urn(mv)} for d in answer["datasets"]]
        refused = [d["urn"] for d in answer["datasets"] if not d["allowed"]]
        if refused:
            ok = False
            reasons.append(
                f"training data: not cleared for training for {who} any more: {', '.join(refused)}"
            )
        else:
            reasons.append(f"training data: still cleared for training for {who} ({len(urns)} dataset(s))")
    return ok, entries, reasons


# ---------------------------------------------------------------------------------------------
# The policy's conditions on the evaluations


def _num(value: float) -> str:
    """Two decimals, or four when two would hide the difference from a threshold."""
    return f"{value:.2f}" if abs(value - round(value, 2)) < 1e-9 else f"{value:.4f}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _label(e: ModelEvaluation) -> str:
    return f"evaluation #{e.pk} on {e.dataset_urn}@{e.version_number}"


def policy_reasons(
    values: dict[str, Any], evaluations: list[ModelEvaluation], mv: ModelVersion
) -> tuple[bool, list[str]]:
    """Do the policy's conditions hold on these evaluations → (ok, reasons naming group and metric)."""
    if not has_conditions(values):
        return True, ["release policy: none set (only the training data is checked)"]
    reasons, ok = [], True
    if values["require_independent_evaluation"]:
        independent = [e for e in evaluations if not e.overlaps_training]
        if independent:
            reasons.append(f"independent evaluation: {_label(independent[0])}, on data it was not trained on")
        else:
            ok = False
            reasons.append(
                "the policy requires an evaluation on data the model was not trained on: "
                + (
                    "every succeeded evaluation overlaps its training data"
                    if evaluations
                    else "none has succeeded"
                )
            )
    thresholds = values["max_equalized_odds_difference"] is not None or values["min_accuracy"] is not None
    if thresholds and not evaluations:
        return False, [
            *reasons,
            "the policy sets thresholds but the version has no succeeded evaluation: "
            f"evaluate it (POST /api/v1/models/{mv.pk}/evaluations)",
        ]
    for e in evaluations if thresholds else []:
        if e.overlaps_training:
            reasons.append(f"{_label(e)}: overlaps the training data, its figures are optimistic")
        for holds, why in (*_accuracy(e, values["min_accuracy"]), *_equalized_odds(e, values)):
            ok = ok and holds
            reasons.append(f"{_label(e)}: {why}")
    return ok, reasons


def _accuracy(e: ModelEvaluation, floor: float | None) -> list[tuple[bool, str]]:
    if floor is None:
        return []
    value = (e.overall or {}).get("accuracy")
    if not _finite(value):
        return [(False, f"accuracy was not computed (the policy requires at least {_num(floor)})")]
    if value >= floor:
        return [(True, f"accuracy {_num(value)} (≥ {_num(floor)})")]
    worst = _worst_group(e, "accuracy")
    return [
        (False, f"accuracy {_num(value)} (< {_num(floor)})" + (f"; lowest group: {worst}" if worst else ""))
    ]


def _worst_group(e: ModelEvaluation, metric: str) -> str:
    lowest = None
    for column, groups in (e.by_group or {}).items():
        for group, figures in (groups or {}).items():
            v = (figures or {}).get(metric)
            if _finite(v) and (lowest is None or v < lowest[0]):
                lowest = (v, column, group)
    return f"'{lowest[1]}' = '{lowest[2]}' {_num(lowest[0])}" if lowest else ""


def _equalized_odds(e: ModelEvaluation, values: dict[str, Any]) -> list[tuple[bool, str]]:
    cap = values["max_equalized_odds_difference"]
    if cap is None:
        return []
    figures = e.equalized_odds_difference or {}
    columns = list(dict.fromkeys([*(e.sensitive_columns or []), *figures]))
    if not columns:
        return [
            (False, "no sensitive column to measure the equalized-odds difference on (the policy caps it)")
        ]
    out = []
    for column in columns:
        value = figures.get(column)
        if not _finite(value):
            out.append((False, f"equalized-odds difference on '{column}' was not computed (cap {_num(cap)})"))
        elif value <= cap:
            out.append((True, f"equalized-odds difference on '{column}' is {_num(value)} (≤ {_num(cap)})"))
        else:
            spread = _widest_gap(e.by_group.get(column) if e.by_group else None)
            out.append(
                (False, f"equalized-odds difference on '{column}' is {_num(value)} (> {_num(cap)})" + spread)
            )
    return out


def _widest_gap(groups: dict | None) -> str:
    """Which groups and which rate make the equalized-odds difference: the larger of the spreads of
    recall (true positive rate) and false positive rate across groups, as Fairlearn takes it."""
    best = None
    for metric, words in (("recall", "recall"), ("false_positive_rate", "false positive rate")):
        rates = [(f.get(metric), g) for g, f in (groups or {}).items() if _finite((f or {}).get(metric))]
        if len(rates) < 2:
            continue
        low, high = min(rates, key=lambda r: r[0]), max(rates, key=lambda r: r[0])
        if best is None or high[0] - low[0] > best[0]:
            best = (high[0] - low[0], words, low, high)
    if best is None:
        return ""
    _, words, (lv, lg), (hv, hg) = best
    return f": group '{lg}' {words} {_num(lv)} vs '{hg}' {_num(hv)}"

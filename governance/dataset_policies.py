"""Writes of a dataset's governance policy: setting it, and checking its conditions after a profile.

What a policy means (which change relaxes it, when its conditions hold) is policies.py's rule.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog import outbox
from catalog.permissions import can_change_dataset, is_owner
from catalog.selectors import answerable_people
from config.errors import NotAllowed
from governance import audit, policies
from governance.models import DatasetPolicy, RequestStatus, Via
from governance.tasks import send_email

FIELDS = ("require_quality_pass", "max_parity_difference", "max_approval_days")


def _checked(key: str, value: Any) -> Any:
    """A policy field's new value, or a ValidationError naming the field."""
    if key == "require_quality_pass":
        if not isinstance(value, bool):
            raise ValidationError({key: ["true or false."]})
        return value
    if key == "max_parity_difference":
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
        ):
            raise ValidationError({key: ["A number between 0 and 1, or null."]})
        return None if value is None else float(value)
    if key == "max_approval_days":
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650
        ):
            raise ValidationError({key: ["A whole number of days between 1 and 3650, or null."]})
        return value
    raise ValidationError({key: ["This field cannot be set."]})


@transaction.atomic
def set_dataset_policy(*, actor, dataset, via: str = Via.API, **changes: Any) -> DatasetPolicy:
    """The owner, a steward or staff tightens a dataset's governance policy; only the owner or staff
    relax it again (as with sensitivity: a steward alone must not undo the owner's conditions)."""
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may change its policy.")
    policy, _ = DatasetPolicy.objects.select_for_update().get_or_create(dataset=dataset)
    before = {f: getattr(policy, f) for f in FIELDS}
    for key, value in changes.items():
        setattr(policy, key, _checked(key, value))
    relaxed = policies.relaxed(before, {f: getattr(policy, f) for f in FIELDS})
    if relaxed and not (actor.is_staff or is_owner(actor, dataset)):
        raise NotAllowed(
            f"Only the dataset's owner or staff may relax its policy ({', '.join(relaxed)}); stewards may tighten it."
        )
    policy.updated_by = actor
    policy.save()
    after = {f: getattr(policy, f) for f in FIELDS}
    if after != before:
        audit.record(
            actor=actor,
            via=via,
            action="policy.changed",
            object_type="dataset",
            object_id=dataset.pk,
            object_urns=[dataset.urn],
            before=before,
            after=after,
        )
    return policy


@transaction.atomic
def check_policy_conditions(*, dataset, version_number: int) -> bool | None:
    """Check a dataset's quality/bias conditions once a version is profiled; None when it has none.

    When they fail, an audit record ``policy.condition_failed`` is written and the owner, the
    stewards and the principals holding a live approval for the dataset are e-mailed (after commit).
    """
    row = DatasetPolicy.objects.filter(dataset=dataset).first()
    if row is None:
        return None
    policy = policies.Policy(row.require_quality_pass, row.max_parity_difference, row.max_approval_days)
    if not policy.has_conditions:
        return None
    ok, reasons = policies.conditions_hold(dataset, policy)
    if ok:
        return True
    audit.record(
        actor=None,
        via=Via.SYSTEM,
        action="policy.condition_failed",
        object_type="dataset",
        object_id=dataset.pk,
        object_urns=[dataset.urn],
        before=None,
        after={"version": version_number, "reasons": reasons},
    )
    to = _people_to_tell(dataset)
    if to:
        body = "\n".join(
            [
                f"Version {version_number} of {dataset.urn} was profiled and no longer meets the dataset's policy:",
                *[f"  - {r}" for r in reasons],
                "",
                "Clearance for this dataset (and for data derived from it) is refused until a version meets it.",
            ]
        )
        subject = f"[Gouvernail] {dataset.urn}: policy condition failed on version {version_number}"
        outbox.enqueue(send_email, [subject, body, to])  # sent once the audit record commits
    return False


def _people_to_tell(dataset) -> list[str]:
    """E-mail addresses of the owner, the stewards (the members of its owner and steward groups
    included) and whoever holds a live approval for the dataset."""
    users = get_user_model().objects
    holders = users.filter(
        access_requests__datasets=dataset, access_requests__status=RequestStatus.APPROVED
    ).exclude(access_requests__expires_at__lte=timezone.now())
    owners, stewards = answerable_people([dataset])[dataset.pk]
    answerable = users.filter(pk__in=owners | stewards)
    return sorted({p.email for p in [*answerable, *holders] if p.email})

"""Governance: dataset policies, access requests and their approvals, the audit chain, models, and the
events people subscribe to (their subscriptions and deliveries).

Everything that changes here goes through governance's services (access_requests, dataset_policies,
registry, audit, events, subscriptions, deliveries); these classes only hold rows.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Purpose(models.TextChoices):
    TRAINING = "training", "Training"
    EVALUATION = "evaluation", "Evaluation"
    ANALYSIS = "analysis", "Analysis"


class Via(models.TextChoices):
    """Through which interface a change was made (recorded in the audit chain)."""

    API = "api", "API"
    UI = "ui", "Web UI"
    LINEAGE = "lineage", "OpenLineage"
    ADMIN = "admin", "Admin"
    SYSTEM = "system", "System (periodic task)"
    MLFLOW = "mlflow", "MLflow sync"


class DatasetPolicy(models.Model):
    """How a dataset's owner or stewards tightened the defaults that its sensitivity implies."""

    dataset = models.OneToOneField(
        "catalog.Dataset", on_delete=models.CASCADE, related_name="governance_policy"
    )
    require_quality_pass = models.BooleanField(
        default=False, help_text="Clearance needs the latest profiled version's quality suite to pass."
    )
    max_parity_difference = models.FloatField(
        null=True, blank=True, help_text="Cap on the demographic parity difference of every sensitive column."
    )
    max_approval_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="An approval for this dataset lasts at most this many days."
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "dataset policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_parity_difference__isnull=True)
                | models.Q(max_parity_difference__gte=0, max_parity_difference__lte=1),
                name="policy_parity_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"policy of dataset {self.dataset_id}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class AccessRequest(models.Model):
    """A principal asks to use datasets for a purpose. Its status only moves through the services."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    datasets = models.ManyToManyField("catalog.Dataset", related_name="access_requests")
    # The URNs as asked, kept so that the history still reads after a dataset is renamed or deleted.
    dataset_urns = models.JSONField(default=list)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    model_name = models.CharField(max_length=255, blank=True)
    justification = models.TextField(help_text="Markdown; sanitised when shown.")
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requester", "status", "purpose"], name="accessreq_lookup_idx")]
        permissions = [
            # Given to pipeline service accounts: they ask whether the human they run for is cleared.
            ("check_clearance_for_others", "May ask for the clearance of another principal"),
        ]

    def __str__(self) -> str:
        return f"access request #{self.pk} ({self.status})"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Approval(models.Model):
    """One person's decision on a request, with the roles they held on each dataset at that moment."""

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    # {dataset id (str): ["owner", "steward"]}: what made this person eligible, per dataset.
    roles = models.JSONField(default=dict)
    comment = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # The same person counts once: two approvals of a restricted dataset need two people.
            models.UniqueConstraint(fields=["request", "approver"], name="approval_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} on request {self.request_id}"


class AccessRequestEvent(models.Model):
    """The history of a request: every transition and every approval, in order."""

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    comment = models.TextField(blank=True)
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.API)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on request {self.request_id}"


class AppendOnlyError(Exception):
    """An audit record was about to be changed or deleted."""


class AuditQuerySet(models.QuerySet):
    # Bulk writes bypass Model.save/delete, so the queryset refuses them too.
    def update(self, **kwargs):
        raise AppendOnlyError("Audit records are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit records are append-only: they cannot be deleted.")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("Audit records are append-only: they cannot be updated.")


class AuditRecord(models.Model):
    """Who changed what, when, through which interface, before and after; hash-chained.

    ``hash`` = sha256(prev_hash + canonical JSON of the other fields): changing any record, or
    removing one, breaks the chain from there on (``manage.py verify_audit`` finds the first).
    No foreign keys on purpose: deleting a user or a dataset must never touch this table.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text="Username at the time.")
    via = models.CharField(max_length=10, choices=Via.choices)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    object_urns = models.JSONField(default=list)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit records are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit records are append-only: they cannot be deleted.")


class AuditSubject(models.Model):
    """An index of what a record concerns: ``?object=`` finds a request's events under each dataset."""

    record = models.ForeignKey(AuditRecord, on_delete=models.DO_NOTHING, related_name="subjects")
    key = models.CharField(max_length=600, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["record", "key"], name="audit_subject_unique")]

    def __str__(self) -> str:
        return self.key

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit records are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit records are append-only: they cannot be deleted.")


class RegisteredModel(models.Model):
    """A trained model, named as in OpenLineage (namespace + name); it has versions."""

    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="models"
    )
    owner_group = models.ForeignKey(
        "auth.Group", on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_models"
    )
    steward_groups = models.ManyToManyField("auth.Group", related_name="stewarded_models", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="model_namespace_name_unique")
        ]

    def __str__(self) -> str:
        return f"model:{self.namespace}:{self.name}"


class ModelVersion(models.Model):
    """One trained version of a model: what it was trained on, by which run, and whether it was cleared."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=100)
    run_id = models.CharField(max_length=100, blank=True)
    lineage_node = models.CharField(max_length=600, blank=True)
    intended_use = models.TextField(blank=True, help_text="Markdown, edited by the model's owner.")
    caveats = models.TextField(blank=True, help_text="Markdown, edited by the model's owner.")
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.API)
    # The clearance answer for the registering principal at registration, as /clearance gave it.
    cleared = models.BooleanField(default=False)
    clearance = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")]

    def __str__(self) -> str:
        return f"{self.model}@{self.version}"


class ModelPolicy(models.Model):
    """What a model's owner (or staff) requires before any version of it is released: a cap on the
    equalized-odds difference of every sensitive column, a floor on accuracy, an evaluation on data
    the version was not trained on. governance.release checks it; null or false: no condition."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.CASCADE, related_name="policy")
    max_equalized_odds_difference = models.FloatField(
        null=True, blank=True, help_text="Cap on the equalized-odds difference of every sensitive column."
    )
    min_accuracy = models.FloatField(null=True, blank=True, help_text="Floor on the overall accuracy.")
    require_independent_evaluation = models.BooleanField(
        default=False, help_text="An evaluation on data the version was not trained on is required."
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "model policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_equalized_odds_difference__isnull=True)
                | models.Q(max_equalized_odds_difference__gte=0, max_equalized_odds_difference__lte=1),
                name="model_policy_eod_between_0_and_1",
            ),
            models.CheckConstraint(
                condition=models.Q(min_accuracy__isnull=True)
                | models.Q(min_accuracy__gte=0, min_accuracy__lte=1),
                name="model_policy_accuracy_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"policy of {self.model}"


class EvaluationStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ModelEvaluation(models.Model):
    """How a model version behaves on a catalogued evaluation dataset version: Fairlearn's figures
    overall and per group of each sensitive column (governance.evaluations computes them)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    dataset_version = models.ForeignKey(
        "catalog.DatasetVersion", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    dataset_urn = models.CharField(max_length=600)
    version_number = models.PositiveIntegerField()
    label_column = models.CharField(max_length=255)
    prediction_column = models.CharField(max_length=255)
    score_column = models.CharField(max_length=255, blank=True)
    positive_label = models.JSONField(null=True, blank=True)
    # The sensitive columns the figures are grouped by (the dataset's, when the evaluation ran).
    sensitive_columns = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED
    )
    error = models.TextField(blank=True)
    # {metric: value}: count, accuracy, precision, recall, false_positive_rate, false_negative_rate,
    # selection_rate, roc_auc (when scores are given).
    overall = models.JSONField(default=dict, blank=True)
    # {column: {group: {metric: value}}}
    by_group = models.JSONField(default=dict, blank=True)
    equalized_odds_difference = models.JSONField(default=dict, blank=True)
    demographic_parity_difference = models.JSONField(default=dict, blank=True)
    # Stated caveats, e.g. the evaluation data is (part of) the training data.
    warnings = models.JSONField(default=list, blank=True)
    # True when the evaluation dataset version is one the model version was trained on.
    overlaps_training = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.model_version} on {self.dataset_urn}@{self.version_number}"


class TrainingInput(models.Model):
    """A dataset (version) a model version was trained on. URN and number survive the dataset's deletion."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="inputs")
    dataset = models.ForeignKey("catalog.Dataset", on_delete=models.SET_NULL, null=True, related_name="+")
    dataset_version = models.ForeignKey(
        "catalog.DatasetVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dataset_urn = models.CharField(max_length=600)
    version_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        suffix = f"@{self.version_number}" if self.version_number else ""
        return f"{self.dataset_urn}{suffix}"


class ClearanceGeneration(models.Model):
    """One row: the generation of everything cached clearance answers rest on (clearance_cache).

    In the database, not in the cache that holds the answers: a change made while Redis was out of
    reach still moves it, so an answer Redis kept through the outage can never be served again.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"clearance generation {self.value}"


# ---------------------------------------------------------------------------------------------
# Events, subscriptions, deliveries (governance/events.py is the catalogue; docs/events.md)


class Event(models.Model):
    """Something that happened which people may subscribe to: one name of the catalogue
    (governance/events.py), its data as subscribers receive it, and what decides who may see it.

    Written in the transaction of the change it reports (or, for another app's change, by the
    receiver of the signal sent once that change committed), with an outbox message that has the
    worker fan it out: one Delivery per matching subscription and channel, ``dispatched_at`` set in
    the same transaction, so that an event is fanned out once.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)
    # What a subscription may be narrowed to, and who may see it (governance/events.py, "scope").
    dataset_ids = models.JSONField(default=list, blank=True)
    namespaces = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=64, blank=True, help_text='e.g. "access_request:12"')
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"], name="event_undispatched_idx", condition=models.Q(dispatched_at__isnull=True)
            ),
            models.Index(fields=["occurred_at"], name="event_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.uid}"


class SubscriptionFormat(models.TextChoices):
    JSON = "json", "JSON (signed)"
    SLACK = "slack", "Slack incoming webhook"
    # The system subscription made from GOVERNANCE_WEBHOOK_URL: the JSON envelope plus the fields
    # the access-request webhook sent before subscriptions existed, at the top level.
    LEGACY = "legacy", "JSON with the former webhook's fields"


class Subscription(models.Model):
    """Who wants to hear of which events, about what, and how: a webhook ``url`` (signed with
    ``secret``), e-mail, or both. Made by ``owner`` for themselves or for a ``group`` they belong to;
    narrowed to one ``dataset`` or a ``namespace``, else everything the owner may see. The one
    ``system`` subscription (no owner) is the operator's GOVERNANCE_WEBHOOK_URL."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="event_subscriptions",
    )
    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    events = models.JSONField(default=list, help_text='Names or patterns, e.g. ["access_request.*"].')
    dataset = models.ForeignKey(
        "catalog.Dataset", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    namespace = models.CharField(max_length=255, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    email = models.BooleanField(default=False)
    format = models.CharField(
        max_length=10, choices=SubscriptionFormat.choices, default=SubscriptionFormat.JSON
    )
    # Kept as given: each delivery is signed with it (HMAC needs the secret itself, not a hash).
    secret = models.CharField(max_length=500)
    active = models.BooleanField(default=True)
    system = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(system=True) | models.Q(owner__isnull=False), name="subscription_has_owner"
            ),
            models.CheckConstraint(
                condition=~models.Q(url="") | models.Q(email=True), name="subscription_has_channel"
            ),
            models.UniqueConstraint(
                fields=["system"], condition=models.Q(system=True), name="one_system_subscription"
            ),
        ]

    def __str__(self) -> str:
        return f"subscription {self.pk} to {', '.join(self.events)}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "E-mail"


class Delivery(models.Model):
    """One event to one subscription by one channel, and how it went (the delivery log).

    Due while pending or retrying and ``due_at`` has come. A worker claims it by moving ``due_at``
    a lease ahead and writing its ``claim_token``; if that worker dies, the delivery is due again when
    the lease is over (at least once). "Deliver again" is a new row (``redelivery_of``).
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)
    claim_token = models.CharField(max_length=32, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response = models.TextField(blank=True, help_text="The start of the receiver's last answer.")
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["due_at"],
                name="delivery_due_idx",
                condition=models.Q(status__in=["pending", "retrying"]),
            ),
            models.Index(fields=["subscription", "-id"], name="delivery_log_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


# ---------------------------------------------------------------------------------------------
# Erasures of a data subject's value (governance/erasures.py, docs/privacy.md)


class Erasure(models.Model):
    """One erasure of a data subject's value from what Gouvernail stored, and its report.

    The value itself is never kept, here or in the audit trail: ``value_digest`` is its HMAC under
    SECRET_KEY (catalog.redaction.value_digest), so that the same value asked again is recognised.
    ``report`` says where it was found and what was purged, by dataset and version, never quoting it.
    Staff, or users given ``governance.add_erasure`` (a privacy officer's role), make them.
    """

    value_digest = models.CharField(max_length=64, db_index=True)
    column = models.CharField(max_length=1024, blank=True, help_text="The column hint, if one was given.")
    delete_versions = models.BooleanField(default=False)
    report = models.JSONField(default=dict)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.created_at:%Y-%m-%d})"


# The MLflow sync's rows live in their own module (this one is near its size limit); importing them
# here registers them with the app.
from governance.mlflow_models import MlflowOrigin, MlflowSync, SyncStatus  # noqa: E402, F401

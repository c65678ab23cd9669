"""The demo's governance: Dan's access requests (one approved, one waiting) and a registered model."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError

from governance.access_requests import approve_access_request, create_access_request
from governance.models import AccessRequest, RegisteredModel
from governance.registry import register_model_version

MODELS = "mlflow://demo"


def load_governance(users: dict, datasets: dict, warn: Callable[[str], Any]) -> None:
    """Dan asks for the credit data (the steward approves) and the diabetes data (waiting for the
    owner's and a steward's approval), and registers a model trained on the credit data."""
    dan, sam = users["dan_scientist"], users["sam_steward"]
    credit = datasets["risk.credit_applications"].urn
    diabetes_urn = datasets["clinical.diabetes_progression"].urn
    if not AccessRequest.objects.filter(requester=dan).exists():
        approved = create_access_request(
            actor=dan,
            datasets=[credit],
            purpose="training",
            model_name="credit-risk",
            justification="Train the **credit-risk** scorecard v1; e-mails are dropped before training.",
            via="system",
        )
        approve_access_request(
            actor=sam, request=approved, comment="Approved for v1; e-mail column excluded.", via="system"
        )
        create_access_request(
            actor=dan,
            datasets=[diabetes_urn],
            purpose="training",
            model_name="readmission-risk",
            justification="Prototype a readmission-risk model on the diabetes cohort.",
            via="system",
        )
    if not RegisteredModel.objects.filter(namespace=MODELS, name="credit-risk").exists():
        try:
            register_model_version(
                actor=dan,
                namespace=MODELS,
                name="credit-risk",
                version="1",
                trained_on=[f"{credit}@1"],
                run_id="demo-credit-risk-1",
                via="system",
            )
        except ValidationError as exc:  # keep the rest of the demo when the card cannot be made
            warn(f"  model not registered: {exc}")

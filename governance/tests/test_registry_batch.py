"""Registering model versions together (registry.register_model_versions, as the MLflow sync does a
page): each is registered as register_model_version registers one; a refused one is refused alone
with the error register_model_version raises, and nothing of it is stored; the others are stored with
their training data, lineage, audit record and event."""

import pytest
from django.core.exceptions import ValidationError

from catalog.models import OutboxMessage
from config.errors import Conflict, NotAllowed
from governance import audit, events, registry
from governance.models import AuditRecord, Event, ModelVersion, RegisteredModel, Via
from governance.tests.conftest import credit_csv
from lineage.models import Edge, Node

pytestmark = pytest.mark.django_db


def _reg(name, version, trained_on, **extra) -> registry.Registration:
    return registry.Registration(namespace="ml", name=name, version=version, trained_on=trained_on, **extra)


def test_refused_versions_are_refused_alone_and_the_others_stored(requester, make_dataset, add_version):
    internal = make_dataset("internal", name="train/a.csv")
    add_version(internal, credit_csv(20))
    add_version(internal, credit_csv(30, seed=2))
    secret = make_dataset("confidential", name="train/b.csv")
    add_version(secret, credit_csv(20, seed=3))
    # A version registered before, whose card its owner wrote: the next versions carry it over.
    first = registry.register_model_version(
        actor=requester, namespace="ml", name="fraud", version="1", trained_on=[internal.urn]
    )
    registry.update_model_version(actor=requester, model_version=first, intended_use="Fraud triage.")
    messages = OutboxMessage.objects.filter(task=events.DELIVER_TASK).count()

    outcomes = registry.register_model_versions(
        [
            _reg("fraud", "2", [f"{internal.urn}@1"]),
            _reg("fraud", "3", ["dataset:s3://lake:ghost"]),  # unknown data
            _reg("churn", "1", [f"{secret.urn}@1"]),  # a new model, not cleared
            _reg("fraud", "2", [internal.urn]),  # the batch's own version 2 again
            _reg("fraud", "1", [internal.urn]),  # registered before
            _reg("fraud", "bad\nversion", [internal.urn]),
            _reg("fraud", "4", [f"{internal.urn}@9"]),  # no such version
            _reg("fraud", "5", [internal.urn]),  # the latest version, recorded
        ],
        actor=requester,
        via=Via.API,
    )

    kinds = [type(o) for o in outcomes]
    assert kinds == [
        ModelVersion,
        ValidationError,
        ModelVersion,
        Conflict,
        Conflict,
        ValidationError,
        ValidationError,
        ModelVersion,
    ]
    assert "Unknown dataset: dataset:s3://lake:ghost" in str(outcomes[1])
    assert f"{internal.urn}@9" in str(outcomes[6])
    fraud2, churn, fraud5 = outcomes[0], outcomes[2], outcomes[7]
    assert [str(i) for i in fraud5.inputs.all()] == [f"{internal.urn}@2"]
    assert fraud2.intended_use == fraud5.intended_use == "Fraud triage." and churn.intended_use == ""
    assert fraud2.cleared is True and churn.cleared is False
    assert churn.model.owner == requester and churn.clearance["datasets"][0]["allowed"] is False
    assert sorted(ModelVersion.objects.filter(model__name="fraud").values_list("version", flat=True)) == [
        "1",
        "2",
        "5",
    ]
    # Each stored one has its lineage, audit record and event; the refused ones nothing.
    for mv in (fraud2, churn, fraud5):
        assert mv.lineage_node and Node.objects.filter(key=mv.lineage_node).exists()
        assert AuditRecord.objects.filter(action="model.registered", object_id=str(mv.pk)).count() == 1
        assert Event.objects.filter(name="model.registered", subject=f"model:{mv.pk}").count() == 1
    assert Event.objects.filter(name="model.registered").count() == 4  # version 1 and these three
    assert OutboxMessage.objects.filter(task=events.DELIVER_TASK).count() == messages + 1
    assert audit.first_break() is None
    # The job's current edges are those of its latest run (version 5, the internal dataset).
    job = Node.objects.get(key="job:ml:train:fraud")
    assert Edge.objects.filter(dst=job.pk).count() == 1


def test_the_batch_raises_nothing_the_single_form_would_not(requester, outsider, make_dataset, add_version):
    ds = make_dataset("public")
    add_version(ds, credit_csv(10))
    registry.register_model_version(
        actor=requester, namespace="ml", name="mine", version="1", trained_on=[ds.urn]
    )
    [refused] = registry.register_model_versions([_reg("mine", "2", [ds.urn])], actor=outsider)
    assert isinstance(refused, NotAllowed)
    with pytest.raises(NotAllowed):
        registry.register_model_version(
            actor=outsider, namespace="ml", name="mine", version="2", trained_on=[ds.urn]
        )
    assert not ModelVersion.objects.filter(version="2").exists()


def test_owner_first_records_the_model_owners_clearance(requester, owner, make_dataset, add_version):
    """A sync names the MLflow creator; a model that has an owner here is cleared for its owner, and a
    new model is its first version's creator's."""
    ds = make_dataset("internal")
    add_version(ds, credit_csv(10))
    registry.register_model_version(
        actor=owner, namespace="ml", name="owned", version="1", trained_on=[ds.urn]
    )
    outcomes = registry.register_model_versions(
        [
            _reg("owned", "2", [ds.urn], principal=requester),
            _reg("fresh", "1", [ds.urn], principal=requester),
            _reg("fresh", "2", [ds.urn], principal=owner),
        ],
        actor=None,
        via=Via.MLFLOW,
        owner_first=True,
    )
    assert [o.clearance["principal"] for o in outcomes] == [
        owner.username,
        requester.username,
        requester.username,
    ]
    assert RegisteredModel.objects.get(name="fresh").owner == requester
